"""The sparse-to-dense / FastDepth ``nyudepthv2`` tree read in place: ``{train,val}/<scene>/<n>.h5``.

Each file holds ``rgb`` (3, 480, 640) uint8 and ``depth`` (480, 640) float32 metres (47,584 train and 654
val frames in the published tree). ``train/`` is the train split and ``val/`` the test split (it is the
official 654 test frames). The frame list is every ``train/*/*.h5`` then every ``val/*/*.h5``, sorted by
scene and then by the number in the file name, so it does not depend on the order the file system lists
them in. The tree may be given as the ``nyudepthv2`` folder or as the folder holding it. A file that is not
HDF5, lacks ``rgb`` or ``depth``, or holds them in another shape is a one-line error naming the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from depthpipe.data.sources.base import TEST, TRAIN, FrameSource, SourceFrame
from depthpipe.errors import DepthpipeError

SPLIT_FOLDERS = (("train", TRAIN), ("val", TEST))
TREE_NAME = "nyudepthv2"
MEMBER = re.compile(r"^(train|val)/[^/]+/[^/]+\.h5$")  # the files of the tree, relative to its root


def natural_key(relative: str) -> tuple:
    """Sort key of ``split/scene/00012.h5``: scene, then the file name's number (then the name)."""
    _, scene, name = relative.split("/")
    stem = name[: -len(".h5")]
    return scene, (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def tree_members(root: Path) -> list[str]:
    """The tree's ``train/...`` then ``val/...`` .h5 files relative to ``root``, in frame order."""
    found: dict[str, list[str]] = {folder: [] for folder, _ in SPLIT_FOLDERS}
    for folder, _ in SPLIT_FOLDERS:
        for path in (root / folder).glob("*/*.h5"):
            found[folder].append(path.relative_to(root).as_posix())
    return [m for folder, _ in SPLIT_FOLDERS for m in sorted(found[folder], key=natural_key)]


def tree_root(path: Path) -> Path:
    """``path`` if it holds ``train/`` and ``val/``, else its ``nyudepthv2/`` folder if that does."""
    if not path.is_dir():
        raise DepthpipeError(f"{path}: not a folder (the {TREE_NAME} tree is a folder with train/ and val/)")
    if not (path / "train").is_dir() and (path / TREE_NAME).is_dir():
        path = path / TREE_NAME
    for folder, _ in SPLIT_FOLDERS:
        if not (path / folder).is_dir():
            raise DepthpipeError(
                f"{path}: missing folder '{folder}/' (the {TREE_NAME} tree holds "
                f"train/<scene>/<n>.h5 and val/<scene>/<n>.h5)"
            )
    return path


class NyuH5Tree(FrameSource):
    """The frames of a ``nyudepthv2`` tree; see the module docstring."""

    kind, has_labels = "nyu_h5_tree", False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(tree_root(Path(path)))
        self.members = tree_members(self.path)
        self.splits = [dict(SPLIT_FOLDERS)[m.split("/", 1)[0]] for m in self.members]
        for split in (TRAIN, TEST):
            if split not in self.splits:
                folder = "train" if split == TRAIN else "val"
                raise DepthpipeError(f"{self.path}: no .h5 frames under {folder}/<scene>/")

    def __len__(self) -> int:
        return len(self.members)

    def membership(self) -> list[str]:
        return list(self.splits)

    def scene(self, i: int) -> str:
        return self.members[i].split("/")[1]

    def frame(self, i: int) -> SourceFrame:
        where = f"{self.path.name}/{self.members[i]}"
        try:
            f = h5py.File(self.path / self.members[i], "r")
        except OSError as exc:
            reason = str(exc).split("(")[0].strip() or "unreadable"
            raise DepthpipeError(f"{where}: not a readable HDF5 file, truncated or corrupt ({reason})") from None
        with f:
            for key in ("rgb", "depth"):
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise DepthpipeError(
                        f"{where}: missing dataset '{key}' (each frame holds rgb (3, H, W) uint8 "
                        f"and depth (H, W) float32 metres)"
                    )
            try:
                rgb, depth = np.asarray(f["rgb"][()]), np.asarray(f["depth"][()])
            except (OSError, RuntimeError, ValueError) as exc:
                raise DepthpipeError(f"{where}: cannot read ({str(exc).splitlines()[0]})") from None
        if rgb.ndim != 3 or rgb.shape[0] != 3 or rgb.dtype != np.uint8:
            raise DepthpipeError(f"{where}: 'rgb' is {rgb.shape} {rgb.dtype}, expected (3, H, W) uint8")
        if depth.shape != rgb.shape[1:] or depth.dtype.kind != "f":
            raise DepthpipeError(f"{where}: 'depth' is {depth.shape} {depth.dtype}, expected {rgb.shape[1:]} float")
        return SourceFrame(i, where, np.ascontiguousarray(rgb.transpose(1, 2, 0)), depth.astype(np.float32), None)
