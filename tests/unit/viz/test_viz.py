"""The pictures: one depth colour convention with a robust per-frame range, one error scale per grid, colour bars
with units, class legends of exactly the classes present, labelled charts, and the same PNG bytes every time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure

from depthpipe.data.sources.metadata import load_class_mapping
from depthpipe.viz.charts import error_by_depth_figure, history_figure, plot_error_by_depth, plot_history
from depthpipe.viz.maps import grid_figure, prediction_grid, preview_figure
from depthpipe.viz.style import (
    DEPTH,
    ERROR,
    UNLABELLED,
    add_label_legend,
    depth_range,
    error_range,
    new_figure,
    show_labels,
)
from helpers.paths import REPO

CLASS_MAPPING = REPO / "data" / "classMapping40.mat"
H, W = 24, 32


@pytest.fixture(scope="module")
def names40() -> list[str]:
    return load_class_mapping(CLASS_MAPPING)[1]


def room(near: float, far: float) -> np.ndarray:
    """(H,W) depth ramping from ``near`` (left) to ``far`` (right) metres."""
    return np.tile(np.linspace(near, far, W, dtype=np.float32), (H, 1))


def frames(n: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    gt = np.stack([room(1.0 + i, 5.0 + 2 * i) for i in range(n)])
    pred = gt + rng.normal(0, 0.2, gt.shape).astype(np.float32)
    return rgb, gt, pred


def colorbars(fig: Figure) -> list[Colorbar]:
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def colorbar_label(bar: Colorbar) -> str:
    return bar.ax.get_ylabel() or bar.ax.get_xlabel()


def rgb_of(image, metres: float) -> np.ndarray:
    """The colour ``image`` (an AxesImage) gives a pixel of ``metres``."""
    return np.asarray(image.to_rgba(np.array([metres])))[0, :3]


def test_robust_range_spreads_a_1_to_5_m_room_over_the_colormap() -> None:
    rgb, gt, pred = frames(1)
    lo, hi = depth_range(gt[0])
    assert lo == pytest.approx(np.percentile(gt[0], 2)) and hi == pytest.approx(np.percentile(gt[0], 98))
    fig = grid_figure(rgb, gt, pred)
    gt_image, pred_image = fig.axes[1].images[0], fig.axes[2].images[0]
    assert np.linalg.norm(rgb_of(gt_image, 1.0) - rgb_of(gt_image, 5.0)) > 1.0  # near and far: far apart
    assert pred_image.get_clim() == gt_image.get_clim() == (lo, hi)  # prediction on its ground truth's range
    assert DEPTH.label == "depth (m), near = light"
    assert rgb_of(gt_image, 1.0).mean() > rgb_of(gt_image, 5.0).mean()  # near is the light end
    fixed = grid_figure(rgb, gt, pred, fixed=(0.0, 10.0)).axes[1].images[0]
    assert fixed.get_clim() == (0.0, 10.0)


def test_range_ignores_invalid_pixels_and_never_collapses() -> None:
    gt = room(2.0, 3.0)
    gt[:, :5] = 0.0
    gt[0, 5] = np.nan
    assert depth_range(gt)[0] >= 2.0
    flat = depth_range(np.full((4, 4), 2.5))
    assert flat[1] - flat[0] == pytest.approx(0.1) and flat[0] < 2.5 < flat[1]


def test_one_error_scale_for_every_row_of_a_grid() -> None:
    rgb, gt, pred = frames(3)
    pred[2] += 1.5  # one frame much worse than the others
    fig = grid_figure(rgb, gt, pred)
    error_axes = [ax for ax in fig.axes if ax.get_subplotspec() and ax.get_subplotspec().colspan.start == 3]
    clims = {ax.images[0].get_clim() for ax in error_axes}
    assert len(error_axes) == 3 and len(clims) == 1
    expected = error_range([np.abs(pred[i] - gt[i]) for i in range(3)])
    (clim,) = clims
    assert clim == pytest.approx(expected) and expected[0] == 0.0 and expected[1] > 1.0
    assert error_axes[0].images[0].get_cmap().name.startswith(ERROR.cmap)


def test_every_map_has_a_colour_bar_with_units() -> None:
    rgb, gt, pred = frames(3)
    labels = [colorbar_label(b) for b in colorbars(grid_figure(rgb, gt, pred))]
    assert sorted(labels) == sorted([DEPTH.label] * 3 + [ERROR.label])  # a depth bar per row, one error bar
    preview = preview_figure(gt[0], "x.png")
    assert [colorbar_label(b) for b in colorbars(preview)] == [DEPTH.label]
    assert "(m)" in DEPTH.label and ERROR.label == "|error| (m)"


def test_preview_range_robust_or_fixed() -> None:
    depth = room(1.0, 5.0)
    assert preview_figure(depth, "x").axes[0].images[0].get_clim() == depth_range(depth)
    assert preview_figure(depth, "x", fixed=(0.1, 10.0)).axes[0].images[0].get_clim() == (0.1, 10.0)


def legend_names(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def test_legend_lists_exactly_the_classes_present(names40: list[str]) -> None:
    labels = np.zeros((H, W), np.uint8)
    labels[:8], labels[8:16, :10], labels[16:] = 1, 22, 5  # wall, ceiling, chair; some void left
    fig = new_figure(4, 3)
    ax = fig.subplots()
    show_labels(ax, labels)
    assert legend_names(add_label_legend(ax, names40, labels)) == [UNLABELLED, "wall", "chair", "ceiling"]
    predicted = np.full((H, W), 2, np.uint8)  # floor everywhere
    assert legend_names(add_label_legend(ax, names40, labels[8:], predicted)) == [
        UNLABELLED,
        "floor",
        "chair",
        "ceiling",
    ]


def test_grid_label_panels_have_a_legend_per_row(names40: list[str]) -> None:
    rgb, gt, pred = frames(2)
    labels_gt = np.ones((2, H, W), np.uint8)
    labels_gt[1, :, 5:] = 7  # table
    labels_pred = np.full((2, H, W), 40, np.uint8)  # otherprop
    fig = grid_figure(rgb, gt, pred, labels_gt=labels_gt, labels_pred=labels_pred, class_names=names40)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [legend_names(lg) for lg in legends] == [["wall", "otherprop"], ["wall", "table", "otherprop"]]
    assert [ax.get_title() for ax in fig.axes[:6]] == [
        "RGB",
        "depth: ground truth",
        "depth: prediction",
        "|error|: one scale for all rows",
        "labels (ground truth)",
        "labels (prediction)",
    ]


def test_loss_chart_labels_axes_and_counts_whole_epochs() -> None:
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.1 / e,
            "val_abs_rel": 0.5 / e,
            "val_rmse": 2.0 / e,
            "val_delta1": 1 - 0.5 / e,
            "lr": 1e-3,
        }
        for e in range(1, 4)
    ]
    fig = history_figure(history, "densedepth")
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "loss (lower is better)",
        "validation abs_rel (lower is better)",
        "validation RMSE (lower is better)",
        "validation delta1 (higher is better)",
    ]
    assert all(ax.get_ylabel() and ax.get_xlabel() == "epoch" for ax in axes)
    assert axes[2].get_ylabel() == "RMSE (m)"
    for ax in axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks)
    only_train = history_figure([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    assert len([ax for ax in only_train.axes if ax.get_visible()]) == 1


def test_error_by_depth_chart_in_depth_order_with_units() -> None:
    rows = [
        {"depth_m": 2.5, "mae_m": 0.3, "abs_rel": 0.12, "pixels": 50},
        {"depth_m": 0.5, "mae_m": 0.1, "abs_rel": 0.2, "pixels": 10},
    ]
    fig = error_by_depth_figure(rows)
    mae_axis = fig.axes[0]
    assert list(mae_axis.lines[0].get_xdata()) == [0.5, 2.5] and list(mae_axis.lines[0].get_ydata()) == [0.1, 0.3]
    assert all("depth (m)" in ax.get_xlabel() for ax in fig.axes)
    assert mae_axis.get_ylabel() == "mean |error| (m)"


def test_same_inputs_give_the_same_png_bytes(tmp_path: Path, names40: list[str]) -> None:
    rgb, gt, pred = frames(2)
    labels = np.ones((2, H, W), np.uint8)
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.0,
            "val_abs_rel": 0.2,
            "val_rmse": 0.5,
            "val_delta1": 0.8,
            "lr": 0.0,
        }
        for e in (1, 2)
    ]
    rows = [{"depth_m": 1.5, "mae_m": 0.2, "abs_rel": 0.1, "pixels": 5}]
    for run in ("a", "b"):
        prediction_grid(
            rgb,
            gt,
            pred,
            tmp_path / run / "grid.png",
            10.0,
            titles=["f1", "f2"],
            labels_gt=labels,
            labels_pred=labels,
            class_names=names40,
        )
        plot_history(history, tmp_path / run / "loss.png", title="t")
        plot_error_by_depth(rows, tmp_path / run / "error_by_depth.png")
    for name in ("grid.png", "loss.png", "error_by_depth.png"):
        first = (tmp_path / "a" / name).read_bytes()
        assert first.startswith(b"\x89PNG") and first == (tmp_path / "b" / name).read_bytes(), name
        assert b"Software" not in first
