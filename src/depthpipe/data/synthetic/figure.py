"""The example figure (``docs/synthetic_examples.png``): rows of RGB, depth and 40-class labels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from depthpipe.data.meta import load_class_mapping
from depthpipe.data.synthetic.frame import MAX_DEPTH, render_frame
from depthpipe.data.synthetic.labels import label_ids
from depthpipe.io import atomic_path


def render_examples(path: str | os.PathLike[str], class_mapping: str | os.PathLike[str], n: int = 4, seed: int = 0,
                    first: int = 0) -> Path:
    """Save a figure of ``n`` frames (rows of RGB | depth | 40-class labels) as a PNG at ``path``."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    ids = label_ids(class_mapping)
    lut, names40, _ = load_class_mapping(class_mapping)
    palette = np.vstack([[0, 0, 0], colormaps["tab20"].colors, colormaps["tab20b"].colors])[: len(names40) + 1]
    fig = Figure(figsize=(12, 3.1 * n), dpi=80, layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    for r in range(n):
        fr = render_frame(seed, first + r, ids)
        axes[r, 0].imshow(fr.rgb)
        axes[r, 0].set_title(f"{fr.scene}: RGB", fontsize=9)
        im = axes[r, 1].imshow(fr.depth, cmap="turbo", vmin=0, vmax=MAX_DEPTH)
        axes[r, 1].set_title(f"depth (m), {fr.depth.min():.2f}-{fr.depth.max():.2f}", fontsize=9)
        fig.colorbar(im, ax=axes[r, 1], fraction=0.035)
        lab40 = lut[fr.label]
        axes[r, 2].imshow(lab40, cmap=ListedColormap(palette), vmin=-0.5, vmax=len(names40) + 0.5,
                          interpolation="nearest")
        present = [names40[c - 1] for c in np.unique(lab40) if c > 0]
        axes[r, 2].set_title("labels: " + ", ".join(present[:7]) + ("..." if len(present) > 7 else ""), fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
