"""Colour palettes the scene builder draws albedos from, and the jittered pick from one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WALL_COLORS = [
    (0.85, 0.83, 0.78),
    (0.9, 0.9, 0.88),
    (0.78, 0.8, 0.82),
    (0.8, 0.85, 0.78),
    (0.88, 0.82, 0.7),
    (0.75, 0.8, 0.88),
    (0.86, 0.78, 0.74),
    (0.7, 0.72, 0.7),
]
WOOD_COLORS = [
    (0.55, 0.38, 0.22),
    (0.42, 0.28, 0.16),
    (0.68, 0.52, 0.34),
    (0.3, 0.2, 0.13),
    (0.75, 0.62, 0.45),
    (0.5, 0.33, 0.2),
]
FLOOR_TILE_COLORS = [(0.8, 0.78, 0.74), (0.62, 0.6, 0.58), (0.85, 0.84, 0.82), (0.55, 0.5, 0.45), (0.72, 0.66, 0.56)]
CARPET_COLORS = [(0.45, 0.43, 0.4), (0.35, 0.38, 0.45), (0.55, 0.5, 0.42), (0.4, 0.3, 0.28), (0.3, 0.32, 0.3)]
FABRIC_COLORS = [
    (0.6, 0.2, 0.18),
    (0.2, 0.3, 0.55),
    (0.35, 0.5, 0.3),
    (0.7, 0.65, 0.55),
    (0.3, 0.3, 0.32),
    (0.75, 0.55, 0.3),
    (0.5, 0.45, 0.6),
    (0.85, 0.85, 0.82),
    (0.25, 0.45, 0.5),
]
PAINTED_COLORS = [(0.9, 0.9, 0.88), (0.2, 0.2, 0.22), (0.6, 0.62, 0.64), (0.82, 0.8, 0.74), (0.45, 0.5, 0.55)]
# book spines: an array, as the renderer indexes it with per-pixel picks
BOOK_COLORS = np.array(
    [
        (0.7, 0.15, 0.12),
        (0.15, 0.25, 0.55),
        (0.2, 0.45, 0.25),
        (0.85, 0.75, 0.3),
        (0.9, 0.9, 0.85),
        (0.15, 0.15, 0.15),
        (0.6, 0.35, 0.15),
        (0.45, 0.2, 0.45),
        (0.3, 0.6, 0.7),
        (0.8, 0.45, 0.2),
    ],
    np.float32,
)


def pick_color(
    rng: np.random.Generator, palette: Sequence[tuple[float, float, float]], jitter: float = 0.08
) -> np.ndarray:
    """A random colour of ``palette`` with each channel scaled by a random factor in [1 - jitter, 1 + jitter]."""
    base = np.asarray(palette[int(rng.integers(len(palette)))], np.float32)
    return np.clip(base * rng.uniform(1 - jitter, 1 + jitter, 3).astype(np.float32), 0.02, 0.98)
