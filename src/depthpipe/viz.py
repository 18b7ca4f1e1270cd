"""Pictures people look at: loss curves and prediction grids (matplotlib, headless Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from depthpipe.io import atomic_path  # noqa: E402


def _save(fig: "plt.Figure", path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def plot_history(history: Sequence[dict], path: str | os.PathLike[str], title: str = "") -> None:
    """Train/val loss and validation abs_rel / delta1 per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    if any("val_loss" in h for h in history):
        a.plot(epochs, [h.get("val_loss", np.nan) for h in history], "o-", label="val loss")
        b.plot(epochs, [h.get("val_abs_rel", np.nan) for h in history], "o-", label="val abs_rel")
        b.plot(epochs, [h.get("val_delta1", np.nan) for h in history], "o-", label="val delta1")
    a.set_xlabel("epoch"), a.set_title(f"{title} loss"), a.legend(), a.grid(alpha=0.3)
    b.set_xlabel("epoch"), b.set_title(f"{title} validation"), b.legend(), b.grid(alpha=0.3)
    _save(fig, path)


def prediction_grid(rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, path: str | os.PathLike[str],
                    max_depth: float = 10.0, titles: Sequence[str] | None = None) -> None:
    """Rows of RGB | ground truth | prediction | absolute error, for a few frames.

    ``rgb`` (N,H,W,3) uint8; ``gt``, ``pred`` (N,H,W) metres (gt 0 = invalid, shown black).
    """
    n = len(rgb)
    fig, axes = plt.subplots(n, 4, figsize=(13, 2.6 * n), squeeze=False)
    for i in range(n):
        valid = gt[i] > 0
        err = np.where(valid, np.abs(pred[i] - gt[i]), np.nan)
        panels = [(rgb[i], None, "RGB"),
                  (np.where(valid, gt[i], np.nan), "magma_r", "ground truth (m)"),
                  (pred[i], "magma_r", "prediction (m)"),
                  (err, "inferno", "|error| (m)")]
        for j, (img, cmap, name) in enumerate(panels):
            ax = axes[i, j]
            if cmap is None:
                ax.imshow(img)
            else:
                vmax = max_depth if j < 3 else max(1e-3, float(np.nanpercentile(err, 99)) if np.isfinite(err).any() else 1.0)
                im = ax.imshow(img, cmap=cmap, vmin=0, vmax=vmax)
                fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02)
            ax.set_title(name if titles is None else f"{titles[i]}: {name}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)
