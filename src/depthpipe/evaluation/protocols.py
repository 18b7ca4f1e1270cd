"""Evaluation protocols: which pixels count, whether a prediction is averaged with its mirror image, and how
per-frame results combine into the test-set figure, so that one run reads against either literature table.

- ``standard``: Eigen et al.'s crop (rows 45:471, cols 41:601 of 480x640; ``evaluate.crop: none`` for the
  whole image), flip TTA as ``evaluate.flip_tta`` says, every metric computed per image and averaged over
  images (the protocol of most NYU tables).
- ``densedepth``: DenseDepth's ``eigen_test_crop`` (rows 20:460, cols 24:616), the prediction always averaged
  with the mirrored prediction of the mirrored image, every metric over the pixels of all test images pooled
  (how DenseDepth's evaluate.py computes its published table).

The per-frame table of the evaluate stage (``reports/eval/<variant>/per_frame.csv``) holds, per frame and
protocol, the eight per-image metrics and the :data:`~depthpipe.metrics.depth.DEPTH_SUMS`; :func:`summarize` turns
any subset of its rows into the protocol's figure, which is what the metrics file reports;
:func:`summarize_resamples` computes the same figure for many reweightings of the frames at once (the merge
gate's bootstrap resamples).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from depthpipe.config import EvaluateConfig
from depthpipe.metrics.depth import DEPTH_METRICS, DEPTH_SUMS, metrics_from_sums
from depthpipe.metrics.segmentation import segmentation_from_counts

PROTOCOLS: tuple[str, ...] = ("standard", "densedepth")
POOLED: dict[str, bool] = {"standard": False, "densedepth": True}  # pooled pixels, or per-image means
SEMANTIC = "semantic"


@dataclass(frozen=True)
class Protocol:
    """How one protocol scores: the crop, flip TTA, and pooled pixels (True) or per-image means (False)."""

    name: str
    crop: str
    flip_tta: bool
    pooled: bool

    def column(self, key: str) -> str:
        """The per-frame table's column for ``key`` (a metric or a sum) under this protocol."""
        return f"{self.name}/{key}"


def protocols_of(cfg: EvaluateConfig) -> tuple[Protocol, ...]:
    """The protocols ``evaluate.protocols`` names, set up from the ``evaluate`` section."""
    known = {
        "standard": Protocol("standard", cfg.crop, cfg.flip_tta, pooled=POOLED["standard"]),
        "densedepth": Protocol("densedepth", "densedepth", True, pooled=POOLED["densedepth"]),
    }
    return tuple(known[name] for name in cfg.protocols)


def frame_columns(protocol: Protocol, metrics: Mapping[str, float], sums: Mapping[str, float]) -> dict[str, float]:
    """One frame's per-frame-table entries for ``protocol``: its metrics and its sums."""
    return {protocol.column(k): metrics[k] for k in DEPTH_METRICS} | {protocol.column(k): sums[k] for k in DEPTH_SUMS}


def summarize(rows: Sequence[Mapping[str, float]], protocol: Protocol) -> dict[str, float]:
    """The protocol's eight depth metrics over ``rows`` of the per-frame table (any subset or resample)."""
    if not rows:
        raise ValueError("summarize: no frames")
    if protocol.pooled:
        return metrics_from_sums({k: float(sum(float(r[protocol.column(k)]) for r in rows)) for k in DEPTH_SUMS})
    return {k: float(np.mean([float(r[protocol.column(k)]) for r in rows])) for k in DEPTH_METRICS}


def summarize_semantic(class_rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """mIoU and pixel accuracy pooled over the per-frame class counts ``{frame, class, tp, gt, pred}``."""
    n = max(int(r["class"]) for r in class_rows)
    totals = {k: np.zeros(n, np.float64) for k in ("tp", "gt", "pred")}
    for r in class_rows:
        for k in totals:
            totals[k][int(r["class"]) - 1] += float(r[k])
    return segmentation_from_counts(totals["tp"], totals["gt"], totals["pred"])


def recorded_protocols(columns: Iterable[str]) -> tuple[Protocol, ...]:
    """The protocols whose eight metrics and sums all appear among a per-frame table's ``columns``.

    Only how they combine frames is known from a table (crop and flip TTA are already applied in it), so the
    crop reads ``recorded``; enough for :func:`summarize` and :func:`summarize_resamples`.
    """
    have = set(columns)
    found = []
    for name in PROTOCOLS:
        p = Protocol(name, "recorded", flip_tta=name == "densedepth", pooled=POOLED[name])
        if all(p.column(k) in have for k in (*DEPTH_METRICS, *DEPTH_SUMS)):
            found.append(p)
    return tuple(found)


def summarize_resamples(
    columns: Mapping[str, np.ndarray], weights: np.ndarray, protocol: Protocol
) -> dict[str, np.ndarray]:
    """:func:`summarize` for R reweightings of the same N frames at once.

    ``columns``: per-frame-table column -> (N,) values in frame order; ``weights`` (R, N): how often each
    resample draws each frame. Returns (R,) per metric: the per-image mean, or the metrics of the pooled sums.
    """
    if protocol.pooled:
        return metrics_from_sums({k: weights @ columns[protocol.column(k)] for k in DEPTH_SUMS})
    drawn = weights.sum(axis=1)
    return {k: (weights @ columns[protocol.column(k)]) / drawn for k in DEPTH_METRICS}


def summarize_semantic_resamples(counts: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`summarize_semantic` for R reweightings of N frames: ``counts`` (N, C, 3) per frame and class the
    ``tp``, ``gt`` and ``pred`` pixel counts (class c+1 at index c), ``weights`` (R, N); (R,) mIoU and pixel_acc."""
    n, c, _ = counts.shape
    pooled = (weights @ counts.reshape(n, c * 3)).reshape(len(weights), c, 3)
    return segmentation_from_counts(pooled[..., 0], pooled[..., 1], pooled[..., 2])
