"""The paired bootstrap over test frames: one seeded draw of frame indices that both sides of a comparison share.

A resample draws N of the N paired frames with replacement. :func:`resample_indices` makes R such draws from
a seeded generator (the same seed gives the same draws on every machine), :func:`draw_counts` turns them into
an (R, N) matrix of how often each resample drew each frame, so any statistic that is a weighted mean or a
weighted pool of per-frame values is R matrix-vector products
(:func:`depthpipe.evaluation.protocols.summarize_resamples`).
Using the same matrix for the baseline and the candidate pairs them frame by frame: the difference of the two
statistics on each resample is one draw from the bootstrap distribution of the difference, and
:func:`percentile_interval` reads its confidence interval off the draws.
"""

from __future__ import annotations

import numpy as np


def resample_indices(n_frames: int, resamples: int, seed: int) -> np.ndarray:
    """(R, N) frame positions in ``0 .. n_frames - 1``, drawn uniformly with replacement from ``seed``."""
    if n_frames < 1 or resamples < 1:
        raise ValueError(f"resample_indices: need frames and resamples (got {n_frames}, {resamples})")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_frames, size=(resamples, n_frames), dtype=np.int64)


def draw_counts(indices: np.ndarray) -> np.ndarray:
    """(R, N) float64: how many times resample r drew frame i, for ``indices`` (R, N) from :func:`resample_indices`."""
    resamples, n_frames = indices.shape
    flat = (indices + (np.arange(resamples, dtype=np.int64) * n_frames)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * n_frames)
    return counts.reshape(resamples, n_frames).astype(np.float64)


def paired_weights(n_frames: int, resamples: int, seed: int) -> np.ndarray:
    """The (R, N) draw counts of ``resamples`` seeded resamples of ``n_frames`` frames (shared by both sides)."""
    return draw_counts(resample_indices(n_frames, resamples, seed))


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``draws``: their (1-c)/2 and (1+c)/2 quantiles."""
    if not 0 < confidence < 1:
        raise ValueError(f"percentile_interval: confidence must be in (0, 1) (got {confidence})")
    low, high = np.quantile(np.asarray(draws, dtype=np.float64), [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
