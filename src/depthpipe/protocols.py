"""Evaluation protocols: which pixels count, whether a prediction is averaged with its mirror image, and how
per-frame results combine into the test-set figure, so that one run reads against either literature table.

- ``standard``: Eigen et al.'s crop (rows 45:471, cols 41:601 of 480x640; ``evaluate.crop: none`` for the
  whole image), flip TTA as ``evaluate.flip_tta`` says, every metric computed per image and averaged over
  images (the protocol of most NYU tables).
- ``densedepth``: DenseDepth's ``eigen_test_crop`` (rows 20:460, cols 24:616), the prediction always averaged
  with the mirrored prediction of the mirrored image, every metric over the pixels of all test images pooled
  (how DenseDepth's evaluate.py computes its published table).

The per-frame table of the evaluate stage (``reports/eval/<variant>/per_frame.csv``) holds, per frame and
protocol, the eight per-image metrics and the :data:`~depthpipe.metrics.DEPTH_SUMS`; :func:`summarize` turns
any subset of its rows into the protocol's figure, which is what the metrics file reports and what the merge
gate bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from depthpipe.config import EvaluateConfig
from depthpipe.metrics import DEPTH_METRICS, DEPTH_SUMS, metrics_from_sums, segmentation_from_counts

PROTOCOLS: tuple[str, ...] = ("standard", "densedepth")
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
    known = {"standard": Protocol("standard", cfg.crop, cfg.flip_tta, pooled=False),
             "densedepth": Protocol("densedepth", "densedepth", True, pooled=True)}
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
