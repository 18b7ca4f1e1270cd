"""The one colour convention of every picture: how depth, |error| and 40-class labels are coloured and keyed.

- Depth: ``DEPTH`` (``magma_r``), near = light, far = dark; every depth colour bar says so in its label. By
  default a frame is drawn on a robust range, the 2nd-98th percentile of its valid ground truth (its prediction
  on the same range, so the two compare pixel by pixel); ``fixed_range`` draws ``[min_depth, max_depth]``
  instead, comparable across frames. Values beyond the range take the end colours (arrows on the colour bar).
- Absolute error: ``ERROR`` (``Reds``), no error = white, larger error = darker red, on one range per picture
  (0 to the 98th percentile over all its frames), colour bar "|error| (m)".
- Pixels without ground truth are grey in depth and error maps.
- Labels: class k in 1..40 always has colour ``LABEL_COLOURS[k]`` (void = black), with a legend of the classes
  present, by name.

Figures are matplotlib :class:`~matplotlib.figure.Figure` objects on the headless Agg canvas (no pyplot state),
saved without software metadata: the same inputs give the same PNG bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.patches import Patch

from depthpipe.files import atomic_path

NO_VALUE_COLOUR = "0.6"  # grey: no ground truth


@dataclass(frozen=True)
class ColourScale:
    """A colormap and its colour-bar label, which names the quantity, its unit and what the colours mean."""

    cmap: str
    label: str

    def colormap(self) -> Colormap:
        """The colormap, with pixels that have no value (NaN) in :data:`NO_VALUE_COLOUR`."""
        return matplotlib.colormaps[self.cmap].with_extremes(bad=NO_VALUE_COLOUR)


DEPTH = ColourScale("magma_r", "depth (m), near = light")
ERROR = ColourScale("Reds", "|error| (m)")
ROBUST_PERCENTILES = (2.0, 98.0)  # of a frame's valid ground truth: its depth range
ERROR_PERCENTILE = 98.0  # of all errors in a picture: the top of its error range
MIN_DEPTH_SPAN_M = 0.1  # a (near) constant frame still gets a range this wide
UNLABELLED = "unlabelled"


# Class k in 1..40 is drawn in LABEL_HEX[k], void (0) in black. Picked from matplotlib's qualitative palettes
# (tab10/20/20b/20c, Set1-3, Dark2, Pastel1, Accent; greys left out), each the one farthest in CIELAB from
# all picked before and from black, white and grey, so any two differ by at least 16 CIELAB units; wall
# (blue) and floor (orange) first, then the frequent otherprop, otherfurniture, otherstructure and ceiling,
# then the other classes by id.
LABEL_HEX = (
    "#000000",
    "#1f77b4",
    "#ff7f0e",
    "#ad494a",
    "#fdc086",
    "#a1d99b",
    "#17becf",
    "#e41a1c",
    "#637939",
    "#f7b6d2",
    "#a6761d",
    "#a6d854",
    "#1b9e77",
    "#393b79",
    "#f781bf",
    "#6b6ecf",
    "#fc8d62",
    "#9c9ede",
    "#80b1d3",
    "#ff9896",
    "#bf5b17",
    "#dbdb8d",
    "#984ea3",
    "#e7ba52",
    "#bcbd22",
    "#8dd3c7",
    "#bc80bd",
    "#7b4173",
    "#8c564b",
    "#e6ab02",
    "#c5b0d5",
    "#ccebc5",
    "#e6550d",
    "#31a354",
    "#7570b3",
    "#8ca252",
    "#8c6d31",
    "#b5cf6b",
    "#ffd92f",
    "#2ca02c",
    "#f0027f",
)
LABEL_COLOURS = np.array([to_rgb(h) for h in LABEL_HEX])  # (41, 3) RGB in [0, 1]


def measured(depth: np.ndarray) -> np.ndarray:
    """Where ``depth`` holds a measurement (finite and > 0)."""
    depth = np.asarray(depth)
    return np.isfinite(depth) & (depth > 0)


def depth_range(gt: np.ndarray, fixed: tuple[float, float] | None = None) -> tuple[float, float]:
    """The depth range a frame is drawn on: ``fixed`` if given, else the robust percentiles of its valid ``gt``."""
    if fixed is not None:
        return float(fixed[0]), float(fixed[1])
    valid = np.asarray(gt, dtype=np.float64)[measured(gt)]
    if not valid.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(valid, ROBUST_PERCENTILES))
    if hi - lo < MIN_DEPTH_SPAN_M:
        lo = max(0.0, (lo + hi - MIN_DEPTH_SPAN_M) / 2)
        hi = lo + MIN_DEPTH_SPAN_M
    return lo, hi


def abs_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|pred - gt| in metres, NaN where ``gt`` has no measurement."""
    gt = np.asarray(gt, dtype=np.float64)
    return np.where(measured(gt), np.abs(np.asarray(pred, dtype=np.float64) - gt), np.nan)


def error_range(errors: Iterable[np.ndarray]) -> tuple[float, float]:
    """One error range for a whole picture: 0 to the 98th percentile of all its finite errors (at least 1 mm)."""
    finite = [e[np.isfinite(e)] for e in errors]
    values = np.concatenate(finite) if finite else np.zeros(0)
    top = float(np.percentile(values, ERROR_PERCENTILE)) if values.size else 0.0
    return 0.0, max(top, 1e-3)


def show_depth(ax: Axes, depth: np.ndarray, vrange: tuple[float, float]) -> AxesImage:
    """Draw a depth map (metres; no measurement -> grey) on ``vrange`` in the depth colours."""
    shown = np.where(measured(depth), np.asarray(depth, dtype=np.float64), np.nan)
    return _show_map(ax, shown, DEPTH, vrange)


def show_error(ax: Axes, error: np.ndarray, vrange: tuple[float, float]) -> AxesImage:
    """Draw an absolute-error map (metres; NaN -> grey) on ``vrange`` in the error colours."""
    return _show_map(ax, error, ERROR, vrange)


def _show_map(ax: Axes, values: np.ndarray, scale: ColourScale, vrange: tuple[float, float]) -> AxesImage:
    image = ax.imshow(values, cmap=scale.colormap(), vmin=vrange[0], vmax=vrange[1], interpolation="antialiased")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def add_colorbar(
    fig: Figure, image: AxesImage, axes: Axes | Sequence[Axes], scale: ColourScale, location: str = "right"
) -> Colorbar:
    """A colour bar for ``image`` beside ``axes``, labelled with ``scale.label``; arrows where values can lie
    beyond the range (depth: both ends; error: above)."""
    extend = "max" if scale is ERROR else "both"
    bar = fig.colorbar(image, ax=axes, location=location, extend=extend, shrink=0.9, aspect=25)
    bar.set_label(scale.label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def show_labels(ax: Axes, labels: np.ndarray) -> AxesImage:
    """Draw a 40-class label map (0 void = black, k in 1..40 in ``LABEL_COLOURS[k]``)."""
    cmap = ListedColormap(LABEL_COLOURS)
    image = ax.imshow(labels, cmap=cmap, vmin=-0.5, vmax=len(LABEL_COLOURS) - 0.5, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def classes_present(*label_maps: np.ndarray) -> list[int]:
    """The label ids (0 void, 1..40) found in any of ``label_maps``, ascending."""
    return sorted(set().union(*(np.unique(np.asarray(m)).tolist() for m in label_maps)))


def class_name(k: int, class_names: Sequence[str]) -> str:
    """The name of label id ``k``: "unlabelled" for void, ``class_names[k-1]``, or "class k" without a name."""
    if k == 0:
        return UNLABELLED
    return class_names[k - 1] if k <= len(class_names) else f"class {k}"


def add_label_legend(ax: Axes, class_names: Sequence[str], *label_maps: np.ndarray) -> Legend:
    """A legend right of ``ax`` naming exactly the classes present in ``label_maps`` (``class_names[k-1]`` for
    class k; void as "unlabelled"), each beside its colour."""
    present = classes_present(*label_maps)
    handles = [
        Patch(facecolor=LABEL_COLOURS[k], edgecolor="0.3", linewidth=0.5, label=class_name(k, class_names))
        for k in present
    ]
    return ax.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        fontsize=7,
        frameon=False,
        ncols=1 if len(handles) <= 14 else 2,
        handlelength=1.0,
        handleheight=1.0,
        borderaxespad=0.0,
        columnspacing=0.8,
        title="classes",
        title_fontsize=7,
    )


def new_figure(width_in: float, height_in: float, dpi: int = 100) -> Figure:
    """An empty figure with constrained layout on the headless Agg canvas."""
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically, without software or date metadata (stable bytes)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi, bbox_inches="tight", pad_inches=0.1, metadata={"Software": None})
