"""NYU metadata files: the official split (``splits.mat``) and the 40-class mapping
(``classMapping40.mat``, Gupta, Arbelaez and Malik, CVPR 2013)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import scipy.io as sio

from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path

NUM_CLASSES_40 = 40
SPLIT_KEYS = ("trainNdxs", "testNdxs")
MAT5_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: depthpipe"


def _loadmat(path: str | os.PathLike[str], what: str) -> dict:
    p = Path(path)
    if not p.exists():
        raise DepthpipeError(f"{p}: {what} not found")
    try:
        return sio.loadmat(p)
    except Exception as exc:  # noqa: BLE001 - scipy raises a zoo of types for corrupt files
        raise DepthpipeError(f"{p}: not a readable MATLAB {what} ({type(exc).__name__}: {exc})") from None


def read_splits(path: str | os.PathLike[str], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based train and test indices from a ``splits.mat`` (1-based ``trainNdxs``/``testNdxs``).

    Checks that every index is within ``1..n_frames`` and that no frame is in both splits.
    """
    mat = _loadmat(path, "split file")
    out = []
    for key in ("trainNdxs", "testNdxs"):
        if key not in mat:
            raise DepthpipeError(f"{path}: missing key '{key}' in split file")
        idx = np.asarray(mat[key]).astype(np.int64).ravel()
        if idx.size == 0:
            raise DepthpipeError(f"{path}: key '{key}' is empty")
        bad = idx[(idx < 1) | (idx > n_frames)]
        if bad.size:
            raise DepthpipeError(
                f"{path}: key '{key}' has index {int(bad[0])} outside 1..{n_frames} (the data has {n_frames} frames)"
            )
        if np.unique(idx).size != idx.size:
            raise DepthpipeError(f"{path}: key '{key}' lists a frame twice")
        out.append(idx - 1)
    both = np.intersect1d(out[0], out[1])
    if both.size:
        raise DepthpipeError(f"{path}: frame {int(both[0]) + 1} is in both trainNdxs and testNdxs")
    return out[0], out[1]


def split_membership(splits_path: str | os.PathLike[str], n_frames: int) -> list[str]:
    """``train``/``test``/``none``/``both`` for each of ``n_frames`` frames, from the raw 1-based indices.

    Unlike :func:`depthpipe.data.sources.metadata.read_splits` this does not reject a frame listed in both splits (the
    suite reports it, naming the frames); a missing key or an index outside ``1..n_frames`` raises.
    """
    path = Path(splits_path)
    if not path.exists():
        raise DepthpipeError(f"{path}: split file not found")
    try:
        mat = sio.loadmat(path, variable_names=list(SPLIT_KEYS))
    except Exception as exc:  # noqa: BLE001 - scipy raises a zoo of types for corrupt files
        raise DepthpipeError(f"{path}: not a readable MATLAB split file ({type(exc).__name__}: {exc})") from None
    member = np.zeros((2, n_frames), dtype=bool)
    for row, key in enumerate(SPLIT_KEYS):
        if key not in mat:
            raise DepthpipeError(f"{path}: missing key '{key}' in split file")
        raw = np.asarray(mat[key]).ravel()
        if raw.dtype.kind not in "uif" or (raw.dtype.kind == "f" and not np.all(raw == np.round(raw))):
            raise DepthpipeError(f"{path}: key '{key}' must hold integer frame indices, got dtype {raw.dtype}")
        idx = raw.astype(np.int64)
        bad = idx[(idx < 1) | (idx > n_frames)]
        if bad.size:
            raise DepthpipeError(
                f"{path}: key '{key}' has index {int(bad[0])} outside 1..{n_frames} (the data has {n_frames} frames)"
            )
        member[row, idx - 1] = True
    names = np.array(["none", "train", "test", "both"])
    return names[member[0].astype(np.int64) + 2 * member[1].astype(np.int64)].tolist()


def write_splits(path: str | os.PathLike[str], train0: np.ndarray, test0: np.ndarray) -> None:
    """Write a ``splits.mat``-compatible file (MATLAB 5, uint16 1-based column vectors), deterministically."""
    buf = io.BytesIO()
    sio.savemat(
        buf,
        {
            "trainNdxs": (np.asarray(train0) + 1).astype(np.uint16).reshape(-1, 1),
            "testNdxs": (np.asarray(test0) + 1).astype(np.uint16).reshape(-1, 1),
        },
        format="5",
    )
    data = bytearray(buf.getvalue())
    data[:116] = MAT5_HEADER.ljust(116, b" ")  # scipy stamps the creation time here
    with atomic_path(path) as tmp:
        tmp.write_bytes(bytes(data))


def load_class_mapping(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """``(lut, names40, names894)`` from ``classMapping40.mat``.

    ``lut`` is uint8 of length 895 with ``lut[0] = 0`` (void), so ``lut[labels]`` maps NYU ids 1..894 to
    40-class ids 1..40; ``names40[k-1]`` names class ``k``; ``names894[j-1]`` names NYU id ``j``.
    """
    mat = _loadmat(path, "class mapping")
    for key in ("mapClass", "className"):
        if key not in mat:
            raise DepthpipeError(f"{path}: missing key '{key}' in class mapping")
    mapping = np.asarray(mat["mapClass"]).ravel().astype(np.uint8)
    if mapping.min() < 1 or mapping.max() > NUM_CLASSES_40:
        raise DepthpipeError(f"{path}: 'mapClass' values must lie in 1..{NUM_CLASSES_40}")
    lut = np.insert(mapping, 0, 0).astype(np.uint8)
    names40 = [str(x[0]) if np.size(x) else "" for x in np.asarray(mat["className"]).ravel()]
    all_names = mat.get("allClassName")
    names894 = [str(x[0]) if np.size(x) else "" for x in np.asarray(all_names).ravel()] if all_names is not None else []
    return lut, names40, names894
