"""Evaluation metrics: depth errors in metres (Eigen et al. 2014) and 40-class segmentation scores.

Pure numpy; every function takes one image (or one confusion matrix) and returns Python floats.

Depth, for the valid pixels ``i`` (``n`` of them) with prediction ``p_i`` and ground truth ``g_i``:

- ``abs_rel  = mean |p - g| / g``             - ``sq_rel = mean (p - g)^2 / g``
- ``rmse     = sqrt(mean (p - g)^2)``         - ``rmse_log = sqrt(mean (ln p - ln g)^2)``
- ``log10    = mean |log10 p - log10 g|``
- ``delta_k  = mean [max(p/g, g/p) < 1.25^k]`` for k = 1, 2, 3.

Segmentation: labels 0 = void (ignored), classes 1..C; ``conf[i, j]`` counts pixels of GT class i+1
predicted as j+1. ``IoU_c = conf[c,c] / (sum_j conf[c,j] + sum_i conf[i,c] - conf[c,c])``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

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
# Eigen et al.'s crop for 480x640 NYU frames: rows 45:471, cols 41:601 (half-open).
EIGEN_CROP_480x640: tuple[int, int, int, int] = (45, 471, 41, 601)


def crop_window(shape: tuple[int, int], crop: str | Sequence[int]) -> tuple[int, int, int, int]:
    """The evaluation window ``(row0, row1, col0, col1)`` (half-open) of an (H, W) image.

    ``"eigen"``: rows 45:471, cols 41:601 at 480x640; for other sizes the same fractions of H and W,
    rounded to the nearest pixel (e.g. 22:236, 20:300 at 240x320). ``"none"``: the whole image. A 4-sequence
    is taken as ``(row0, row1, col0, col1)`` as is.
    """
    h, w = shape
    if isinstance(crop, str):
        if crop == "none":
            return 0, h, 0, w
        if crop == "eigen":
            r0, r1, c0, c1 = EIGEN_CROP_480x640
            return round(r0 * h / 480), round(r1 * h / 480), round(c0 * w / 640), round(c1 * w / 640)
        raise ValueError(f"crop must be 'eigen', 'none' or (row0, row1, col0, col1) (got {crop!r})")
    window = tuple(int(v) for v in crop)
    if len(window) != 4:
        raise ValueError(f"crop must be 'eigen', 'none' or (row0, row1, col0, col1) (got {crop!r})")
    return window  # type: ignore[return-value]


def valid_mask(
    gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = 10.0, crop: str | Sequence[int] = "eigen"
) -> np.ndarray:
    """(H,W) bool: ``gt`` finite, in (min_depth, max_depth], and inside the crop window."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    r0, r1, c0, c1 = crop_window(gt.shape, crop)
    window = np.zeros_like(valid)
    window[r0:r1, c0:c1] = True
    return valid & window


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    min_depth: float = 1e-3,
    max_depth: float = 10.0,
    crop: str | Sequence[int] = "eigen",
) -> dict[str, float]:
    """The eight depth metrics of one image (see the module docstring), in metres.

    pred, gt: (H,W) metres. Valid pixels: :func:`valid_mask` (GT finite, in (min_depth, max_depth], inside
    ``crop``); ``pred`` is clipped to [min_depth, max_depth]. Computed in float64.
    Raises ValueError on a shape mismatch, when no pixel is valid, or when ``pred`` is not finite at a valid
    pixel (an undefined metric is an error, not a silent NaN in an average).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or gt.ndim != 2:
        raise ValueError(f"depth_metrics: pred {pred.shape} and gt {gt.shape} must be the same (H, W)")
    valid = valid_mask(gt, min_depth, max_depth, crop)
    if not valid.any():
        raise ValueError(
            f"depth_metrics: no valid ground-truth pixel (gt in ({min_depth}, {max_depth}] within crop {crop!r})"
        )
    p = pred[valid]
    g = gt[valid]
    if not np.isfinite(p).all():
        raise ValueError(f"depth_metrics: prediction is not finite at {int((~np.isfinite(p)).sum())} valid pixels")
    p = np.clip(p, min_depth, max_depth)
    err = p - g
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(err) / g)),
        "sq_rel": float(np.mean(err**2 / g)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def average_metrics(per_image: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean over images of each metric: ``{k: mean_i per_image[i][k]}``.

    All dicts must have the same keys; an empty list raises ValueError.
    """
    if not per_image:
        raise ValueError("average_metrics: no images")
    keys = list(per_image[0])
    for i, m in enumerate(per_image):
        if set(m) != set(keys):
            raise ValueError(f"average_metrics: image {i} has keys {sorted(m)}, expected {sorted(keys)}")
    return {k: float(np.mean([float(m[k]) for m in per_image])) for k in keys}


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


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """(C,) IoU of each class from a (C,C) confusion; NaN for classes absent from both GT and prediction."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(axis=1) + conf.sum(axis=0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def miou_from_confusion(conf: np.ndarray) -> float:
    """Mean IoU over the classes present in GT or prediction (union > 0). Empty confusion: ValueError."""
    iou = iou_per_class(conf)
    if np.all(np.isnan(iou)):
        raise ValueError("miou_from_confusion: the confusion matrix is empty (no labelled pixel)")
    return float(np.nanmean(iou))


def pixel_accuracy_from_confusion(conf: np.ndarray) -> float:
    """``trace(conf) / sum(conf)``: the fraction of labelled pixels predicted correctly. Empty: ValueError."""
    conf = np.asarray(conf, dtype=np.float64)
    total = conf.sum()
    if total <= 0:
        raise ValueError("pixel_accuracy_from_confusion: the confusion matrix is empty (no labelled pixel)")
    return float(np.trace(conf) / total)
