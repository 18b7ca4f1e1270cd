"""Evaluation protocols: which pixels count, whether a prediction is averaged with its mirror image, and how
per-frame results combine into the test-set figure, so that one run reads against either literature table.

- ``standard``: Eigen et al.'s crop (rows 45:471, cols 41:601 of 480x640; ``evaluate.crop: none`` for the
  whole image), flip TTA as ``evaluate.flip_tta`` says, every metric computed per image and averaged over
  images: the evaluation of BTS and AdaBins, which most NYU tables follow.
- ``densedepth``: DenseDepth's ``evaluate.py``/``utils.py`` as its repository has them since commit fdcef58
  ("Fixed incorrect computation of RMSE", Aug 2019, after the paper): ``eigen_test_crop`` (rows 20:460, cols
  24:616), the prediction always averaged with the mirrored prediction of the mirrored image, every metric over
  the pixels of all test images pooled. Two differences: abs_rel here divides by the ground truth, where
  DenseDepth's ``compute_errors(predictions, testSetDepths)`` call, its arguments swapped, divides by the
  prediction (the other five figures it prints are symmetric in the two); and only ground truth in
  (``evaluate.min_depth``, ``prepare.max_depth``] counts, where DenseDepth counts every pixel: nyu_test.zip's
  depths are hole-filled and within that range, so the mask removes nothing there, while sets with holes
  (0 = no measurement) would otherwise divide by zero.

:data:`FOLLOWS` says this per protocol; :func:`reference_of` gives the published figures each one reads against
(:data:`RELEASED_MODEL` under ``densedepth``, :data:`PAPER_TABLE` under ``standard``, with what makes them
comparable), and :func:`reference_table` sets a run's figures beside them.

The per-frame table of the evaluate stage (``reports/eval/<variant>/per_frame.csv``) holds, per frame and
protocol, the eight per-image metrics and the :data:`~depthpipe.metrics.depth.DEPTH_SUMS`; :func:`summarize` turns
any subset of its rows into the protocol's figure, which is what the metrics file reports;
:func:`summarize_resamples` computes the same figure for many reweightings of the frames at once (the merge
gate's bootstrap resamples).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthpipe.config import EvaluateConfig
from depthpipe.metrics.depth import DEPTH_METRICS, DEPTH_SUMS, metrics_from_sums
from depthpipe.metrics.segmentation import segmentation_from_counts

PROTOCOLS: tuple[str, ...] = ("standard", "densedepth")
POOLED: dict[str, bool] = {"standard": False, "densedepth": True}  # pooled pixels, or per-image means
SEMANTIC = "semantic"
FOLLOWS: dict[str, str] = {
    "standard": "Eigen et al.'s crop, per-image metrics averaged over the test images (the NYU evaluation of BTS "
    "and AdaBins); flip TTA as evaluate.flip_tta says",
    "densedepth": "DenseDepth's evaluate.py + utils.py since commit fdcef58 (Aug 2019): eigen_test_crop, flip TTA, "
    "all test pixels pooled; abs_rel divided by the ground truth (its own call divides by the prediction)",
}


@dataclass(frozen=True)
class Reference:
    """Published figures a protocol's metrics read against: whose, under what code, and how far they compare.

    ``metrics`` holds only the figures this protocol defines the same way (its metric names); ``extra``, figures
    with no counterpart here, such as abs_rel as DenseDepth's own code computes it.
    """

    name: str
    source: str
    note: str
    metrics: Mapping[str, float]
    extra: Mapping[str, float]


# DenseDepth's released NYU model (nyu.h5, published in January 2019) scored by its evaluate.py at HEAD on
# nyu_test.zip, with the four decimals it prints (ialhashim/DenseDepth issue #98, also #75; abs_rel divided by the
# ground truth: #98, once the swapped call is put right). That model predates its repository's train.py as it is
# now (full-width decoder, no activation after convA; train.py now builds a half-width decoder with LeakyReLU
# after both convolutions), so no model today's train.py makes is known to score these figures. The author: the
# paper's table came from another code base and training schedule.
RELEASED_MODEL = Reference(
    name="DenseDepth's released nyu.h5 (early 2019) under its own evaluate.py",
    source="ialhashim/DenseDepth issues #75 and #98: evaluate.py (since fdcef58) on nyu_test.zip",
    note="the same code as this protocol; the figures of the released early-2019 nyu.h5, not of a model trained "
    "by DenseDepth's train.py as it is today; abs_rel divided by the ground truth (0.1234) and as DenseDepth's "
    "swapped call computes it, divided by the prediction (abs_rel_as_coded, 0.1274)",
    metrics={
        "delta1": 0.8471,
        "delta2": 0.9731,
        "delta3": 0.9937,
        "abs_rel": 0.1234,
        "rmse": 0.5485,
        "log10": 0.0535,
    },
    extra={"abs_rel_as_coded": 0.1274},
)
# Alhashim and Wonka 2018, Table 1 (NYU Depth v2).
PAPER_TABLE = Reference(
    name="DenseDepth's paper, Table 1",
    source="Alhashim and Wonka 2018, arXiv:1812.11941, Table 1",
    note="per-image means, as this protocol computes them (and DenseDepth's utils.py did until Aug 2019); the "
    "paper's crop and flip TTA are not published (its author: another code base and schedule); sq_rel and "
    "rmse_log are not in the table; given for the Eigen crop only",
    metrics={"delta1": 0.846, "delta2": 0.974, "delta3": 0.994, "abs_rel": 0.123, "rmse": 0.465, "log10": 0.053},
    extra={},
)


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


def reference_of(protocol: Protocol) -> Reference | None:
    """The published figures ``protocol`` reads against: :data:`RELEASED_MODEL` for ``densedepth``,
    :data:`PAPER_TABLE` for ``standard`` with the Eigen crop (per-image means, like the paper's), else None."""
    if protocol.name == "densedepth":
        return RELEASED_MODEL
    if protocol.name == "standard" and protocol.crop == "eigen":
        return PAPER_TABLE
    return None


def reference_tags(protocols: Sequence[Protocol], figures: bool = True) -> dict[str, str]:
    """MLflow tags naming, per protocol, the code it follows (``depthpipe.protocol.<protocol>``) and, with
    ``figures``, its reference figures (``depthpipe.reference.<protocol>/<metric>``), so a run's page shows them
    beside its metrics."""
    tags: dict[str, str] = {}
    for p in protocols:
        tags[f"depthpipe.protocol.{p.name}"] = FOLLOWS[p.name]
        ref = reference_of(p)
        if ref is None or not figures:
            continue
        tags[f"depthpipe.reference.{p.name}"] = f"{ref.name} ({ref.source}); {ref.note}"
        tags |= {f"depthpipe.reference.{p.name}/{k}": f"{v:g}" for k, v in {**ref.metrics, **ref.extra}.items()}
    return tags


def reference_table(metrics: Mapping[str, Mapping[str, float]], protocols: Sequence[Protocol]) -> dict[str, list[Any]]:
    """The run's figures beside the references, one row per protocol and metric that has a reference:
    ``{"columns": [protocol, metric, model, reference, model - reference, reference figures], "data": rows}``
    (the layout of an MLflow table). A reference figure without a counterpart here has an empty model cell."""
    columns = ["protocol", "metric", "model", "reference", "model - reference", "reference figures"]
    rows: list[list[Any]] = []
    for p in protocols:
        ref = reference_of(p)
        if ref is None:
            continue
        for key, value in {**ref.metrics, **ref.extra}.items():
            model = metrics.get(p.name, {}).get(key)
            diff = None if model is None else round(float(model) - value, 6)
            rows.append([p.name, key, model, value, diff, ref.name])
    return {"columns": columns, "data": rows}


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
