"""Depth metrics in metres (Eigen et al. 2014), from per-image sums that pool over any set of images.

Pure numpy. Depth metrics come from per-image sums (:func:`depth_sums`), so the same code gives one image's
figures and any pool of images' (:func:`metrics_from_sums`).

Depth, for the valid pixels ``i`` (``n`` of them) with prediction ``p_i`` and ground truth ``g_i``:

- ``abs_rel  = mean |p - g| / g``             - ``sq_rel = mean (p - g)^2 / g``
- ``rmse     = sqrt(mean (p - g)^2)``         - ``rmse_log = sqrt(mean (ln p - ln g)^2)``
- ``log10    = mean |log10 p - log10 g|``
- ``delta_k  = mean [max(p/g, g/p) < 1.25^k]`` for k = 1, 2, 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEPTH_METRICS: tuple[str, ...] = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "rmse_log",
    "log10",
    "delta1",
    "delta2",
    "delta3",
)
# Crops of 480x640 NYU frames, (row0, row1, col0, col1) half-open: Eigen et al.'s, and DenseDepth's
# ``eigen_test_crop`` (its evaluate.py).
CROPS_480x640: dict[str, tuple[int, int, int, int]] = {"eigen": (45, 471, 41, 601), "densedepth": (20, 460, 24, 616)}
# Per-image sufficient statistics of the depth metrics (sums over the valid pixels): any metric of one image or
# of a pool of images follows from their sum (:func:`metrics_from_sums`).
DEPTH_SUMS: tuple[str, ...] = (
    "n",
    "sum_abs_rel",
    "sum_sq_rel",
    "sum_sq",
    "sum_sq_log",
    "sum_abs_log10",
    "n_delta1",
    "n_delta2",
    "n_delta3",
)


def crop_window(shape: tuple[int, int], crop: str | Sequence[int]) -> tuple[int, int, int, int]:
    """The evaluation window ``(row0, row1, col0, col1)`` (half-open) of an (H, W) image.

    ``"eigen"``: rows 45:471, cols 41:601 at 480x640; ``"densedepth"``: rows 20:460, cols 24:616; for other
    sizes the same fractions of H and W, rounded to the nearest pixel (e.g. eigen 22:236, 20:300 at 240x320).
    ``"none"``: the whole image. A 4-sequence is taken as ``(row0, row1, col0, col1)`` as is.
    """
    h, w = shape
    if isinstance(crop, str):
        if crop == "none":
            return 0, h, 0, w
        if crop in CROPS_480x640:
            r0, r1, c0, c1 = CROPS_480x640[crop]
            return round(r0 * h / 480), round(r1 * h / 480), round(c0 * w / 640), round(c1 * w / 640)
        raise ValueError(
            f"crop must be one of {', '.join(CROPS_480x640)}, none or (row0, row1, col0, col1) (got {crop!r})"
        )
    window = tuple(int(v) for v in crop)
    if len(window) != 4:
        raise ValueError(f"crop must be 'eigen', 'none' or (row0, row1, col0, col1) (got {crop!r})")
    return window


def evaluation_mask(gt: np.ndarray, min_depth: float, max_depth: float, crop: str | Sequence[int]) -> np.ndarray:
    """(H,W) bool, the pixels a metric counts: ``gt`` finite, in (min_depth, max_depth], inside the crop."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    r0, r1, c0, c1 = crop_window(gt.shape, crop)
    window = np.zeros_like(valid)
    window[r0:r1, c0:c1] = True
    return valid & window


def depth_sums(
    pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float, crop: str | Sequence[int]
) -> dict[str, float]:
    """The :data:`DEPTH_SUMS` of one image, in float64 over the :func:`evaluation_mask` pixels.

    pred, gt: (H,W) metres; ``pred`` is clipped to [min_depth, max_depth]. Raises ValueError on a shape
    mismatch, when no pixel is valid, or when ``pred`` is not finite at a valid pixel (an undefined metric is an
    error, not a silent NaN in an average).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or gt.ndim != 2:
        raise ValueError(f"depth_metrics: pred {pred.shape} and gt {gt.shape} must be the same (H, W)")
    valid = evaluation_mask(gt, min_depth, max_depth, crop)
    if not valid.any():
        raise ValueError(
            f"depth_metrics: no valid ground-truth pixel (gt in ({min_depth}, {max_depth}] within crop {crop!r})"
        )
    p, g = pred[valid], gt[valid]
    if not np.isfinite(p).all():
        raise ValueError(f"depth_metrics: prediction is not finite at {int((~np.isfinite(p)).sum())} valid pixels")
    p = np.clip(p, min_depth, max_depth)
    err = p - g
    ratio = np.maximum(p / g, g / p)
    return {
        "n": float(g.size),
        "sum_abs_rel": float(np.sum(np.abs(err) / g)),
        "sum_sq_rel": float(np.sum(err**2 / g)),
        "sum_sq": float(np.sum(err**2)),
        "sum_sq_log": float(np.sum((np.log(p) - np.log(g)) ** 2)),
        "sum_abs_log10": float(np.sum(np.abs(np.log10(p) - np.log10(g)))),
        "n_delta1": float(np.sum(ratio < 1.25)),
        "n_delta2": float(np.sum(ratio < 1.25**2)),
        "n_delta3": float(np.sum(ratio < 1.25**3)),
    }


def metrics_from_sums(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The eight depth metrics (see the module docstring) from :data:`DEPTH_SUMS` of one image or a pool.

    Floats for scalar sums; for arrays of sums (one pool per element, e.g. bootstrap resamples) arrays of the
    same shape, element by element the same arithmetic.
    """
    n = np.asarray(sums["n"], dtype=np.float64)
    values = {
        "abs_rel": sums["sum_abs_rel"] / n,
        "sq_rel": sums["sum_sq_rel"] / n,
        "rmse": np.sqrt(sums["sum_sq"] / n),
        "rmse_log": np.sqrt(sums["sum_sq_log"] / n),
        "log10": sums["sum_abs_log10"] / n,
        "delta1": sums["n_delta1"] / n,
        "delta2": sums["n_delta2"] / n,
        "delta3": sums["n_delta3"] / n,
    }
    return {k: float(v) for k, v in values.items()} if n.ndim == 0 else values


def depth_metrics(
    pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float, crop: str | Sequence[int]
) -> dict[str, float]:
    """The eight depth metrics of one image, in metres (see :func:`depth_sums` for the pixels and errors)."""
    return metrics_from_sums(depth_sums(pred, gt, min_depth, max_depth, crop))
