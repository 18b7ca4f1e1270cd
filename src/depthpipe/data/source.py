"""The DVC download stage's one job: put a NYU-layout ``labeled.mat`` and a ``splits.mat`` in the stage's output.

``params.yaml`` ``data.source`` picks where they come from:

* ``synthetic`` (default): rendered by :func:`depthpipe.data.synthetic.write_synthetic` from
  ``data.synthetic`` (frames, seed, test_fraction), with label ids looked up in ``data.class_mapping``;
* ``nyu``: the official labeled file, downloaded resumably from ``data.nyu.url`` into ``data.nyu.cache_dir``
  (outside the DVC outputs, so an interrupted 2.8 GiB download resumes) and checked against
  ``data.nyu.size``/``sha256``; the split is ``data.splits_file``;
* ``file``: a NYU-layout labeled file already on disk (``data.file``), with ``data.splits_file``.

The verified NYU download is placed by hard link from the download cache (a copy where linking is
impossible, e.g. across file systems), so the 2.8 GiB file is not duplicated; a user's ``data.file`` is
copied, never linked (DVC may make its outputs read-only, which through a hard link would change the user's
file). Nothing ever writes into ``labeled.mat`` after it is placed. Every output is renamed into place only
when complete. Relative paths in the params are resolved against ``root``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from depthpipe.data.download import download
from depthpipe.data.meta import read_splits
from depthpipe.data.nyu_mat import NYULabeledFile
from depthpipe.data.synthetic import write_synthetic
from depthpipe.errors import DepthpipeError
from depthpipe.io import atomic_path, sha256_file
from depthpipe.params import require

SOURCES = ("synthetic", "nyu", "file")
LABELED_NAME, SPLITS_NAME = "labeled.mat", "splits.mat"


# ------------------------------------------------------------------------------------------------
# Param checks: one line each, naming the param
# ------------------------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    require(isinstance(value, Mapping), f"data.{key}", f"must be a mapping (got {value!r})")
    return value


def _path_param(data: Mapping[str, Any], key: str, root: Path, what: str) -> Path:
    """The existing file named by param ``data.<key>`` (resolved against ``root``)."""
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    require(isinstance(node, (str, os.PathLike)) and str(node) != "", f"data.{key}",
            f"must name {what} (got {node!r})")
    path = Path(node)
    path = path if path.is_absolute() else root / path
    require(path.is_file(), f"data.{key}", f"names {path}, which does not exist")
    return path


def _check_synthetic(data: Mapping[str, Any]) -> Mapping[str, Any]:
    syn = _section(data, "synthetic")
    frames, seed, frac = syn.get("frames"), syn.get("seed"), syn.get("test_fraction")
    require(_is_int(frames) and frames >= 2, "data.synthetic.frames", f"must be an integer >= 2 (got {frames!r})")
    require(frames <= 65535, "data.synthetic.frames", f"must be at most 65535 (got {frames!r})")
    require(_is_int(seed) and seed >= 0, "data.synthetic.seed", f"must be an integer >= 0 (got {seed!r})")
    require(_is_number(frac) and 0 < frac < 1, "data.synthetic.test_fraction",
            f"must be a number with 0 < test_fraction < 1 (got {frac!r})")
    workers = syn.get("workers", 1)
    require(_is_int(workers) and workers >= 1, "data.synthetic.workers", f"must be an integer >= 1 (got {workers!r})")
    return syn


def _check_nyu(data: Mapping[str, Any]) -> Mapping[str, Any]:
    nyu = _section(data, "nyu")
    url = nyu.get("url")
    require(isinstance(url, str) and urlparse(url).scheme in ("http", "https") and bool(urlparse(url).netloc),
            "data.nyu.url", f"must be an http(s) URL (got {url!r})")
    require(bool(Path(urlparse(url).path).name), "data.nyu.url", f"must end in a file name (got {url!r})")
    size, sha = nyu.get("size"), nyu.get("sha256")
    require(size is None or (_is_int(size) and size > 0), "data.nyu.size",
            f"must be a positive integer or null (got {size!r})")
    require(sha is None or (isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha) is not None),
            "data.nyu.sha256", f"must be 64 hex digits or null (got {sha!r})")
    cache = nyu.get("cache_dir")
    require(isinstance(cache, str) and cache != "", "data.nyu.cache_dir", f"must be a directory path (got {cache!r})")
    retries, backoff, timeout = nyu.get("retries", 5), nyu.get("backoff_s", 2.0), nyu.get("timeout_s", 60)
    require(_is_int(retries) and 0 <= retries <= 100, "data.nyu.retries", f"must be an integer in 0..100 (got {retries!r})")
    require(_is_number(backoff) and backoff >= 0, "data.nyu.backoff_s", f"must be a number >= 0 (got {backoff!r})")
    require(_is_number(timeout) and timeout > 0, "data.nyu.timeout_s", f"must be a number > 0 (got {timeout!r})")
    return nyu


# ------------------------------------------------------------------------------------------------
# Placing files
# ------------------------------------------------------------------------------------------------
def link_or_copy(src: Path, dst: Path) -> str:
    """Place ``src`` at ``dst`` atomically by hard link, or by copy where linking fails. Returns "link"/"copy"."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return "link"
    with atomic_path(dst) as tmp:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
            how = "link"
        except OSError:
            shutil.copyfile(src, tmp)
            how = "copy"
    return how


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _frame_count(path: Path) -> int:
    with NYULabeledFile(path) as f:
        return len(f)


def default_workers(frames: int) -> int:
    """Processes for rendering ``frames`` synthetic frames: the CPUs (at most 4) for 64 frames or more, else 1
    (starting a process costs about a second). The bytes written never depend on it."""
    return min(os.cpu_count() or 1, 4) if frames >= 64 else 1


# ------------------------------------------------------------------------------------------------
# The stage
# ------------------------------------------------------------------------------------------------
def materialise_source(data: Mapping[str, Any], root: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       *, workers: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Write ``out_dir/labeled.mat`` and ``out_dir/splits.mat`` from the ``data`` params; return a summary.

    ``data`` is the (recipe-merged) ``data`` section of ``params.yaml``; relative paths in it are resolved
    against ``root``. ``workers`` (synthetic only; default ``data.synthetic.workers`` if set, else
    :func:`default_workers`) never changes the bytes written. The summary (for ``out_dir/source.json``) holds
    ``source``, ``frames``, ``train``/``test`` sizes, the sha256 and size of both outputs and where they came
    from (``url``, ``file`` and ``splits_file`` as written in the params, or the ``synthetic`` settings); it
    depends only on the inputs, not on the machine or the paths.
    """
    require(isinstance(data, Mapping), "data", f"must be a mapping (got {type(data).__name__})")
    root, out = Path(root), Path(out_dir)
    source = data.get("source")
    if source not in SOURCES:
        raise DepthpipeError(f"params.yaml: data.source must be one of {', '.join(SOURCES)} (got {source!r})")
    labeled, splits = out / LABELED_NAME, out / SPLITS_NAME
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"source": source}

    if source == "synthetic":
        syn = _check_synthetic(data)
        mapping = _path_param(data, "class_mapping", root, "the class mapping file")
        n_workers = workers if workers is not None else syn.get("workers", default_workers(int(syn["frames"])))
        n_workers = int(n_workers)
        info = write_synthetic(labeled, splits, frames=int(syn["frames"]), seed=int(syn["seed"]),
                               test_fraction=float(syn["test_fraction"]), class_mapping=mapping,
                               workers=n_workers, progress=progress)
        summary["synthetic"] = {k: info[k] for k in ("seed", "test_fraction", "height", "width", "room_types")}
        labeled_sha = None
    else:
        split_src = _path_param(data, "splits_file", root, "the split file")
        if source == "nyu":
            nyu = _check_nyu(data)
            cache = Path(nyu["cache_dir"])
            cache = cache if cache.is_absolute() else root / cache
            name = Path(urlparse(nyu["url"]).path).name
            got = download(nyu["url"], cache / name, size=nyu.get("size"), sha256=nyu.get("sha256"),
                           cache_dir=cache, retries=int(nyu.get("retries", 5)),
                           backoff_s=float(nyu.get("backoff_s", 2.0)), timeout_s=float(nyu.get("timeout_s", 60)),
                           progress=progress)
            summary["url"] = nyu["url"]
            labeled_src = got
            labeled_sha = nyu["sha256"].lower() if nyu.get("sha256") else None  # verified by download()
        else:
            labeled_src = _path_param(data, "file", root, "a NYU-layout labeled .mat")
            summary["file"] = str(data["file"])  # as given in params.yaml: no machine-specific path
            labeled_sha = None
        n = _frame_count(labeled_src)  # checks the NYU layout; errors name the file
        read_splits(split_src, n)  # the split must fit the frames; errors name the split file
        if source == "nyu":
            link_or_copy(labeled_src, labeled)  # our own download cache: a hard link saves 3 GB
        else:
            _copy(labeled_src, labeled)  # never link a user's file: DVC's cache would make it read-only
        _copy(split_src, splits)
        summary["splits_file"] = str(data["splits_file"])

    n_frames = _frame_count(labeled)
    train, test = read_splits(splits, n_frames)
    summary.update({
        "frames": n_frames,
        "train": int(train.size),
        "test": int(test.size),
        "labeled_sha256": labeled_sha or sha256_file(labeled),
        "labeled_bytes": labeled.stat().st_size,
        "splits_sha256": sha256_file(splits),
    })
    return summary
