"""40-class segmentation scores from per-class pixel counts, which pool over frames like the depth sums.

Labels 0 = void (ignored), classes 1..C; ``conf[i, j]`` counts pixels of GT class i+1 predicted as j+1.
``IoU_c = conf[c,c] / (sum_j conf[c,j] + sum_i conf[i,c] - conf[c,c])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
        raise ValueError(f"segmentation_confusion: GT labels must be 0..{num_classes} (got {gt.min()}..{gt.max()})")
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
