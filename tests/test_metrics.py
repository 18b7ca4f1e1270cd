"""Tests for depthpipe.metrics: depth metrics by hand, crop and validity, and segmentation scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from depthpipe.metrics import (
    DEPTH_METRICS,
    average_metrics,
    crop_window,
    depth_metrics,
    miou_from_confusion,
    pixel_accuracy_from_confusion,
    segmentation_confusion,
    valid_mask,
)

NYU = Path(__file__).resolve().parents[1].parent / "shared" / "nyu"


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


def test_average_metrics() -> None:
    avg = average_metrics([{"abs_rel": 0.1, "delta1": 1.0}, {"abs_rel": 0.3, "delta1": 0.0}])
    assert avg == pytest.approx({"abs_rel": 0.2, "delta1": 0.5})
    with pytest.raises(ValueError):
        average_metrics([])


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
    assert miou_from_confusion(conf) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert pixel_accuracy_from_confusion(conf) == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        segmentation_confusion(np.zeros_like(gt), gt, num_classes=4)  # void prediction at a labelled pixel
    with pytest.raises(ValueError):
        miou_from_confusion(np.zeros((4, 4)))


def test_real_frame_vs_shifted_copy_is_finite() -> None:
    path = NYU / "real-test10.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with np.load(path) as data:
        gt = data["depth_m"][0]
        labels = data["label40"][0]
    pred = np.roll(gt, 8, axis=1)
    m = depth_metrics(pred, gt)
    assert all(math.isfinite(v) for v in m.values())
    assert 0 < m["abs_rel"] < 1 and 0 < m["delta1"] < 1
    shifted = np.roll(labels, 8, axis=1).astype(np.int64)
    shifted[shifted == 0] = 1  # predictions are always a class
    conf = segmentation_confusion(shifted, labels, num_classes=40)
    assert 0 < miou_from_confusion(conf) < 1
    assert 0 < pixel_accuracy_from_confusion(conf) < 1
