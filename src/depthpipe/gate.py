"""``depthpipe gate``: fail a change whose test metrics are worse than the baseline revision's.

The candidate is the workspace (after ``dvc repro``); the baseline is a git revision, by default the merge
base of ``HEAD`` with ``main``. ``dvc metrics diff --json --all <baseline>`` supplies both sides of every
metric in every metrics file DVC knows (``metrics/<variant>.json``); keys under ``baseline.`` (the mean-depth
baseline predictor) are not gated.

A metric regresses when it is worse than the baseline by more than ``abs_tol + rel_tol * |baseline|``, in its
own direction (lower is better for the error metrics, higher for the accuracies). Exit codes: 1 if any
metric regressed, else 2 if any gated metric is missing on either side or there is nothing to compare (or
the baseline cannot be resolved), else 0. :func:`to_markdown` renders the verdict as a PR comment.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from depthpipe.config import GateConfig
from depthpipe.errors import DepthpipeError

LOWER_IS_BETTER: frozenset[str] = frozenset({"abs_rel", "sq_rel", "rmse", "rmse_log", "log10"})
HIGHER_IS_BETTER: frozenset[str] = frozenset({"delta1", "delta2", "delta3", "miou", "pixel_acc"})
DEFAULT_BRANCH = "main"
SKIP_PREFIX = "baseline"

VERDICTS = ("regressed", "missing", "improved", "ok")


class GateError(DepthpipeError):
    """The comparison itself could not be made (exit code 2): no baseline revision, dvc failed, bad output."""

    exit_code = 2


@dataclass(frozen=True)
class GateRow:
    """One gated metric of one metrics file."""

    file: str
    metric: str  # the full key in the file, e.g. ``abs_rel`` or ``depth.abs_rel``
    old: float | None
    new: float | None
    higher_is_better: bool
    verdict: str  # ok | improved | regressed | missing
    allowed: float | None  # the tolerated worsening, abs_tol + rel_tol * |old|

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def rel_change(self) -> float | None:
        c = self.change
        if c is None or self.old in (None, 0) or not math.isfinite(c):
            return None
        return c / abs(self.old)  # type: ignore[arg-type]


@dataclass
class GateResult:
    """All gated rows plus the settings they were judged with."""

    rows: list[GateRow] = field(default_factory=list)
    baseline: str | None = None
    abs_tol: float = 0.0
    rel_tol: float = 0.0

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.rows)

    @property
    def exit_code(self) -> int:
        if self.count("regressed"):
            return 1
        if self.count("missing") or not self.rows:
            return 2
        return 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        n = len(self.rows)
        tol = f"tolerance {self.abs_tol:g} + {self.rel_tol:.4g} x |baseline|"
        if not self.rows:
            return f"FAIL (exit 2): no gated metrics to compare against baseline {self.baseline or '?'}."
        parts = [f"{self.count(v)} {v}" for v in VERDICTS if self.count(v)]
        status = {0: "PASS", 1: "FAIL", 2: "FAIL"}[self.exit_code]
        return f"{status} (exit {self.exit_code}): {n} metrics compared, {', '.join(parts)}; {tol}."


def dvc_executable() -> str:
    """The ``dvc`` next to the running interpreter (the project venv), else ``dvc`` on ``PATH``."""
    beside = Path(sys.executable).parent / "dvc"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise GateError(f"gate: no dvc executable beside {sys.executable} or on PATH")
    return found


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)


def default_baseline(root: Path, branch: str = DEFAULT_BRANCH) -> str:
    """The merge base of ``HEAD`` with ``branch`` (``origin/<branch>`` when there is no local branch)."""
    errors = []
    for ref in (branch, f"origin/{branch}"):
        try:
            proc = _git(root, "merge-base", "HEAD", ref)
        except (OSError, subprocess.SubprocessError) as exc:
            raise GateError(f"gate: cannot run git in {root} ({exc})") from None
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        errors.append((proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
    raise GateError(
        f"gate: cannot find the merge base of HEAD with {branch} in {root} ({'; '.join(errors)}); "
        f"pass --baseline <rev>"
    )


def metrics_diff(root: Path, baseline: str | None) -> dict[str, Any]:
    """``dvc metrics diff --json --all <baseline>`` in ``root`` (the workspace is the candidate), parsed.

    Returns ``{file: {metric_key: {"old": x, "new": y, "diff": d}}}``; raises :class:`GateError` when the
    baseline cannot be resolved or dvc fails.
    """
    root = Path(root)
    rev = baseline if baseline else default_baseline(root)
    cmd = [dvc_executable(), "metrics", "diff", "--json", "--all", rev]
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GateError(f"gate: cannot run {' '.join(cmd)} ({exc})") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        raise GateError(f"gate: dvc metrics diff against '{rev}' failed in {root}: {reason}")
    text = proc.stdout.strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GateError(f"gate: dvc metrics diff printed invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise GateError(f"gate: dvc metrics diff printed {type(data).__name__}, expected an object")
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _skipped(key: str) -> bool:
    """Keys under ``baseline.`` (the mean-depth predictor of the evaluate stage) are not gated."""
    return SKIP_PREFIX in key.split(".")[:-1]


def _judge(old: float | None, new: float | None, higher: bool, abs_tol: float, rel_tol: float) -> tuple[str, float | None]:
    if old is None or new is None or not math.isfinite(old):
        return "missing", None
    allowed = abs_tol + rel_tol * abs(old)
    if not math.isfinite(new):
        return "regressed", allowed  # a NaN / inf candidate is worse than any finite baseline
    worse_by = (old - new) if higher else (new - old)
    if worse_by > allowed:
        return "regressed", allowed
    if -worse_by > allowed:
        return "improved", allowed
    return "ok", allowed


def evaluate_gate(diff: Mapping[str, Any], metrics: Sequence[str], abs_tol: float, rel_tol: float) -> GateResult:
    """Judge every metric of ``diff`` (the :func:`metrics_diff` shape) whose leaf name is in ``metrics``.

    ``improved`` and ``regressed`` mean better / worse than the baseline by more than the tolerance; ``ok``
    is a change within it; ``missing``: the metric is absent (or not a number) on either side.
    """
    if abs_tol < 0 or rel_tol < 0:
        raise DepthpipeError(f"params.yaml: gate.abs_tol and gate.rel_tol must be >= 0 (got {abs_tol}, {rel_tol})")
    unknown = [m for m in metrics if m not in LOWER_IS_BETTER | HIGHER_IS_BETTER]
    if unknown:
        raise DepthpipeError(
            f"params.yaml: gate.metrics has '{unknown[0]}' with no known direction "
            f"(known: {', '.join(sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER))})"
        )
    wanted = set(metrics)
    rows: list[GateRow] = []
    for file in sorted(diff):
        entries = diff[file]
        if not isinstance(entries, Mapping):
            continue
        for key in sorted(entries):
            leaf = key.rsplit(".", 1)[-1]
            if leaf not in wanted or _skipped(key):
                continue
            entry = entries[key] if isinstance(entries[key], Mapping) else {}
            old, new = _number(entry.get("old")), _number(entry.get("new"))
            higher = leaf in HIGHER_IS_BETTER
            verdict, allowed = _judge(old, new, higher, abs_tol, rel_tol)
            rows.append(GateRow(file, key, old, new, higher, verdict, allowed))
    return GateResult(rows=rows, abs_tol=float(abs_tol), rel_tol=float(rel_tol))


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3e}"


def _fmt_change(row: GateRow) -> str:
    c = row.change
    if c is None:
        return "n/a"
    if not math.isfinite(c):
        return str(c)
    text = f"{c:+.4g}" if abs(c) >= 1e-3 or c == 0 else f"{c:+.3e}"
    rel = row.rel_change
    if rel is not None:
        text += f" ({rel * 100:+.2f}%)"
    return text


def to_markdown(result: GateResult) -> str:
    """A Markdown table of every gated metric plus a one-line summary, fit for a PR comment."""
    base = f"`{result.baseline}`" if result.baseline else "the baseline"
    lines = [
        f"### depthpipe metrics gate vs {base}",
        "",
        "| file | metric | baseline | candidate | change | verdict |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in result.rows:
        arrow = "higher is better" if r.higher_is_better else "lower is better"
        verdict = f"**{r.verdict}**" if r.verdict in ("regressed", "missing") else r.verdict
        lines.append(
            f"| {r.file} | {r.metric} ({arrow}) | {_fmt(r.old)} | {_fmt(r.new)} | {_fmt_change(r)} | {verdict} |"
        )
    if not result.rows:
        lines.append("| - | - | - | - | - | **missing** |")
    lines += ["", f"**{result.summary()}**", ""]
    return "\n".join(lines)


def run_gate(root: Path, baseline: str | None, cfg: GateConfig) -> tuple[str, int]:
    """Diff, judge and render: ``(markdown, exit_code)``. A baseline that cannot be resolved gives exit 2."""
    metrics, abs_tol, rel_tol = list(cfg.metrics), cfg.abs_tol, cfg.rel_tol
    try:
        rev = baseline if baseline else default_baseline(Path(root))
        diff = metrics_diff(Path(root), rev)
    except GateError as exc:
        text = f"### depthpipe metrics gate\n\n**FAIL (exit 2): {exc}**\n"
        return text, 2
    result = evaluate_gate(diff, metrics, abs_tol, rel_tol)
    result.baseline = rev if baseline else f"{rev[:12]} (merge base with {DEFAULT_BRANCH})"
    return to_markdown(result), result.exit_code
