"""Procedural noise for textures: an integer hash to [0, 1) and the per-frame wrapping noise textures."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_TEX = 128  # side of the per-frame noise textures (power of two: indices wrap with & (_TEX - 1))


def hash01(*ints: np.ndarray) -> np.ndarray:
    """A float32 in [0, 1) per element, a deterministic hash of the integer arrays (wrapping uint32 arithmetic)."""
    x = np.full(np.shape(ints[0]), 0x9E3779B9, np.uint32)
    for k, a in enumerate(ints):
        x ^= np.asarray(a).astype(np.int64).astype(np.uint32) + np.uint32(0x7F4A7C15 * (k + 1) & 0xFFFFFFFF)
        x *= np.uint32(0x85EBCA6B)
        x ^= x >> np.uint32(13)
        x *= np.uint32(0xC2B2AE35)
        x ^= x >> np.uint32(16)
    return (x >> np.uint32(8)).astype(np.float32) / np.float32(1 << 24)


def noise_textures(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two wrapping float32 noise textures of unit standard deviation: ``fine`` (blurred by 0.7 texel) and
    ``coarse`` (blurred by 3 texels), drawn in that order from ``rng``."""
    fine = ndimage.gaussian_filter(rng.standard_normal((_TEX, _TEX), dtype=np.float32), 0.7, mode="wrap")
    coarse = ndimage.gaussian_filter(rng.standard_normal((_TEX, _TEX), dtype=np.float32), 3.0, mode="wrap")
    fine /= fine.std()
    coarse /= coarse.std()
    return fine, coarse


def sample(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup in a wrapping noise texture; ``u``, ``v`` in texels."""
    m = _TEX - 1
    return tex[np.floor(v).astype(np.int32) & m, np.floor(u).astype(np.int32) & m]


def frac(x: np.ndarray) -> np.ndarray:
    """The fractional part ``x - floor(x)``, in [0, 1)."""
    return x - np.floor(x)
