"""Test helpers that write small files in the two layouts of the raw-derived NYU set.

- :func:`write_nyu50k_zip`: a DenseDepth-style ``nyu_data.zip`` (train: JPEG + 8-bit depth PNG, 255 = 10 m;
  test: PNG + 16-bit millimetre PNG; the two CSV lists), with hooks for corrupt members.
- :func:`write_nyu_test_zip`: a DenseDepth-style ``nyu_test.zip`` (``eigen_test_{rgb,depth,crop}.npy``, real
  ``.npy`` members written by numpy), with hooks for a missing member, another dtype or shape, a cut member.
- :func:`write_h5_tree`: a sparse-to-dense ``nyudepthv2/{train,val}/<scene>/<n>.h5`` tree, and
  :func:`tar_tree` to pack it as the published ``.tar.gz``.
- Frames: :func:`real_test_frames` (real RGB and dense depth), :func:`real_raw_frames` (real RGB and sparse
  depth, 0 = no measurement), both vendored in ``tests/data/nyu``, and :func:`synthetic_frames`.

Every writer is deterministic: the same frames give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import h5py
import numpy as np

from depthpipe.data.codec import encode_jpeg, encode_png
from helpers import nyu
from helpers.nyu import small_frame

Frame = tuple[np.ndarray, np.ndarray]  # (H, W, 3) uint8 RGB, (H, W) float32 metres (0 = no measurement)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def real_test_frames(n: int | None = None) -> list[Frame]:
    """The first ``n`` (default: all) vendored real labeled test frames (dense depth)."""
    z = nyu.real_test_frames()
    return [(z["rgb"][i], z["depth_m"][i]) for i in range(len(z["rgb"]) if n is None else n)]


def real_raw_frames() -> list[Frame]:
    """The vendored real raw frames with sparse Kinect depth."""
    z = nyu.real_raw_frames()
    return [(z["rgb"][i], z["depth_m"][i]) for i in range(len(z["rgb"]))]


def synthetic_frames(n: int, h: int = 480, w: int = 640, first: int = 0) -> list[Frame]:
    """``n`` distinct synthetic frames (gradients, depth about 1..7 m) from :func:`helpers.nyu.small_frame`."""
    return [small_frame(first + i, h, w)[:2] for i in range(n)]


def depth_png8(depth: np.ndarray) -> bytes:
    """DenseDepth's train depth: 8-bit, ``255 = 10 m``, 0 where nothing was measured."""
    return encode_png(np.clip(np.rint(np.nan_to_num(depth) / 10.0 * 255), 0, 255).astype(np.uint8))


def depth_png16(depth: np.ndarray) -> bytes:
    """The test depth: 16-bit millimetres."""
    return encode_png(np.clip(np.rint(np.nan_to_num(depth) * 1000), 0, 65535).astype(np.uint16))


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".csv") else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_nyu50k_zip(
    path: str | os.PathLike[str],
    train: Sequence[Frame],
    test: Sequence[Frame],
    *,
    truncate_jpeg: Iterable[int] = (),
    test_depth_8bit: Iterable[int] = (),
    missing_rows: int = 0,
) -> Path:
    """A small ``nyu_data.zip``: train frame ``i`` as ``data/nyu2_train/scene_<i % 2>/<i>.jpg/.png``, test
    frame ``j`` as ``data/nyu2_test/<jjjjj>_colors.png/_depth.png``.

    ``truncate_jpeg``: train frames whose JPEG is cut in half; ``test_depth_8bit``: test frames whose depth is
    written as an 8-bit PNG; ``missing_rows``: extra train CSV rows naming members the archive lacks.
    """
    cut, eight = set(truncate_jpeg), set(test_depth_8bit)
    train_rows, test_rows = [], []
    with zipfile.ZipFile(path, "w") as zf:
        for i, (rgb, depth) in enumerate(train):
            stem = f"data/nyu2_train/scene_{i % 2}_out/{i}"
            jpeg = encode_jpeg(rgb, 90)
            _add(zf, f"{stem}.jpg", jpeg[: len(jpeg) // 2] if i in cut else jpeg)
            _add(zf, f"{stem}.png", depth_png8(depth))
            train_rows.append(f"{stem}.jpg,{stem}.png")
        for j, (rgb, depth) in enumerate(test):
            stem = f"data/nyu2_test/{j:05d}"
            _add(zf, f"{stem}_colors.png", encode_png(rgb))
            _add(zf, f"{stem}_depth.png", depth_png8(depth) if j in eight else depth_png16(depth))
            test_rows.append(f"{stem}_colors.png,{stem}_depth.png")
        train_rows += [f"data/nyu2_train/gone/{k}.jpg,data/nyu2_train/gone/{k}.png" for k in range(missing_rows)]
        _add(zf, "data/nyu2_train.csv", ("\n".join(train_rows) + "\n").encode())
        _add(zf, "data/nyu2_test.csv", ("\n".join(test_rows) + "\n").encode())
    return Path(path)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


DENSEDEPTH_CROP = (20, 459, 24, 615)  # eigen_test_crop: first/last row, first/last column, inclusive


def write_nyu_test_zip(
    path: str | os.PathLike[str],
    frames: Sequence[Frame],
    *,
    crop: Sequence[int] = DENSEDEPTH_CROP,
    leave_out: str | None = None,
    replace: dict[str, np.ndarray] | None = None,
    cut: str | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A small ``nyu_test.zip``: ``eigen_test_rgb.npy`` (N,H,W,3) uint8, ``eigen_test_depth.npy`` (N,H,W) float32
    metres and ``eigen_test_crop.npy``, from ``frames`` in order.

    ``leave_out``: a member not written; ``replace``: member -> the array written instead; ``cut``: a member whose
    bytes are cut in half (its header intact, frames missing).
    """
    arrays = {
        "eigen_test_rgb.npy": np.stack([rgb for rgb, _ in frames]).astype(np.uint8),
        "eigen_test_depth.npy": np.stack([depth for _, depth in frames]).astype(np.float32),
        "eigen_test_crop.npy": np.asarray(crop, dtype=np.int64),
        **(replace or {}),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            if name == leave_out:
                continue
            data = _npy(array)
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type, info.external_attr = compression, 0o644 << 16
            zf.writestr(info, data[: 128 + (len(data) - 128) // 2] if name == cut else data)
    return Path(path)


def write_h5_tree(
    root: str | os.PathLike[str],
    train: Sequence[Frame],
    test: Sequence[Frame],
    *,
    drop_depth: Iterable[tuple[str, int]] = (),
) -> Path:
    """A small ``root/nyudepthv2`` tree: train frame ``i`` as ``train/scene_<i % 2>/<i+1:05d>.h5``, test frame
    ``j`` as ``val/official/<j+1:05d>.h5``; ``drop_depth`` ({("train"|"val", i)}) leaves out ``depth``.
    Returns the ``nyudepthv2`` folder."""
    tree, drop = Path(root) / "nyudepthv2", set(drop_depth)
    for folder, frames in (("train", train), ("val", test)):
        for i, (rgb, depth) in enumerate(frames):
            scene = f"scene_{i % 2}" if folder == "train" else "official"
            path = tree / folder / scene / f"{i + 1:05d}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w", libver="earliest") as f:
                f.create_dataset("rgb", data=np.ascontiguousarray(rgb.transpose(2, 0, 1)), track_times=False)
                if (folder, i) not in drop:
                    f.create_dataset("depth", data=depth.astype(np.float32), track_times=False)
    return tree


def tar_tree(tree: Path, archive: str | os.PathLike[str]) -> Path:
    """Pack ``tree`` (a ``nyudepthv2`` folder) as a deterministic ``.tar.gz`` with ``nyudepthv2/`` on top."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(f"{tree.name}/{path.relative_to(tree).as_posix()}")
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    Path(archive).write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return Path(archive)
