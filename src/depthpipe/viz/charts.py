"""Line charts of numbers: the training history (``loss.png``) and the error against ground-truth depth
(``error_by_depth.png``), every axis labelled with its quantity and unit."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from depthpipe.viz.style import new_figure, save_figure

# (panel title, y label, ((history key, line label), ...), y limits or None)
HISTORY_PANELS = (
    (
        "loss (lower is better)",
        "loss (training objective)",
        (("train_loss", "train"), ("val_loss", "validation")),
        None,
    ),
    (
        "validation abs_rel (lower is better)",
        "abs_rel (mean |error| / true depth)",
        (("val_abs_rel", "validation"),),
        None,
    ),
    ("validation RMSE (lower is better)", "RMSE (m)", (("val_rmse", "validation"),), None),
    (
        "validation delta1 (higher is better)",
        "delta1 (share within 1.25x of true depth)",
        (("val_delta1", "validation"),),
        (0.0, 1.0),
    ),
)
DEPTH_AXIS = "ground-truth depth (m), bin centre"


def _column(history: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([float(h.get(key, math.nan)) for h in history], dtype=np.float64)


def best_epoch(history: Sequence[dict[str, Any]]) -> int | None:
    """The epoch with the lowest validation abs_rel (the checkpoint kept as best), None without validation."""
    scores = _column(history, "val_abs_rel")
    if not np.isfinite(scores).any():
        return None
    return int(history[int(np.nanargmin(scores))]["epoch"])


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> None:
    """Save :func:`history_figure` as ``path`` (``loss.png``)."""
    save_figure(history_figure(history, title), path)


def history_figure(history: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Train/validation loss on one axis, each validation metric on its own, against whole epochs; a dotted
    line at the best epoch."""
    epochs = np.array([int(h["epoch"]) for h in history])
    panels = [p for p in HISTORY_PANELS if any(np.isfinite(_column(history, k)).any() for k, _ in p[2])]
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(5.2 * cols, 3.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    best = best_epoch(history)
    for ax, (name, ylabel, lines, ylim) in zip(axes, panels):
        for key, label in lines:
            values = _column(history, key)
            if np.isfinite(values).any():
                ax.plot(epochs, values, "o-", markersize=3, label=label)
        _epoch_axis(ax, name, ylabel, ylim)
        if best is not None:
            ax.axvline(best, color="0.4", linestyle=":", linewidth=1, label=f"best epoch ({best})")
        ax.legend(fontsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: training history" if title else "training history", fontsize=10)
    return fig


def _epoch_axis(ax: Axes, name: str, ylabel: str, ylim: tuple[float, float] | None) -> None:
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ylim is not None:
        ax.set_ylim(*ylim)


def plot_error_by_depth(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> None:
    """Save :func:`error_by_depth_figure` as ``path`` (``error_by_depth.png``)."""
    save_figure(error_by_depth_figure(rows, title), path)


def error_by_depth_figure(rows: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Mean absolute error (m), abs_rel and the share of pixels per ground-truth depth bin.

    ``rows`` as :meth:`depthpipe.evaluation.scoring.DepthBins.rows` returns them (``depth_m`` bin centre, ``mae_m``,
    ``abs_rel``, ``pixels``), drawn in depth order.
    """
    rows = sorted(rows, key=lambda r: float(r["depth_m"]))
    depth = np.array([float(r["depth_m"]) for r in rows])
    pixels = np.array([float(r["pixels"]) for r in rows])
    fig = new_figure(12.0, 3.4)
    axes = fig.subplots(1, 3, sharex=True)
    panels = (
        (axes[0], "mean absolute error", "mean |error| (m)", [float(r["mae_m"]) for r in rows]),
        (axes[1], "relative error", "abs_rel (mean |error| / true depth)", [float(r["abs_rel"]) for r in rows]),
    )
    for ax, name, ylabel, values in panels:
        ax.plot(depth, values, "o-", markersize=4)
        _depth_axis(ax, name, ylabel)
    width = 0.8 * float(np.min(np.diff(depth))) if len(depth) > 1 else 0.8
    axes[2].bar(depth, 100.0 * pixels / max(pixels.sum(), 1.0), width=width, color="0.55")
    axes[2].yaxis.set_major_formatter(PercentFormatter(decimals=0))
    _depth_axis(axes[2], "where the pixels are", "share of evaluated pixels")
    if not rows:
        axes[0].text(0.5, 0.5, "no evaluated pixels", transform=axes[0].transAxes, ha="center")
    name = "error against ground-truth depth"
    fig.suptitle(f"{title}: {name}" if title else name, fontsize=10)
    return fig


def _depth_axis(ax: Axes, name: str, ylabel: str) -> None:
    ax.set_title(name, fontsize=9)
    ax.set_xlabel(DEPTH_AXIS)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
