"""What the download stage leaves in ``data/raw`` for each data source, and the frame source that reads it."""

from __future__ import annotations

import os
from pathlib import Path

from depthpipe.data.sources.base import FrameSource
from depthpipe.data.sources.nyu50k_zip import Nyu50kZip
from depthpipe.data.sources.nyu_h5_tree import NyuH5Tree
from depthpipe.data.sources.nyu_mat import MatFrames
from depthpipe.errors import DepthpipeError

LABELED_NAME, SPLITS_NAME, SOURCE_JSON = "labeled.mat", "splits.mat", "source.json"
RAW_NAMES = {"nyu50k_zip": "nyu_data.zip", "nyu_h5_tree": "nyudepthv2"}  # what data/raw holds per raw source


def open_raw(raw_dir: str | os.PathLike[str], source: str) -> FrameSource:
    """The frames the download stage put in ``raw_dir`` for data source ``source`` (``source.json``'s)."""
    raw = Path(raw_dir)
    if source == "nyu50k_zip":
        return Nyu50kZip(raw / RAW_NAMES[source])
    if source == "nyu_h5_tree":
        return NyuH5Tree(raw / RAW_NAMES[source])
    if source in ("synthetic", "nyu", "file"):
        return MatFrames(raw / LABELED_NAME, raw / SPLITS_NAME)
    raise DepthpipeError(f"{raw / SOURCE_JSON}: unknown data source {source!r} (rerun `dvc repro download`)")
