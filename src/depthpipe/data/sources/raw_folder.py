"""What the download stage leaves in ``data/raw`` for each data source, and the frame source that reads it."""

from __future__ import annotations

import os
from pathlib import Path

from depthpipe.data.sources.base import FrameSource
from depthpipe.data.sources.nyu50k import Nyu50kZip
from depthpipe.data.sources.nyu_h5_tree import NyuH5Tree
from depthpipe.data.sources.nyu_mat import MatFrames
from depthpipe.data.sources.nyu_test_zip import Nyu50kWithTestZip, NyuTestZip
from depthpipe.errors import DepthpipeError

LABELED_NAME, SPLITS_NAME, SOURCE_JSON = "labeled.mat", "splits.mat", "source.json"
RAW_NAMES = {"nyu50k": "nyu_data.zip", "nyu_h5_tree": "nyudepthv2"}  # what data/raw holds per raw source
TEST_ZIP_NAME = "nyu_test.zip"  # DenseDepth's test set, beside nyu_data.zip when data.nyu_test.use is true


def open_raw(raw_dir: str | os.PathLike[str], source: str) -> FrameSource:
    """The frames the download stage put in ``raw_dir`` for data source ``source`` (``source.json``'s); for
    ``nyu50k`` with a ``nyu_test.zip`` beside it, the test split is that file's."""
    raw = Path(raw_dir)
    if source == "nyu50k":
        if (raw / TEST_ZIP_NAME).is_file():
            return Nyu50kWithTestZip(raw / RAW_NAMES[source], raw / TEST_ZIP_NAME)
        return Nyu50kZip(raw / RAW_NAMES[source])
    if source == "nyu_h5_tree":
        return NyuH5Tree(raw / RAW_NAMES[source])
    if source in ("synthetic", "nyu", "file"):
        return MatFrames(raw / LABELED_NAME, raw / SPLITS_NAME)
    raise DepthpipeError(f"{raw / SOURCE_JSON}: unknown data source {source!r} (rerun `dvc repro download`)")


def open_test_sets(raw_dir: str | os.PathLike[str], source: str) -> tuple[Nyu50kZip, NyuTestZip] | None:
    """``nyu_data.zip`` (its own test split included) and ``nyu_test.zip`` when ``raw_dir`` holds both, else None:
    the two test sets :mod:`depthpipe.data.validation.set_agreement` compares."""
    raw = Path(raw_dir)
    if source != "nyu50k" or not (raw / TEST_ZIP_NAME).is_file():
        return None
    return Nyu50kZip(raw / RAW_NAMES[source]), NyuTestZip(raw / TEST_ZIP_NAME)
