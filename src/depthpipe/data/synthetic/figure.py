"""The example figure (``docs/synthetic_examples.png``): rows of RGB, depth and 40-class labels with a legend."""

from __future__ import annotations

import os
from pathlib import Path

from depthpipe.data.sources.metadata import load_class_mapping
from depthpipe.data.synthetic.frame import MAX_DEPTH, render_frame
from depthpipe.data.synthetic.labels import label_ids
from depthpipe.viz.style import (
    DEPTH,
    add_colorbar,
    add_label_legend,
    depth_range,
    new_figure,
    save_figure,
    show_depth,
    show_labels,
)


def render_examples(
    path: str | os.PathLike[str],
    class_mapping: str | os.PathLike[str],
    n: int = 4,
    seed: int = 0,
    first: int = 0,
    fixed_range: bool = False,
) -> Path:
    """Save a figure of ``n`` frames (rows of RGB | depth | 40-class labels) as a PNG at ``path``.

    Depth in the colours of :mod:`depthpipe.viz.style`, on each frame's 2nd-98th percentile (``fixed_range``: on
    ``[0, MAX_DEPTH]``); labels with a legend of the classes in the frame.
    """
    ids = label_ids(class_mapping)
    lut, names40, _ = load_class_mapping(class_mapping)
    fig = new_figure(13.0, 3.1 * n + 0.3, dpi=80)
    axes = fig.subplots(n, 3, squeeze=False)
    for r in range(n):
        fr = render_frame(seed, first + r, ids)
        axes[r, 0].imshow(fr.rgb)
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        axes[r, 0].set_title(f"{fr.scene}: RGB", fontsize=9)
        vrange = depth_range(fr.depth, (0.0, MAX_DEPTH) if fixed_range else None)
        add_colorbar(fig, show_depth(axes[r, 1], fr.depth, vrange), axes[r, 1], DEPTH)
        how = "fixed range" if fixed_range else "colours: 2nd-98th percentile"
        axes[r, 1].set_title(f"depth {fr.depth.min():.2f}-{fr.depth.max():.2f} m ({how})", fontsize=9)
        labels40 = lut[fr.label]
        show_labels(axes[r, 2], labels40)
        add_label_legend(axes[r, 2], names40, labels40)
        axes[r, 2].set_title("40-class labels", fontsize=9)
    out = Path(path)
    save_figure(fig, out)
    return out
