"""Real NYU frames, and small NYU-layout labeled ``.mat`` files (and split files) for any test to reuse.

- :func:`real_test_frames` / :func:`real_raw_frames`: the real frames vendored in ``tests/data/nyu`` (its
  README says what they are and their licences).
- :func:`write_real_frames_nyu`: the real test frames in the NYU layout.
- :func:`write_small_nyu`: a tiny valid synthetic file, with hooks to inject NaN/inf/negative/far depth,
  holes, out-of-range labels, duplicate frames or any edit.
- :func:`write_simple_splits`: a ``splits.mat`` putting the last frames in ``testNdxs`` and the rest in
  ``trainNdxs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthpipe.config import PrepareConfig
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.sources.metadata import write_splits
from depthpipe.data.sources.nyu_mat import MatFrames, NYULabeledWriter
from helpers.paths import REPO

REAL_NYU = REPO / "tests" / "data" / "nyu"
N_NYU_LABELS = 894


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).copy()


def real_test_frames() -> dict[str, np.ndarray]:
    """The vendored real test frames: ``rgb`` (N,480,640,3) uint8, ``depth_m`` (N,480,640) float32 metres (dense),
    ``label40`` (N,480,640) uint8 and ``nyu_index_1based`` (N,), in the test split's order."""
    files = sorted(REAL_NYU.glob("test_*_rgb.png"))
    stems = [f.name[: -len("_rgb.png")] for f in files]
    return {
        "rgb": np.stack([_png(REAL_NYU / f"{s}_rgb.png") for s in stems]),
        "depth_m": np.stack([_png(REAL_NYU / f"{s}_depth_mm.png").astype(np.float32) / 1000 for s in stems]),
        "label40": np.stack([_png(REAL_NYU / f"{s}_label40.png") for s in stems]),
        "nyu_index_1based": np.array([int(s.split("_")[1]) for s in stems], dtype=np.int32),
    }


def real_raw_frames() -> dict[str, np.ndarray]:
    """The vendored raw frames: ``rgb`` (3,480,640,3) uint8 and sparse ``depth_m`` (3,480,640) float32 metres
    (0 = no measurement)."""
    files = sorted(REAL_NYU.glob("raw_*_rgb.png"))
    stems = [f.name[: -len("_rgb.png")] for f in files]
    return {
        "rgb": np.stack([_png(REAL_NYU / f"{s}_rgb.png") for s in stems]),
        "depth_m": np.stack([_png(REAL_NYU / f"{s}_depth_mm.png").astype(np.float32) / 1000 for s in stems]),
    }


def invert_lut(lut: np.ndarray) -> np.ndarray:
    """For each 40-class id ``k`` (index), the smallest NYU id ``j`` with ``lut[j] == k``; index 0 maps to 0.

    ``lut`` is the 895-long table of :func:`depthpipe.data.sources.metadata.load_class_mapping` (``lut[0] = 0``).
    """
    lut = np.asarray(lut).ravel()
    n_classes = int(lut.max())
    inverse = np.zeros(n_classes + 1, dtype=np.uint16)
    for k in range(1, n_classes + 1):
        ids = np.flatnonzero(lut[1:] == k) + 1
        if ids.size == 0:
            raise ValueError(f"class {k} has no NYU id in the mapping")
        inverse[k] = ids[0]
    return inverse


def write_real_frames_nyu(
    path: str | os.PathLike[str],
    lut: np.ndarray,
    names: Sequence[str] | None = None,
) -> None:
    """Write :func:`real_test_frames` as a NYU-layout labeled file (480x640).

    ``label40`` is turned back into NYU ids with :func:`invert_lut`, so ``lut[labels]`` recovers it.
    ``names`` are the 894 label names (default ``nyu1``..``nyu894``).
    """
    inverse = invert_lut(lut)
    names = list(names) if names is not None else [f"nyu{j}" for j in range(1, len(lut))]
    z = real_test_frames()
    rgb, depth, label40 = z["rgb"], z["depth_m"], z["label40"]
    n, h, w = depth.shape
    with NYULabeledWriter(path, n_frames=n, names=names, height=h, width=w) as out:
        for i in range(n):
            out.write(i, rgb[i], depth[i], inverse[label40[i]], scene=f"real_{i:04d}")


def small_frame(i: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A valid synthetic frame ``i``: distinct RGB gradients, depth in about [1, 9] m, labels 0..40."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack(
        [
            (xx * 255 / max(w - 1, 1) + 17 * i) % 256,
            (yy * 255 / max(h - 1, 1) + 31 * i) % 256,
            np.full_like(xx, (40 * i) % 256),
        ],
        axis=-1,
    ).astype(np.uint8)
    depth = (1.0 + 8.0 * (yy / max(h - 1, 1)) * 0.5 + 4.0 * (xx / max(w - 1, 1)) * 0.5 + 0.01 * i).astype(np.float32)
    label = ((xx // max(w // 8, 1)).astype(np.uint16) + 5 * (yy // max(h // 4, 1)).astype(np.uint16) + i) % 41
    return rgb, depth, label.astype(np.uint16)


def write_small_nyu(
    path: str | os.PathLike[str],
    n: int = 4,
    h: int = 480,
    w: int = 640,
    *,
    nan_frames: Iterable[int] = (),
    inf_frames: Iterable[int] = (),
    neg_frames: Iterable[int] = (),
    far_frames: Mapping[int, float] | Iterable[int] = (),
    hole_frames: Mapping[int, float] | Iterable[int] = (),
    labels: Mapping[int, int] | None = None,
    duplicates: Mapping[int, int] | None = None,
    edit: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> Path:
    """A tiny valid synthetic labeled file with ``n`` frames of ``h`` x ``w``; the hooks break chosen frames.

    - ``nan_frames`` / ``inf_frames`` / ``neg_frames``: frames given a block of NaN / +inf / -1 m depth
      (a 2x2 block in the top-left corner).
    - ``far_frames``: frames given a 2x2 block at 12 m (or ``{frame: metres}``).
    - ``hole_frames``: frames whose depth is zeroed (missing) over 80% of the rows (or ``{frame: fraction}``).
    - ``labels``: ``{frame: label id}`` puts that id (e.g. 900) in the frame's bottom-right pixel.
    - ``duplicates``: ``{frame: source}`` makes the frame a copy of ``source``'s RGB and depth.
    - ``edit(i, rgb, depth, label)``: any in-place change, applied last.
    Returns ``path``.
    """
    far = dict(far_frames) if isinstance(far_frames, Mapping) else {int(i): 12.0 for i in far_frames}
    holes = dict(hole_frames) if isinstance(hole_frames, Mapping) else {int(i): 0.8 for i in hole_frames}
    labels = dict(labels or {})
    duplicates = dict(duplicates or {})
    nan_set, inf_set, neg_set = set(nan_frames), set(inf_frames), set(neg_frames)
    names = [f"class{j}" for j in range(1, N_NYU_LABELS + 1)]
    with NYULabeledWriter(path, n_frames=n, names=names, height=h, width=w) as out:
        for i in range(n):
            rgb, depth, label = small_frame(duplicates.get(i, i), h, w)
            if i in duplicates:
                label = small_frame(i, h, w)[2]
            if i in nan_set:
                depth[:2, :2] = np.nan
            if i in inf_set:
                depth[:2, :2] = np.inf
            if i in neg_set:
                depth[:2, :2] = -1.0
            if i in far:
                depth[:2, :2] = far[i]
            if i in holes:
                depth[: int(round(holes[i] * h)), :] = 0.0
            if i in labels:
                label[-1, -1] = labels[i]
            if edit is not None:
                edit(i, rgb, depth, label)
            out.write(i, rgb, depth, label, scene=f"synthetic_{i:04d}")
    return Path(path)


def write_simple_splits(path: str | os.PathLike[str], n_frames: int, n_test: int = 1) -> Path:
    """A ``splits.mat``: the last ``n_test`` frames in ``testNdxs``, the others in ``trainNdxs``."""
    idx = np.arange(n_frames)
    write_splits(path, idx[: n_frames - n_test], idx[n_frames - n_test :])
    return Path(path)


def prepare_mat(
    mat: Path, splits: str | os.PathLike[str], mapping: Path, out_dir: Path, cfg: PrepareConfig, **kwargs: Any
) -> dict:
    """:func:`~depthpipe.data.prepared.build.prepare_source` on a NYU-layout labeled file and its split file
    (``kwargs``: ``source_sha256``, ``source``, ``progress``)."""
    with MatFrames(mat, splits) as frames:
        return prepare_source(frames, mapping, out_dir, cfg, **kwargs)
