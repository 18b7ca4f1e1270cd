"""Placing the raw-derived training sets: ``nyu_data.zip`` or the ``nyudepthv2`` tree in data/raw.

* ``nyu50k``: ``data.file`` (a ``nyu_data.zip`` you have) is copied to ``data/raw/nyu_data.zip``;
  without it ``data.nyu50k.url`` is downloaded resumably into ``data.nyu50k.cache_dir`` and hard-linked. With
  ``data.nyu_test.use``, DenseDepth's ``nyu_test.zip`` is placed beside it the same way (``data.nyu_test.file``,
  else ``data.nyu_test.url``), and the test split is read from it.
* ``nyu_h5_tree``: ``data.file`` (the ``nyudepthv2`` folder, or a ``.tar``/``.tar.gz`` of it) is copied or
  extracted to ``data/raw/nyudepthv2/``; without it the ``nyudepthv2.tar.gz`` of ``data.nyu_h5_tree.url``
  is downloaded and extracted. Only the tree's frames (``{train,val}/<scene>/<n>.h5``) are placed.

The data is opened with its reader before it is renamed into place (a CSV row naming a missing member, or a tree without
frames, stops the stage with nothing placed) and summarised: frames per split, the sha256 of what was placed (for the
tree: of its sorted file list with each file's sha256) and, for a download, the sha256 of what was fetched and whether
it was checked against a published value (``data.<source>.sha256``) or only recorded because none is published.
Everything is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from depthpipe.config import DataConfig, NYUDownload
from depthpipe.data.download.http import download_section
from depthpipe.data.sources.base import TEST, TRAIN
from depthpipe.data.sources.nyu50k import Nyu50kZip
from depthpipe.data.sources.nyu_h5_tree import SPLIT_FOLDERS, NyuH5Tree, tree_members
from depthpipe.data.sources.nyu_test_zip import NyuTestZip
from depthpipe.data.sources.raw_folder import RAW_NAMES, TEST_ZIP_NAME, open_raw
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_dir, copy_file, link_or_copy, sha256_file


def user_path(value: str, workspace: Path) -> Path:
    """The existing file or folder ``data.file`` names (relative paths against ``workspace``)."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else workspace / path
    if not path.exists():
        raise DepthpipeError(f"params.yaml: data.file names {path}, which does not exist")
    return path


def fetch(data: DataConfig, workspace: Path, progress: bool) -> tuple[Path, dict[str, Any]]:
    """Download ``data.<source>.url`` into its cache (resumably, checked when size/sha256 are given)."""
    return fetch_download(data.download_of(data.source), workspace, progress)


def fetch_download(dl: NYUDownload, workspace: Path, progress: bool) -> tuple[Path, dict[str, Any]]:
    """Download ``dl.url`` into ``dl.cache_dir`` (resumably, checked when size/sha256 are given)."""
    path = download_section(dl, workspace, progress)
    fetched = dl.sha256.lower() if dl.sha256 else sha256_file(path)
    return path, {"url": dl.url, "fetched_sha256": fetched, "sha256_published": dl.sha256 is not None}


def _tree_relative(name: str) -> str | None:
    """``train/<scene>/<n>.h5`` (or ``val/...``) for an archive member ending so, else None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or parts[-3] not in dict(SPLIT_FOLDERS) or not parts[-1].endswith(".h5"):
        return None
    if any(p in ("", ".", "..") for p in parts[-3:]):
        return None
    return "/".join(parts[-3:])


def refused_member(member: tarfile.TarInfo) -> str | None:
    """Why an archive member is refused (a ``..`` part, an absolute name, a symbolic or hard link), else None."""
    if member.name.startswith(("/", "\\")):
        return "an absolute name"
    if ".." in member.name.replace("\\", "/").split("/"):
        return "a '..' in its name"
    if member.issym():
        return f"a symbolic link (to '{member.linkname}')"
    if member.islnk():
        return f"a hard link (to '{member.linkname}')"
    return None


def extract_tree(archive: Path, dest: Path, progress: bool) -> None:
    """The tree's frames of a ``.tar``/``.tar.gz`` -> ``dest/{train,val}/<scene>/<n>.h5``, streamed.

    A member with an absolute name, a ``..`` part, or that is a link stops it with one line naming the member
    (nothing is placed): such an archive is not the tree it claims to be."""
    with atomic_dir(dest) as tmp:
        try:
            with (
                tarfile.open(archive, "r:*") as tar,
                tqdm(desc=f"extract {archive.name}", unit="file", disable=not progress) as bar,
            ):
                for member in tar:
                    why = refused_member(member)
                    if why is not None:
                        raise DepthpipeError(
                            f"{archive}: member '{member.name}' has {why}; refused (a nyudepthv2 archive holds "
                            "only folders and {train,val}/<scene>/<n>.h5 files)"
                        )
                    rel = _tree_relative(member.name)
                    if rel is None or not member.isfile():
                        continue
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    src_file = tar.extractfile(member)
                    assert src_file is not None, "a regular file always has content"
                    with src_file as src, open(tmp / rel, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    bar.update(1)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DepthpipeError(f"{archive}: not a readable tar archive, truncated or corrupt ({exc})") from None
        NyuH5Tree(tmp)  # the frames are there: checked before the folder is renamed into place


def copy_tree(src: Path, dest: Path, progress: bool) -> None:
    """The tree's frames of the folder ``src`` -> ``dest/{train,val}/<scene>/<n>.h5`` (copies, never links)."""
    tree = NyuH5Tree(src)  # a tree with frames in both splits, checked before anything is copied
    with atomic_dir(dest) as tmp:
        for rel in tqdm(tree.members, desc=f"copy {tree.path.name}", unit="file", disable=not progress):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tree.path / rel, tmp / rel)


def tree_sha256(root: Path, progress: bool) -> str:
    """sha256 of the lines ``<sha256 of the file>  <relative path>`` of the tree's files, in frame order."""
    digest = hashlib.sha256()
    for rel in tqdm(tree_members(root), desc=f"hash {root.name}", unit="file", disable=not progress):
        digest.update(f"{sha256_file(root / rel)}  {rel}\n".encode())
    return digest.hexdigest()


def _place(data: DataConfig, workspace: Path, dest: Path, progress: bool) -> dict[str, Any]:
    """Put the source's data at ``dest``; returns where it came from (and what was fetched)."""
    if data.given_file:
        src, origin = user_path(data.given_file, workspace), {"file": data.given_file}
    else:
        src, origin = fetch(data, workspace, progress)
    if data.source == "nyu50k":
        if src.is_dir():
            raise DepthpipeError(
                f"params.yaml: data.file names {src}, which is a directory; it must name a nyu_data.zip"
            )
        Nyu50kZip(src).close()  # its CSV lists and members, checked before anything is placed
        if data.given_file:
            copy_file(src, dest)  # never link a user's file: DVC's cache would make it read-only
        else:
            link_or_copy(src, dest)  # our own download cache: a hard link saves 4 GB
    elif src.is_dir():
        copy_tree(src, dest, progress)
    else:
        extract_tree(src, dest, progress)
    return origin


def place_test_zip(data: DataConfig, workspace: Path, dest: Path, progress: bool) -> dict[str, Any]:
    """Put DenseDepth's ``nyu_test.zip`` at ``dest`` (``data.nyu_test.file``, else downloaded from its url), checked
    by its reader first; returns where it came from, its frames, crop and sha256."""
    if data.given_test_file:
        src, origin = user_path(data.given_test_file, workspace), {"file": data.given_test_file}
        if src.is_dir():
            raise DepthpipeError(
                f"params.yaml: data.nyu_test.file names {src}, which is a directory; it must name a nyu_test.zip"
            )
    else:
        src, origin = fetch_download(data.nyu_test, workspace, progress)
    test = NyuTestZip(src)  # its members, dtypes and shapes, checked before anything is placed
    frames, crop = len(test), list(test.crop)
    test.close()
    if data.given_test_file:
        copy_file(src, dest)  # never link a user's file (see _place)
    else:
        link_or_copy(src, dest)
    sha = origin.get("fetched_sha256") or sha256_file(dest)
    return {**origin, "frames": frames, "crop": crop, "data_sha256": sha, "data_bytes": dest.stat().st_size}


def place_raw_source(data: DataConfig, workspace: Path, out: Path, progress: bool = True) -> dict[str, Any]:
    """Place ``data.source``'s data in ``out`` (``nyu_data.zip`` or ``nyudepthv2/``, and ``nyu_test.zip`` with
    ``data.nyu_test.use``); returns the summary."""
    dest = out / RAW_NAMES[data.source]
    summary: dict[str, Any] = {"source": data.source, **_place(data, workspace, dest, progress)}
    if data.source == "nyu50k" and data.nyu_test.use:
        summary["test_zip"] = place_test_zip(data, workspace, out / TEST_ZIP_NAME, progress)
    with open_raw(out, data.source) as frames:
        member = frames.membership()
    if dest.is_file():
        sha = summary.get("fetched_sha256") if "url" in summary else sha256_file(dest)
        size = dest.stat().st_size
    else:
        sha = tree_sha256(dest, progress)
        size = sum((dest / rel).stat().st_size for rel in tree_members(dest))
    summary.update(
        {
            "frames": len(member),
            "train": member.count(TRAIN),
            "test": member.count(TEST),
            "data_sha256": sha,
            "data_bytes": int(size),
        }
    )
    return summary
