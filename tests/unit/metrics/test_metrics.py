"""Tests for depthpipe.metrics: depth metrics by hand, crop and validity, and segmentation scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthpipe.metrics import depth as metrics
from depthpipe.metrics.depth import DEPTH_METRICS, DEPTH_SUMS, crop_window, depth_sums, metrics_from_sums
from depthpipe.metrics.segmentation import class_counts, segmentation_confusion, segmentation_from_counts
from helpers.nyu import real_test_frames


def depth_metrics(pred, gt, min_depth=1e-3, max_depth=10.0, crop="eigen"):
    """The library function with the evaluate stage's usual range and the Eigen crop."""
    return metrics.depth_metrics(pred, gt, min_depth, max_depth, crop)


def valid_mask(gt, crop):
    return metrics.evaluation_mask(gt, 1e-3, 10.0, crop)


def _gt(h: int = 480, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(1.0, 5.0, size=(h, w)).astype(np.float32)


def test_perfect_prediction() -> None:
    gt = _gt()
    m = depth_metrics(gt.copy(), gt)
    assert set(m) == set(DEPTH_METRICS)
    assert all(isinstance(v, float) for v in m.values())
    assert m["abs_rel"] == 0.0 and m["rmse"] == 0.0 and m["log10"] == 0.0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0


def test_constant_scale_errors_by_hand() -> None:
    gt = _gt()
    m = depth_metrics(1.1 * gt, gt)
    assert m["abs_rel"] == pytest.approx(0.1, rel=1e-5)
    assert m["rmse_log"] == pytest.approx(math.log(1.1), rel=1e-5)
    assert m["log10"] == pytest.approx(math.log10(1.1), rel=1e-5)
    assert m["delta1"] == 1.0
    valid = gt[45:471, 41:601].astype(np.float64)
    assert m["sq_rel"] == pytest.approx(float(np.mean(0.01 * valid)), rel=1e-4)  # (0.1 g)^2 / g
    assert m["rmse"] == pytest.approx(float(np.sqrt(np.mean((0.1 * valid) ** 2))), rel=1e-4)
    m = depth_metrics(1.3 * gt, gt)  # 1.25 < 1.3 < 1.5625
    assert m["delta1"] == 0.0 and m["delta2"] == 1.0 and m["delta3"] == 1.0
    m = depth_metrics(gt / 1.3, gt)  # symmetric in p/g, g/p
    assert m["delta1"] == 0.0 and m["delta2"] == 1.0


def test_crop_reduces_counted_pixels() -> None:
    gt = _gt()
    assert valid_mask(gt, crop="eigen").sum() == 426 * 560
    assert valid_mask(gt, crop="none").sum() == 480 * 640
    assert crop_window((240, 320), "eigen") == (22, 236, 20, 300)
    # An error only outside the crop is invisible with it, visible without.
    pred = gt.copy()
    pred[:40, :] *= 2.0
    assert depth_metrics(pred, gt, crop="eigen")["abs_rel"] == 0.0
    assert depth_metrics(pred, gt, crop="none")["abs_rel"] > 0.0
    assert depth_metrics(pred, gt, crop=(0, 10, 0, 10))["abs_rel"] == pytest.approx(1.0, rel=1e-6)


def test_invalid_gt_ignored() -> None:
    gt = _gt()
    pred = gt.copy()
    gt_bad = gt.copy()
    gt_bad[100:200, 100:200] = 0.0
    gt_bad[300:310, :] = np.nan
    gt_bad[320:330, :] = 12.0  # beyond max_depth
    pred[100:200, 100:200] = 7.0
    pred[300:310, :] = 3.0
    pred[320:330, :] = 3.0
    m = depth_metrics(pred, gt_bad)
    assert m["abs_rel"] == 0.0 and m["delta1"] == 1.0
    with pytest.raises(ValueError, match="no valid"):
        depth_metrics(pred, np.zeros_like(gt))


def test_prediction_is_clipped() -> None:
    gt = np.full((48, 64), 2.0)
    m = depth_metrics(np.full((48, 64), 100.0), gt, max_depth=10.0, crop="none")
    assert m["abs_rel"] == pytest.approx(4.0)  # pred clipped to 10 m


def test_pooled_sums_give_per_image_metrics_and_pool_exactly() -> None:
    gt = _gt()
    rng = np.random.default_rng(1)
    a, b = gt * rng.uniform(0.8, 1.25, gt.shape), gt * 1.3
    sa, sb = (depth_sums(p, gt, 1e-3, 10.0, "densedepth") for p in (a, b))
    assert set(sa) == set(DEPTH_SUMS) and sa["n"] == 440 * 592  # DenseDepth's crop: rows 20:460, cols 24:616
    assert metrics_from_sums(sa) == depth_metrics(a, gt, crop="densedepth")
    pooled = metrics_from_sums({k: sa[k] + sb[k] for k in DEPTH_SUMS})
    both = np.concatenate([a[20:460, 24:616].ravel(), b[20:460, 24:616].ravel()])
    g2 = np.concatenate([gt[20:460, 24:616].ravel()] * 2).astype(np.float64)
    assert pooled["abs_rel"] == pytest.approx(float(np.mean(np.abs(both - g2) / g2)), rel=1e-12)
    assert pooled["rmse"] == pytest.approx(float(np.sqrt(np.mean((both - g2) ** 2))), rel=1e-12)
    assert pooled["delta1"] == pytest.approx(float(np.mean(np.maximum(both / g2, g2 / both) < 1.25)), rel=1e-12)


def test_confusion_miou_pixel_accuracy_by_hand() -> None:
    gt = np.array([[1, 1, 2, 2], [3, 3, 0, 0]])
    pred = np.array([[1, 2, 2, 2], [3, 1, 3, 1]])
    conf = segmentation_confusion(pred, gt, num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = 1  # gt 1 -> 1
    expected[0, 1] = 1  # gt 1 -> 2
    expected[1, 1] = 2  # gt 2 -> 2
    expected[2, 2] = 1  # gt 3 -> 3
    expected[2, 0] = 1  # gt 3 -> 1; void gt pixels (predicted 3 and 1) are ignored
    np.testing.assert_array_equal(conf, expected)
    # IoU: class1 1/(2+2-1)=1/3, class2 2/(2+3-2)=2/3, class3 1/(2+1-1)=1/2, class4 absent (not averaged).
    counts = class_counts(conf)
    scores = segmentation_from_counts(counts["tp"], counts["gt"], counts["pred"])
    assert scores["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert scores["pixel_acc"] == pytest.approx(4 / 6)
    # counts of two frames pool: the same as one frame holding both
    twice = segmentation_from_counts(*(2 * counts[k] for k in ("tp", "gt", "pred")))
    assert twice == pytest.approx(scores)
    with pytest.raises(ValueError):
        segmentation_confusion(np.zeros_like(gt), gt, num_classes=4)  # void prediction at a labelled pixel
    with pytest.raises(ValueError):
        segmentation_from_counts(np.zeros(4), np.zeros(4), np.zeros(4))


def test_real_frame_vs_shifted_copy_is_finite() -> None:
    data = real_test_frames()
    gt, labels = data["depth_m"][0], data["label40"][0]
    pred = np.roll(gt, 8, axis=1)
    m = depth_metrics(pred, gt)
    assert all(math.isfinite(v) for v in m.values())
    assert 0 < m["abs_rel"] < 1 and 0 < m["delta1"] < 1
    shifted = np.roll(labels, 8, axis=1).astype(np.int64)
    shifted[shifted == 0] = 1  # predictions are always a class
    counts = class_counts(segmentation_confusion(shifted, labels, num_classes=40))
    scores = segmentation_from_counts(counts["tp"], counts["gt"], counts["pred"])
    assert 0 < scores["miou"] < 1 and 0 < scores["pixel_acc"] < 1
