"""Evaluation metrics: depth errors in metres (Eigen et al. 2014) and 40-class segmentation scores.

Pure numpy. Depth metrics come from per-image sums (:func:`depth_sums`), so the same code gives one image's
figures and any pool of images' (:func:`metrics_from_sums`); segmentation scores come from per-class counts
(:func:`class_counts`), which pool the same way.

Depth, for the valid pixels ``i`` (``n`` of them) with prediction ``p_i`` and ground truth ``g_i``:

- ``abs_rel  = mean |p - g| / g``             - ``sq_rel = mean (p - g)^2 / g``
- ``rmse     = sqrt(mean (p - g)^2)``         - ``rmse_log = sqrt(mean (ln p - ln g)^2)``
- ``log10    = mean |log10 p - log10 g|``
- ``delta_k  = mean [max(p/g, g/p) < 1.25^k]`` for k = 1, 2, 3.

Segmentation: labels 0 = void (ignored), classes 1..C; ``conf[i, j]`` counts pixels of GT class i+1
predicted as j+1. ``IoU_c = conf[c,c] / (sum_j conf[c,j] + sum_i conf[i,c] - conf[c,c])``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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
    "n", "sum_abs_rel", "sum_sq_rel", "sum_sq", "sum_sq_log", "sum_abs_log10", "n_delta1", "n_delta2", "n_delta3",
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
        raise ValueError(f"crop must be one of {', '.join(CROPS_480x640)}, none or (row0, row1, col0, col1) "
                         f"(got {crop!r})")
    window = tuple(int(v) for v in crop)
    if len(window) != 4:
        raise ValueError(f"crop must be 'eigen', 'none' or (row0, row1, col0, col1) (got {crop!r})")
    return window  # type: ignore[return-value]


def evaluation_mask(gt: np.ndarray, min_depth: float, max_depth: float, crop: str | Sequence[int]) -> np.ndarray:
    """(H,W) bool, the pixels a metric counts: ``gt`` finite, in (min_depth, max_depth], inside the crop."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    r0, r1, c0, c1 = crop_window(gt.shape, crop)
    window = np.zeros_like(valid)
    window[r0:r1, c0:c1] = True
    return valid & window


def depth_sums(pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float,
               crop: str | Sequence[int]) -> dict[str, float]:
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
        "n": float(g.size), "sum_abs_rel": float(np.sum(np.abs(err) / g)), "sum_sq_rel": float(np.sum(err**2 / g)),
        "sum_sq": float(np.sum(err**2)), "sum_sq_log": float(np.sum((np.log(p) - np.log(g)) ** 2)),
        "sum_abs_log10": float(np.sum(np.abs(np.log10(p) - np.log10(g)))),
        "n_delta1": float(np.sum(ratio < 1.25)), "n_delta2": float(np.sum(ratio < 1.25**2)),
        "n_delta3": float(np.sum(ratio < 1.25**3)),
    }


def metrics_from_sums(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The eight depth metrics (see the module docstring) from :data:`DEPTH_SUMS` of one image or a pool.

    Floats for scalar sums; for arrays of sums (one pool per element, e.g. bootstrap resamples) arrays of the
    same shape, element by element the same arithmetic.
    """
    n = np.asarray(sums["n"], dtype=np.float64)
    values = {
        "abs_rel": sums["sum_abs_rel"] / n, "sq_rel": sums["sum_sq_rel"] / n, "rmse": np.sqrt(sums["sum_sq"] / n),
        "rmse_log": np.sqrt(sums["sum_sq_log"] / n), "log10": sums["sum_abs_log10"] / n,
        "delta1": sums["n_delta1"] / n, "delta2": sums["n_delta2"] / n, "delta3": sums["n_delta3"] / n,
    }
    return {k: float(v) for k, v in values.items()} if n.ndim == 0 else values


def depth_metrics(pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float,
                  crop: str | Sequence[int]) -> dict[str, float]:
    """The eight depth metrics of one image, in metres (see :func:`depth_sums` for the pixels and errors)."""
    return metrics_from_sums(depth_sums(pred, gt, min_depth, max_depth, crop))


def segmentation_confusion(pred_labels: np.ndarray, gt_labels: np.ndarray, num_classes: int = 40) -> np.ndarray:
    """(C,C) int64 confusion: ``conf[i, j]`` = pixels with GT class i+1 and predicted class j+1.

    pred_labels, gt_labels: same-shape integer arrays, 0 = void, 1..C. Pixels with void GT are ignored.
    Raises ValueError if a GT label exceeds C or a prediction at a non-void pixel is outside 1..C.
    """
    pred = np.asarray(pred_labels).astype(np.int64, copy=False).ravel()
    gt = np.asarray(gt_labels).astype(np.int64, copy=False).ravel()
    if np.shape(pred_labels) != np.shape(gt_labels):
        raise ValueError(
            f"segmentation_confusion: pred {np.shape(pred_labels)} and gt {np.shape(gt_labels)} differ in shape"
        )
    keep = gt != 0
    gt, pred = gt[keep], pred[keep]
    if gt.size and (gt.min() < 0 or gt.max() > num_classes):
        raise ValueError(
            f"segmentation_confusion: GT labels must be 0..{num_classes} (got {gt.min()}..{gt.max()})"
        )
    if pred.size and (pred.min() < 1 or pred.max() > num_classes):
        raise ValueError(
            f"segmentation_confusion: predictions at labelled pixels must be 1..{num_classes} "
            f"(got {pred.min()}..{pred.max()})"
        )
    flat = (gt - 1) * num_classes + (pred - 1)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_counts(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Per class (index c = class c+1): ``tp`` correct pixels, ``gt`` labelled pixels, ``pred`` predicted pixels
    (at labelled pixels). Summed over frames, they give the pooled mIoU and pixel accuracy."""
    conf = np.asarray(conf, dtype=np.int64)
    return {"tp": np.diag(conf).copy(), "gt": conf.sum(axis=1), "pred": conf.sum(axis=0)}


def segmentation_from_counts(tp: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """``miou`` (the mean IoU ``tp / (gt + pred - tp)`` over the classes present in GT or prediction) and
    ``pixel_acc`` (``sum tp / sum gt``) from :func:`class_counts` summed over any set of frames.

    Counts (C,) give floats; counts (..., C) (one pool per leading index, e.g. bootstrap resamples) give arrays
    of the leading shape.
    """
    tp, gt, pred = (np.asarray(a, dtype=np.float64) for a in (tp, gt, pred))
    union = gt + pred - tp
    if (union.sum(axis=-1) <= 0).any():
        raise ValueError("segmentation_from_counts: no labelled pixel")
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    pixel_acc = tp.sum(axis=-1) / gt.sum(axis=-1)
    if tp.ndim == 1:  # the mean over the present classes alone (bit for bit what the metrics files have held)
        return {"miou": float(np.mean(iou[present])), "pixel_acc": float(pixel_acc)}
    return {"miou": iou.sum(axis=-1) / present.sum(axis=-1), "pixel_acc": pixel_acc}
