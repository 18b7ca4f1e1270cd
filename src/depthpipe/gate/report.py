"""The merge gate's verdict as Markdown: a one-line summary, then one table row per variant and metric.

The same text is printed by ``depthpipe gate``, posted on the pull request by ``.github/workflows/pr.yml`` and
logged as ``gate.md`` to the candidate's MLflow evaluate run. ASCII only.
"""

from __future__ import annotations

import math

from depthpipe.config import GateConfig
from depthpipe.gate.compare import VERDICTS, Comparison, GateResult

TITLE = "depthpipe merge gate"
EXIT_WORDS = {0: "PASS", 1: "FAIL", 2: "FAIL"}


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3e}"


def _signed(x: float) -> str:
    if not math.isfinite(x) or x == 0:
        return str(x) if x else "0"
    return f"{x:+.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:+.3e}"


def summary_line(result: GateResult) -> str:
    """``PASS (exit 0): 20 metrics compared: 2 improved, 18 ok.`` (counts per verdict and the exit code)."""
    code = result.exit_code
    if not result.comparisons:
        return f"FAIL (exit 2): nothing to compare against {result.baseline} (no gated metric on both sides)."
    counts = ", ".join(f"{result.count(v)} {v}" for v in VERDICTS if result.count(v))
    strict = " (--strict: inconclusive fails too)" if result.strict else ""
    return f"{EXIT_WORDS[code]} (exit {code}): {len(result.comparisons)} metrics compared: {counts}{strict}."


def method_line(result: GateResult, cfg: GateConfig) -> str:
    """How the intervals and tolerances were made."""
    frames = ", ".join(f"{v} {n}" for v, n in result.frames.items())
    tol = (
        f"t = {cfg.abs_tol:g} + {cfg.rel_tol:g} x abs(baseline)"
        if cfg.tolerance == "fixed"
        else "t = the max-min spread over training seeds (reports/seeds/<variant>.json)"
    )
    return (
        f"Paired bootstrap over the test frames ({frames}): {cfg.resamples} resamples, seed {cfg.seed}, "
        f"{_pct(cfg.confidence)} percentile interval of candidate - baseline; {tol}."
    )


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _row(c: Comparison) -> str:
    better = "higher" if c.higher_is_better else "lower"
    verdict = f"**{c.verdict}**" if c.verdict in ("regressed", "inconclusive") else c.verdict
    return (
        f"| {c.variant} | {c.group}/{c.metric} | {better} | {_num(c.baseline)} | {_num(c.candidate)} | "
        f"{_signed(c.difference)} | [{_signed(c.low)}, {_signed(c.high)}] | {_num(c.tolerance)} | {verdict} |"
    )


def to_markdown(result: GateResult, cfg: GateConfig) -> str:
    """The summary line on top, the method, the table and notes on metrics compared on one side only."""
    lines = [
        f"### {TITLE} vs `{result.baseline}`",
        "",
        f"**{summary_line(result)}**",
        "",
        method_line(result, cfg),
        "",
        f"| variant | metric | better | baseline | candidate | difference | {_pct(cfg.confidence)} interval "
        f"| tolerance | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *(_row(c) for c in result.comparisons),
    ]
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines) + "\n"


def failure_markdown(baseline: str, reason: str) -> str:
    """The report when no comparison could be made (exit 2): the reason, one line."""
    return f"### {TITLE} vs `{baseline}`\n\n**FAIL (exit 2): {reason}**\n"
