"""Pictures of per-pixel maps: the evaluation grid (RGB | depth | prediction | error | labels) and the depth
preview of ``depthpipe predict``, in the colours of :mod:`depthpipe.viz.style`."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from depthpipe.viz.style import (
    DEPTH,
    ERROR,
    abs_error,
    add_colorbar,
    add_label_legend,
    depth_range,
    error_range,
    new_figure,
    save_figure,
    show_depth,
    show_error,
    show_labels,
)

PANEL_WIDTH_IN = 2.8
ROBUST_NOTE = "each row on its ground truth's 2nd-98th percentile, prediction on the same range"


def grid_caption(fixed: tuple[float, float] | None) -> str:
    """What the grid's colours mean, in one line."""
    ranges = ROBUST_NOTE if fixed is None else f"fixed range {fixed[0]:g}-{fixed[1]:g} m"
    return f"depth: {ranges}; |error|: one scale for all rows; grey = no ground truth"


def grid_figure(
    rgb: np.ndarray,
    gt: np.ndarray,
    pred: np.ndarray,
    titles: Sequence[str] | None = None,
    fixed: tuple[float, float] | None = None,
    labels_gt: np.ndarray | None = None,
    labels_pred: np.ndarray | None = None,
    class_names: Sequence[str] = (),
) -> Figure:
    """One row per frame: RGB | ground truth | prediction | |error| [| labels (ground truth) | labels (prediction)].

    ``rgb`` (N,H,W,3) uint8; ``gt``, ``pred`` (N,H,W) metres (gt <= 0 = no measurement); labels (N,H,W) 0..40.
    Depth on each frame's robust range (``fixed``: on that range), error on one range for the whole grid.
    """
    label_maps = [m for m in (labels_gt, labels_pred) if m is not None]
    columns = ["RGB", "depth: ground truth", "depth: prediction", "|error|: one scale for all rows"]
    columns += [
        name
        for name, m in (("labels (ground truth)", labels_gt), ("labels (prediction)", labels_pred))
        if m is not None
    ]
    n, (h, w) = len(rgb), np.asarray(gt).shape[1:]
    errors = [abs_error(pred[i], gt[i]) for i in range(n)]
    err_range = error_range(errors)
    legend_in = 2.2 if label_maps else 0.0
    fig = new_figure(PANEL_WIDTH_IN * len(columns) + 1.2 + legend_in, PANEL_WIDTH_IN * h / w * n + 1.3)
    axes = fig.subplots(n, len(columns), squeeze=False)
    for i in range(n):
        vrange = depth_range(gt[i], fixed)
        _draw_depth_row(fig, axes[i], rgb[i], gt[i], pred[i], vrange)
        err_image = show_error(axes[i, 3], errors[i], err_range)
        for ax, labels in zip(axes[i, 4:], label_maps):
            show_labels(ax, labels[i])
        if label_maps:
            add_label_legend(axes[i, -1], class_names, *(m[i] for m in label_maps))
        axes[i, 0].set_ylabel(titles[i] if titles is not None else f"frame {i}", fontsize=9)
    add_colorbar(fig, err_image, list(axes[:, 3]), ERROR, location="bottom")
    for ax, name in zip(axes[0], columns):
        ax.set_title(name, fontsize=9)
    fig.suptitle(grid_caption(fixed), fontsize=8)
    return fig


def _draw_depth_row(
    fig: Figure, row: Sequence[Axes], rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, vrange: tuple[float, float]
) -> AxesImage:
    """RGB, ground truth and prediction on ``vrange``, one depth colour bar for the two depth maps."""
    row[0].imshow(rgb)
    row[0].set_xticks([])
    row[0].set_yticks([])
    show_depth(row[1], gt, vrange)
    image = show_depth(row[2], np.where(np.isfinite(pred), pred, np.nan), vrange)
    add_colorbar(fig, image, [row[1], row[2]], DEPTH)
    return image


def prediction_grid(
    rgb: np.ndarray,
    gt: np.ndarray,
    pred: np.ndarray,
    path: str | os.PathLike[str],
    max_depth: float,
    titles: Sequence[str] | None = None,
    *,
    min_depth: float = 0.0,
    fixed_range: bool = False,
    labels_gt: np.ndarray | None = None,
    labels_pred: np.ndarray | None = None,
    class_names: Sequence[str] = (),
) -> None:
    """Save :func:`grid_figure` as a PNG at ``path``; ``fixed_range`` draws depth on ``[min_depth, max_depth]``."""
    fixed = (min_depth, max_depth) if fixed_range else None
    save_figure(grid_figure(rgb, gt, pred, titles, fixed, labels_gt, labels_pred, class_names), path)


def preview_figure(depth: np.ndarray, title: str, fixed: tuple[float, float] | None = None) -> Figure:
    """One depth map (metres) with its colour bar: on its own 2nd-98th percentile, or on ``fixed``."""
    h, w = np.asarray(depth).shape
    image_w, image_h = (6.4, 6.4 * h / w) if w >= h else (6.4 * w / h, 6.4)
    fig = new_figure(image_w + 1.3, image_h + 0.5)
    ax = fig.subplots()
    lo, hi = vrange = depth_range(depth, fixed)
    add_colorbar(fig, show_depth(ax, depth, vrange), ax, DEPTH)
    how = "2nd-98th percentile" if fixed is None else "fixed range"
    ax.set_title(f"{title}: predicted depth, colours {lo:.2f}-{hi:.2f} m ({how})", fontsize=9)
    return fig


def save_preview(
    depth: np.ndarray, path: str | os.PathLike[str], title: str, fixed: tuple[float, float] | None = None
) -> None:
    """Save :func:`preview_figure` as a PNG at ``path``."""
    save_figure(preview_figure(depth, title, fixed), path)
