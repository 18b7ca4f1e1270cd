"""A data source's files put in place: the folder ``data/raw`` that every later step reads.

``params.yaml`` ``data.source`` picks where they come from:

* ``synthetic`` (default): rendered by :func:`depthpipe.data.synthetic.write_synthetic` from
  ``data.synthetic`` (frames, seed, test_fraction), with label ids looked up in ``data.class_mapping``;
* ``nyu``: the official labeled file, downloaded resumably from ``data.nyu.url`` into ``data.nyu.cache_dir``
  (outside the DVC outputs, so an interrupted 2.8 GiB download resumes) and checked against
  ``data.nyu.size``/``sha256``; the split is ``data.splits_file``;
* ``file``: a NYU-layout labeled file already on disk (``data.file``), with ``data.splits_file``;
* ``nyu50k`` and ``nyu_h5_tree``: the raw-derived training sets (no labeled ``.mat``), placed by
  :mod:`depthpipe.data.download.raw`.

The verified NYU download is placed by hard link from the download cache (a copy where linking is
impossible, e.g. across file systems), so the 2.8 GiB file is not duplicated; a user's ``data.file`` is
copied, never linked (DVC may make its outputs read-only, which through a hard link would change the user's
file). Nothing ever writes into ``labeled.mat`` after it is placed. Every output is renamed into place only
when complete. Relative paths in the params are resolved against ``root``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from depthpipe.config import RAW_SOURCES, DataConfig
from depthpipe.data.download.http import download_section
from depthpipe.data.download.raw import place_raw_source
from depthpipe.data.sources.metadata import read_splits
from depthpipe.data.sources.nyu_mat import NYULabeledFile
from depthpipe.data.synthetic import write_synthetic
from depthpipe.errors import DepthpipeError
from depthpipe.files import copy_file, link_or_copy, sha256_file

LABELED_NAME, SPLITS_NAME = "labeled.mat", "splits.mat"


def _existing_file(value: str | None, key: str, workspace: Path, what: str) -> Path:
    """The existing file that param ``key`` names (relative paths against ``workspace``)."""
    if not value:
        raise DepthpipeError(f"params.yaml: {key} must name {what}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else workspace / path
    if path.is_dir():
        raise DepthpipeError(f"params.yaml: {key} names {path}, which is a directory; it must name {what}")
    if not path.is_file():
        raise DepthpipeError(f"params.yaml: {key} names {path}, which does not exist")
    return path


def _frame_count(path: Path) -> int:
    with NYULabeledFile(path) as f:
        return len(f)


def default_workers(frames: int) -> int:
    """Processes for rendering ``frames`` synthetic frames: the CPUs (at most 4) for 64 frames or more, else 1
    (starting a process costs about a second). The bytes written never depend on it."""
    return min(os.cpu_count() or 1, 4) if frames >= 64 else 1


def materialise_source(
    data: DataConfig,
    workspace: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``out_dir/labeled.mat`` and ``out_dir/splits.mat`` from the ``data`` section; return a summary.

    (For ``nyu50k`` and ``nyu_h5_tree``: ``out_dir/nyu_data.zip`` or ``out_dir/nyudepthv2/`` and the summary
    of :func:`depthpipe.data.download.raw.place_raw_source`.)

    Relative paths in ``data`` are resolved against ``workspace``. ``workers`` (synthetic only; default
    :func:`default_workers`) never changes the bytes written. The summary (for ``out_dir/source.json``) holds
    ``source``, ``frames``, ``train``/``test`` sizes, the sha256 and size of the data file (``data_sha256``,
    ``data_bytes``, as every source has them), the splits' sha256 and where they came
    from (``url``, ``file`` and ``splits_file`` as written in the params, or the ``synthetic`` settings); it
    depends only on the inputs, not on the machine or the paths.
    """
    workspace, out = Path(workspace), Path(out_dir)
    labeled, splits = out / LABELED_NAME, out / SPLITS_NAME
    out.mkdir(parents=True, exist_ok=True)
    if data.source in RAW_SOURCES:  # the raw-derived sets: see depthpipe.data.raw_source
        return place_raw_source(data, workspace, out, progress)
    summary: dict[str, Any] = {"source": data.source}
    if data.source == "synthetic":
        summary["synthetic"] = _render_synthetic(data, workspace, labeled, splits, workers, progress)
        labeled_sha = None
    else:
        labeled_sha = _place_labeled_file(data, workspace, labeled, splits, summary, progress)
    n_frames = _frame_count(labeled)
    train, test = read_splits(splits, n_frames)
    summary.update(
        {
            "frames": n_frames,
            "train": int(train.size),
            "test": int(test.size),
            "data_sha256": labeled_sha or sha256_file(labeled),
            "data_bytes": labeled.stat().st_size,
            "splits_sha256": sha256_file(splits),
        }
    )
    return summary


def _render_synthetic(
    data: DataConfig, workspace: Path, labeled: Path, splits: Path, workers: int | None, progress: bool
) -> dict[str, Any]:
    """Render the synthetic set into ``labeled``/``splits``; returns its settings for the summary."""
    syn = data.synthetic
    mapping = _existing_file(data.class_mapping, "data.class_mapping", workspace, "the class mapping file")
    info = write_synthetic(
        labeled,
        splits,
        frames=syn.frames,
        seed=syn.seed,
        test_fraction=syn.test_fraction,
        class_mapping=mapping,
        workers=workers or default_workers(syn.frames),
        progress=progress,
    )
    return {k: info[k] for k in ("seed", "test_fraction", "height", "width", "room_types")}


def _place_labeled_file(
    data: DataConfig, workspace: Path, labeled: Path, splits: Path, summary: dict[str, Any], progress: bool
) -> str | None:
    """Download (``nyu``) or copy (``file``) the labeled file and copy the split; returns a verified sha256."""
    split_src = _existing_file(data.splits_file, "data.splits_file", workspace, "the split file")
    labeled_sha = None
    if data.source == "nyu":
        nyu = data.nyu
        labeled_src = download_section(nyu, workspace, progress)
        summary["url"] = nyu.url
        labeled_sha = nyu.sha256.lower() if nyu.sha256 else None  # verified by download()
    else:
        labeled_src = _existing_file(data.file, "data.file", workspace, "a NYU-layout labeled .mat")
        summary["file"] = str(data.file)  # as given in params.yaml: no machine-specific path
    read_splits(split_src, _frame_count(labeled_src))  # checks the NYU layout and that the split fits it
    if data.source == "nyu":
        link_or_copy(labeled_src, labeled)  # our own download cache: a hard link saves 3 GB
    else:
        copy_file(labeled_src, labeled)  # never link a user's file: DVC's cache would make it read-only
    copy_file(split_src, splits)
    summary["splits_file"] = str(data.splits_file)
    return labeled_sha
