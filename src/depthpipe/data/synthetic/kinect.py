"""The raw depth a Kinect would record: disparity quantisation and noise, and holes where it measures nothing.

Holes (0) are shadow bands beside depth discontinuities, thin dropouts along them, glass and dark screens,
specular blobs, depths outside the sensor's range, speckle and a thin border: about 5-20 % of the pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINECT_MIN_RANGE, KINECT_MAX_RANGE = 0.45, 9.5  # raw depth is missing outside this range
KINECT_BASELINE = 0.075  # metres between IR projector and camera: sets the width of the shadow bands


def raw_depth(depth: np.ndarray, no_depth: np.ndarray, fx: float, rng: np.random.Generator) -> np.ndarray:
    """Kinect-like raw depth from the dense ``depth``: disparity quantisation and noise, 0 where nothing would be
    measured (``no_depth`` marks surfaces the sensor misses); ``fx`` is the focal length in pixels."""
    h, w = depth.shape
    bf = np.float32(KINECT_BASELINE * fx)
    disp = bf / depth  # pixels
    raw = bf / (np.rint(disp * 8 + rng.standard_normal((h, w), dtype=np.float32) * np.float32(0.3)) / 8)
    rnd = rng.random((h, w), dtype=np.float32)
    holes = (depth > KINECT_MAX_RANGE) | (depth < KINECT_MIN_RANGE)
    holes |= _shadow_bands(disp)
    holes |= _discontinuities(depth) & (rnd < 0.7)
    # glass, screens and mirrors: mostly missing
    holes |= no_depth & (rnd < 0.9)
    holes |= _blobs(rng, h, w)
    # speckle and a thin invalid border
    holes |= rnd > 1 - float(rng.uniform(0.01, 0.04))
    bt, bb, bl, br = (int(x) for x in rng.integers(0, max(2, h // 48), 4))
    holes[:bt], holes[h - bb :], holes[:, :bl], holes[:, w - br :] = True, True, True, True
    raw[holes] = 0
    return raw


def _shadow_bands(disp: np.ndarray) -> np.ndarray:
    """Shadow bands: the background just left of a near object's left edge is not lit by the projector; the
    band is as wide as the disparity jump (in pixels)."""
    h, w = disp.shape
    bands = np.zeros((h, w), bool)
    jump = disp[:, 1:] - disp[:, :-1]
    rows, cols = np.nonzero(jump > 0.5)
    if rows.size:
        widths = np.ceil(jump[rows, cols]).astype(np.int64)
        cols = cols + 1
        marks = np.zeros((h, w + 1), np.int16)
        np.add.at(marks, (rows, np.maximum(cols - widths, 0)), 1)
        np.add.at(marks, (rows, cols), -1)
        bands = np.cumsum(marks, axis=1, dtype=np.int16)[:, :w] > 0
    return bands


def _discontinuities(depth: np.ndarray) -> np.ndarray:
    """Pixels on both sides of every depth discontinuity (a jump of more than 4 % to the next pixel)."""
    h, w = depth.shape
    edge = np.zeros((h, w), bool)
    e = np.abs(depth[:, 1:] - depth[:, :-1]) > 0.04 * depth[:, 1:]
    edge[:, 1:] |= e
    edge[:, :-1] |= e
    e = np.abs(depth[1:, :] - depth[:-1, :]) > 0.04 * depth[1:, :]
    edge[1:, :] |= e
    edge[:-1, :] |= e
    return edge


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Specular / dark blobs: a smooth random field thresholded to cover a few percent (4-pixel cells)."""
    hc, wc = -(-h // 4), -(-w // 4)
    field = ndimage.zoom(rng.random((hc // 8 + 2, wc // 8 + 2), dtype=np.float32), 8, order=1)[:hc, :wc]
    blobs = field > 1 - float(rng.uniform(0.01, 0.07))
    return np.repeat(np.repeat(blobs, 4, 0), 4, 1)[:h, :w]
