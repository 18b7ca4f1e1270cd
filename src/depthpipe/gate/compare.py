"""The merge gate's judgement: a paired bootstrap over the per-frame test evidence tells a regression from noise.

For every variant whose ``reports/eval/<variant>/per_frame.csv`` exists (on both
sides: :mod:`depthpipe.gate.evidence`), with the frames paired by id, and for every protocol column group both sides
hold (plus ``semantic`` when both have class counts), each metric of ``gate.metrics`` gets:

- the headline figure on each side, exactly as ``metrics/<variant>.json`` reports it
  (:func:`depthpipe.evaluation.protocols.summarize` / :func:`~depthpipe.evaluation.protocols.summarize_semantic`);
- the candidate-minus-baseline difference and its ``gate.confidence`` percentile interval from
  ``gate.resamples`` paired resamples of the frames (seeded by ``gate.seed``, the same frame draws for both
  sides; pooled figures recomputed from the pooled sums or class counts of each resample:
  :mod:`depthpipe.gate.resampling`);
- a verdict against the tolerance t (``gate.tolerance: fixed``: ``abs_tol + rel_tol * |baseline|``;
  ``seeds``: the max-min spread of the metric over training seeds, ``reports/seeds/<variant>.json`` from
  ``depthpipe seeds``), worsening measured in the metric's own direction: ``regressed`` when the whole interval
  is worse than t, ``inconclusive`` when it straddles t, ``improved`` when the whole interval is better than -t,
  ``ok`` otherwise.

:class:`GateResult` collects the :class:`Comparison` s; reading both sides and rendering the verdict:
:mod:`depthpipe.gate.verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthpipe.config import GateConfig
from depthpipe.errors import DepthpipeError
from depthpipe.evaluation.protocols import (
    PROTOCOLS,
    SEMANTIC,
    recorded_protocols,
    summarize,
    summarize_resamples,
    summarize_semantic,
    summarize_semantic_resamples,
)
from depthpipe.gate.evidence import FrameTable, GateError
from depthpipe.gate.resampling import paired_weights, percentile_interval
from depthpipe.gate.spreads import read_spreads, seeds_path
from depthpipe.metrics.depth import DEPTH_METRICS

LOWER_IS_BETTER: frozenset[str] = frozenset({"abs_rel", "sq_rel", "rmse", "rmse_log", "log10"})
HIGHER_IS_BETTER: frozenset[str] = frozenset({"delta1", "delta2", "delta3", "miou", "pixel_acc"})
SEMANTIC_METRICS: tuple[str, ...] = ("miou", "pixel_acc")
VERDICTS = ("regressed", "inconclusive", "improved", "ok")

__all__ = ["GateError", "Comparison", "GateResult", "judge", "compare"]


@dataclass(frozen=True)
class Comparison:
    """One metric of one variant and group (a protocol, or ``semantic``), judged."""

    variant: str
    group: str
    metric: str
    baseline: float
    candidate: float
    low: float  # the interval of candidate - baseline
    high: float
    tolerance: float
    verdict: str

    @property
    def difference(self) -> float:
        return self.candidate - self.baseline

    @property
    def higher_is_better(self) -> bool:
        return self.metric in HIGHER_IS_BETTER


@dataclass
class GateResult:
    """Every comparison, with what the table needs to say how they were made."""

    comparisons: list[Comparison] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)  # paired frames per variant
    notes: list[str] = field(default_factory=list)  # groups compared on one side only
    baseline: str = "?"
    strict: bool = False

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.comparisons)

    @property
    def exit_code(self) -> int:
        if not self.comparisons:
            return 2
        if self.count("regressed") or (self.strict and self.count("inconclusive")):
            return 1
        return 0


def judge(low: float, high: float, tolerance: float, higher_is_better: bool) -> str:
    """The verdict on an interval ``[low, high]`` of candidate - baseline, given the tolerated worsening."""
    worse_low, worse_high = (-high, -low) if higher_is_better else (low, high)
    if worse_low > tolerance:
        return "regressed"
    if worse_high > tolerance:
        return "inconclusive"
    if worse_high < -tolerance:
        return "improved"
    return "ok"


def _groups(
    base: FrameTable, cand: FrameTable, metrics: Sequence[str], variant: str, notes: list[str]
) -> list[tuple[str, list[str]]]:
    """``(group, metrics)`` both sides can be compared on; one-sided groups become notes."""
    depth = [m for m in metrics if m in DEPTH_METRICS]
    semantic = [m for m in metrics if m in SEMANTIC_METRICS]
    sides = {"baseline": base, "candidate": cand}
    have = {
        side: {p.name for p in recorded_protocols(t.rows[0])} | ({SEMANTIC} if t.class_rows else set())
        for side, t in sides.items()
    }
    groups = []
    order = [*PROTOCOLS, SEMANTIC]  # recorded_protocols knows no others
    for name in sorted(have["baseline"] | have["candidate"], key=order.index):
        wanted = semantic if name == SEMANTIC else depth
        lacking = [side for side in sides if name not in have[side]]
        if lacking and wanted:
            notes.append(f"{variant}: {name} not compared (the {lacking[0]} has no {name} evidence)")
        elif wanted:
            groups.append((name, wanted))
    return groups


def _headline_and_resamples(table: FrameTable, group: str, weights: np.ndarray) -> tuple[dict, dict]:
    """The headline figures of one side's group and their (R,) resampled values."""
    if group == SEMANTIC:
        assert table.counts is not None, "a semantic group is only compared when both sides have class counts"
        return summarize_semantic(table.class_rows), summarize_semantic_resamples(table.counts, weights)
    (protocol,) = [p for p in recorded_protocols(table.rows[0]) if p.name == group]
    return summarize(table.rows, protocol), summarize_resamples(table.columns, weights, protocol)


def compare_variant(
    variant: str,
    base: FrameTable,
    cand: FrameTable,
    cfg: GateConfig,
    spreads: Mapping[str, Mapping[str, float]] | None,
    notes: list[str],
) -> list[Comparison]:
    """Every gated metric of one variant; ``spreads`` (group -> metric -> t) replaces the fixed tolerance."""
    weights = paired_weights(len(base.frames), cfg.resamples, cfg.seed)
    out = []
    for group, metrics in _groups(base, cand, cfg.metrics, variant, notes):
        (b_head, b_draws), (c_head, c_draws) = (_headline_and_resamples(t, group, weights) for t in (base, cand))
        for metric in metrics:
            low, high = percentile_interval(c_draws[metric] - b_draws[metric], cfg.confidence)
            t = cfg.abs_tol + cfg.rel_tol * abs(b_head[metric]) if spreads is None else spreads[group][metric]
            verdict = judge(low, high, t, metric in HIGHER_IS_BETTER)
            out.append(Comparison(variant, group, metric, b_head[metric], c_head[metric], low, high, t, verdict))
    return out


def _seed_spreads(root: Path, variant: str, cfg: GateConfig, groups: Sequence[str]) -> dict[str, dict[str, float]]:
    path = seeds_path(root, variant)
    try:
        spreads = read_spreads(path)
    except DepthpipeError as exc:
        raise GateError(str(exc)) from None
    for group in groups:
        for metric in SEMANTIC_METRICS if group == SEMANTIC else DEPTH_METRICS:
            if metric in cfg.metrics and metric not in spreads.get(group, {}):
                raise GateError(
                    f"{path}: no spread for {group}/{metric} (rerun `depthpipe seeds {variant}` "
                    f"or set gate.tolerance: fixed)"
                )
    return spreads


def compare(
    pairs: Mapping[str, tuple[FrameTable, FrameTable]], cfg: GateConfig, root: Path, strict: bool = False
) -> GateResult:
    """Judge every variant of ``pairs``; with ``gate.tolerance: seeds`` t comes from the seed studies in ``root``."""
    result = GateResult(strict=strict)
    for variant, (base, cand) in pairs.items():
        spreads = None
        if cfg.tolerance == "seeds":
            groups = [g for g, _ in _groups(base, cand, cfg.metrics, variant, [])]
            spreads = _seed_spreads(Path(root), variant, cfg, groups)
        result.comparisons += compare_variant(variant, base, cand, cfg, spreads, result.notes)
        result.frames[variant] = len(base.frames)
    return result
