"""Extracting the ``nyudepthv2`` tree from a tar: members that would be re-rooted or followed are refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from depthpipe.data.download.raw import extract_tree
from depthpipe.errors import DepthpipeError
from helpers.nyu50k import synthetic_frames, write_h5_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``nyudepthv2`` tree of .h5 frames: 2 train, 1 val (48x64)."""
    root = tmp_path_factory.mktemp("tree")
    return write_h5_tree(root, synthetic_frames(2, h=48, w=64), synthetic_frames(1, h=48, w=64, first=5))


def tar_with(tree: Path, archive: Path, odd: tarfile.TarInfo | None) -> Path:
    """``tree`` as ``nyudepthv2/...`` in a .tar.gz, with ``odd`` (a copy of the first frame, or a link) last."""
    frames = sorted(p for p in tree.rglob("*.h5"))
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in frames:
            tar.add(path, arcname=f"nyudepthv2/{path.relative_to(tree).as_posix()}")
        if odd is not None:
            data = frames[0].read_bytes()
            odd.size = 0 if odd.issym() or odd.islnk() else len(data)
            tar.addfile(odd, None if odd.size == 0 else io.BytesIO(data))
    return archive


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, 0o644, 0
    return info


def test_a_plain_tree_is_extracted(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "raw" / "nyudepthv2"
    extract_tree(tar_with(tree, tmp_path / "t.tar.gz", None), dest, progress=False)
    placed = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.h5"))
    assert placed == ["train/scene_0/00001.h5", "train/scene_1/00002.h5", "val/official/00001.h5"]


@pytest.mark.parametrize(
    ("odd", "says"),
    [
        (member("../../../x/train/scene_9/00001.h5"), "has a '..' in its name"),
        (member("nyudepthv2/train/../train/scene_9/00001.h5"), "has a '..' in its name"),
        (member("/abs/train/scene_9/00001.h5"), "has an absolute name"),
        (
            member("nyudepthv2/train/scene_9/00001.h5", tarfile.SYMTYPE, "/etc/passwd"),
            "has a symbolic link (to '/etc/passwd')",
        ),
        (
            member("nyudepthv2/train/scene_9/00001.h5", tarfile.LNKTYPE, "nyudepthv2/train/scene_0/00001.h5"),
            "has a hard link (to 'nyudepthv2/train/scene_0/00001.h5')",
        ),
    ],
    ids=["dotdot-prefix", "dotdot-inside", "absolute", "symlink", "hardlink"],
)
def test_odd_members_are_refused_naming_them(tree: Path, tmp_path: Path, odd: tarfile.TarInfo, says: str) -> None:
    """Each used to become a frame under data/raw/nyudepthv2 (re-rooted at its last three parts) silently."""
    archive = tar_with(tree, tmp_path / "odd.tar.gz", odd)
    dest = tmp_path / "raw" / "nyudepthv2"
    with pytest.raises(DepthpipeError) as exc:
        extract_tree(archive, dest, progress=False)
    text = str(exc.value)
    assert len(text.splitlines()) == 1 and text.startswith(f"{archive}: member '{odd.name}' {says}; refused")
    assert not dest.exists() and list((tmp_path / "raw").iterdir()) == []  # nothing placed, no temporary left
