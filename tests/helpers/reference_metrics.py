"""An independent computation of the depth metrics, written out by hand from their definitions, to check the
library's against; and the test frames of a ``nyu_data.zip`` as PIL decodes them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

EIGEN, DENSEDEPTH = (45, 471, 41, 601), (20, 460, 24, 616)  # rows, cols of 480x640 (half-open)


def independent_metrics(
    preds: list[np.ndarray], gts: list[np.ndarray], window: tuple[int, ...], pooled: bool
) -> dict[str, float]:
    """Eigen et al.'s eight metrics inside ``window`` over gt in (1e-3, 10]: per image then averaged, or pooled."""
    per_image, pixels = [], []
    for p, g in zip(preds, gts):
        r0, r1, c0, c1 = window
        mask = np.zeros_like(g, dtype=bool)
        mask[r0:r1, c0:c1] = True
        mask &= (g > 1e-3) & (g <= 10.0)
        pixels.append((p[mask], g[mask]))
    groups = [(np.concatenate([p for p, _ in pixels]), np.concatenate([g for _, g in pixels]))] if pooled else pixels
    for p, g in groups:
        ratio = np.maximum(p / g, g / p)
        per_image.append(
            {
                "abs_rel": np.mean(np.abs(p - g) / g),
                "sq_rel": np.mean((p - g) ** 2 / g),
                "rmse": np.sqrt(np.mean((p - g) ** 2)),
                "rmse_log": np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2)),
                "log10": np.mean(np.abs(np.log10(p) - np.log10(g))),
                "delta1": np.mean(ratio < 1.25),
                "delta2": np.mean(ratio < 1.25**2),
                "delta3": np.mean(ratio < 1.25**3),
            }
        )
    return {k: float(np.mean([m[k] for m in per_image])) for k in per_image[0]}


def zip_test_frames(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The test frames as PIL decodes them: RGB, and depth = 16-bit millimetres / 1000."""
    rgbs, gts = [], []
    with zipfile.ZipFile(path) as zf:
        for row in zf.read("data/nyu2_test.csv").decode().split():
            rgb_member, depth_member = row.split(",")
            rgbs.append(np.asarray(Image.open(io.BytesIO(zf.read(rgb_member))).convert("RGB")))
            depth = Image.open(io.BytesIO(zf.read(depth_member)))
            assert depth.mode.startswith("I;16")
            gts.append(np.asarray(depth, dtype=np.float64) / 1000.0)
    return rgbs, gts
