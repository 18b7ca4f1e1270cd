"""The per-frame maths of the prepared format: one full-resolution frame -> the arrays a model trains on.

Validity, reciprocal targets (``prepare.target_resize``: ``area``, or ``densedepth`` as DenseDepth's data.py
makes them), area/bilinear resampling, label mapping and resizing, and :func:`frame_arrays`, which strings them
together. The prepare stage calls it when it writes the arrays layout, and the encoded
layout's reader calls it at load time on the decoded frame, so both layouts give the same arrays.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from skimage.transform import resize

from depthpipe.errors import DepthpipeError

DEPTH_KEYS = ("depth", "target", "mask")
TARGET_RESIZES = ("area", "densedepth")  # prepare.target_resize; "area" is the default
# skimage's resize as DenseDepth's data.py calls it (nyu_resize); order 1 is its default for float images
DENSEDEPTH_RESIZE = {"order": 1, "mode": "reflect", "anti_aliasing": True, "preserve_range": True}


def valid_depth(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Where a ground-truth depth is usable for training: finite, > 0 and <= ``max_depth``. (H, W) -> bool."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > 0) & (depth <= max_depth)


def reciprocal_target(depth: np.ndarray, valid: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """``max_depth / clip(depth, min_depth, max_depth)`` on valid pixels, 0 elsewhere (never inf or NaN).

    (H, W) float32 metres -> (H, W) float32 in [1, max_depth / min_depth] (0 where invalid).
    """
    safe = np.where(valid, depth, max_depth).astype(np.float32)
    out = np.float32(max_depth) / np.clip(safe, np.float32(min_depth), np.float32(max_depth))
    return np.where(valid, out, np.float32(0)).astype(np.float32)


def densedepth_target(depth: np.ndarray, valid: np.ndarray, max_depth: float, size: tuple[int, int]) -> np.ndarray:
    """The target as DenseDepth's data.py makes it: ``max_depth / depth`` at full resolution (its ``DepthNorm``,
    1000 / cm; no lower clip), then resized to ``size`` by skimage's ``resize`` with anti-aliasing and
    ``mode='reflect'`` (for a factor of 2: a Gaussian of sigma 0.5, then the 2x2 average), in float64.

    Invalid pixels (where DenseDepth's reciprocal would be inf) do not count: where any is present the result is
    ``resize(t * v) / resize(v)``; on a frame with none it is ``resize(t)`` itself. (H, W) float32 metres and
    bool -> ``size`` float32, 0 where no valid pixel contributes.
    """
    recip = np.where(valid, max_depth / np.where(valid, depth, 1.0).astype(np.float64), 0.0)
    if valid.all():
        return resize(recip, size, **DENSEDEPTH_RESIZE).astype(np.float32)
    num = resize(recip, size, **DENSEDEPTH_RESIZE)
    den = resize(valid.astype(np.float64), size, **DENSEDEPTH_RESIZE)
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0).astype(np.float32)


def _resample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area resampling for integer factors, anti-aliased bilinear otherwise. (H, W[, C]) float -> size."""
    h, w = img.shape[:2]
    if (h, w) == size:
        return img.astype(np.float32, copy=False)
    if h % size[0] == 0 and w % size[1] == 0:  # exact area average over fh x fw blocks
        fh, fw = h // size[0], w // size[1]
        blocks = img.astype(np.float32, copy=False).reshape(size[0], fh, size[1], fw, *img.shape[2:])
        return blocks.mean(axis=(1, 3), dtype=np.float32)
    return resize(img, size, order=1, mode="edge", anti_aliasing=True, preserve_range=True).astype(np.float32)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, area/bilinear."""
    if rgb.shape[:2] == size:
        return rgb
    return np.clip(np.rint(_resample(rgb.astype(np.float32), size)), 0, 255).astype(np.uint8)


def resize_depth(depth: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize depth using only valid pixels: ``resample(d * v) / resample(v)``.

    A pixel of the output is valid where at least half of its footprint was valid. Returns (depth, valid),
    (h, w) float32 metres (0 where invalid) and bool.
    """
    v = valid.astype(np.float32)
    num = _resample(np.where(valid, depth, 0).astype(np.float32), size)
    den = _resample(v, size)
    ok = den >= 0.5
    out = np.where(ok, num / np.maximum(den, 1e-6), 0).astype(np.float32)
    return out, ok


def resize_labels(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour label resize: (H, W) int -> (h, w) same dtype."""
    if label.shape == size:
        return label
    out = resize(label, size, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return out.astype(label.dtype)


def map_labels_40(label: np.ndarray, lut: np.ndarray, where: str) -> np.ndarray:
    """NYU ids (0..894) -> 40-class ids (0 void, 1..40) through the ``classMapping40`` lookup table."""
    top = int(label.max()) if label.size else 0
    if top >= lut.size:
        raise DepthpipeError(f"{where}: label {top} out of range 0..{lut.size - 1}")
    return lut[label]


def frame_arrays(
    rgb: np.ndarray | None,
    depth: np.ndarray | None,
    label40: np.ndarray | None,
    keys: Collection[str],
    input_size: tuple[int, int],
    output_size: tuple[int, int],
    min_depth: float,
    max_depth: float,
    target_resize: str = "area",
) -> dict[str, np.ndarray]:
    """The prepared arrays ``keys`` of one full-resolution frame (see :mod:`depthpipe.data.prepared.hdf5`).

    rgb (H,W,3) uint8, depth (H,W) float32 metres (anything not finite in (0, max_depth] is invalid), label40
    (H,W) uint8 40-class ids or None for a frame without labels (``label`` is then all void). Only what ``keys``
    needs is computed, so ``rgb`` or ``depth`` may be None when no key asks for them. ``target_resize``: ``area``
    (the valid depths averaged in metres, then :func:`reciprocal_target`) or ``densedepth``
    (:func:`densedepth_target`); ``depth`` and ``mask`` are the same under both.
    """
    out: dict[str, np.ndarray] = {}
    if "rgb" in keys:
        assert rgb is not None, "rgb asked for without an image"
        out["rgb"] = resize_rgb(rgb, input_size)
    if any(k in keys for k in (*DEPTH_KEYS, "depth_full")):
        assert depth is not None, "depth asked for without a depth map"
        valid = valid_depth(depth, max_depth)
        if any(k in keys for k in DEPTH_KEYS):
            depth_o, valid_o = resize_depth(depth, valid, output_size)
            out["depth"] = depth_o
            if target_resize == "densedepth":
                target = densedepth_target(depth, valid, max_depth, output_size)
                out["target"] = np.where(valid_o, target, np.float32(0)).astype(np.float32)
            else:
                out["target"] = reciprocal_target(depth_o, valid_o, min_depth, max_depth)
            out["mask"] = valid_o.astype(np.uint8)
        if "depth_full" in keys:
            out["depth_full"] = np.where(valid, depth, 0).astype(np.float32)
    if "label" in keys:
        out["label"] = np.zeros(output_size, np.uint8) if label40 is None else resize_labels(label40, output_size)
    if "label_full" in keys and label40 is not None:
        out["label_full"] = label40
    return {k: out[k] for k in keys if k in out}
