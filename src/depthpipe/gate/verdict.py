"""``depthpipe gate``: read both sides' evidence, judge every metric, render the verdict and log it to MLflow.

The candidate is the workspace (after ``dvc repro``); the baseline is a git revision, by default the merge base
of ``HEAD`` with ``main`` (:func:`default_baseline`). The judgement is :mod:`depthpipe.gate.compare`'s, the
Markdown :mod:`depthpipe.gate.report`'s; the table is also logged as ``gate.md`` to the candidate's evaluate run.

Exit codes: 1 if a metric regressed (with ``strict`` also if one is inconclusive), 2 when the comparison
cannot be made (unknown revision, a missing file, different frame sets, nothing to compare), else 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from depthpipe.config import VARIANTS, GateConfig
from depthpipe.errors import DepthpipeError, one_line
from depthpipe.files import sha256_file
from depthpipe.gate.compare import compare
from depthpipe.gate.evidence import PER_FRAME, GateError, eval_path, git, load_pairs, resolve_revision
from depthpipe.gate.report import failure_markdown, to_markdown
from depthpipe.tracking import runs, store

DEFAULT_BRANCH = "main"


def default_baseline(root: Path, branch: str = DEFAULT_BRANCH) -> str:
    """The merge base of ``HEAD`` with ``branch`` (``origin/<branch>`` when there is no local branch)."""
    errors = []
    for ref in (branch, f"origin/{branch}"):
        proc = git(Path(root), "merge-base", "HEAD", ref)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        errors.append((proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
    raise GateError(
        f"gate: cannot find the merge base of HEAD with {branch} in {root} ({'; '.join(errors)}); pass --baseline <rev>"
    )


def log_table(root: Path, variants: Sequence[str], table: str) -> None:
    """Log ``table`` as ``gate.md`` to each variant's evaluate run that wrote the workspace's per_frame.csv
    (found by its ``depthpipe.per_frame_sha256`` tag). One line on stderr says what happened; MLflow being out
    of reach is such a line, never an exception."""
    if not store.store_exists():
        print(f"gate: no MLflow store at {store.shown()}; gate.md not logged", file=sys.stderr)
        return
    try:
        store.check_store()  # one try, seconds: a server that is down is not waited for through MLflow's retries
        found = {v: runs.evaluate_run_of(sha256_file(Path(root) / eval_path(v, PER_FRAME)), v) for v in variants}
        for run_id in {r for r in found.values() if r}:
            runs.log_text(run_id, table, "gate.md")
    except Exception as exc:  # noqa: BLE001 - MLflow must not change the verdict
        reason = store.redacted_text(one_line(exc))
        print(f"gate: MLflow not reached ({type(exc).__name__}: {reason}); gate.md not logged", file=sys.stderr)
        return
    said = ", ".join(
        f"{v}: run {r}" if r else f"{v}: no evaluate run with this per_frame.csv" for v, r in found.items()
    )
    print(f"gate: gate.md logged to MLflow ({said})", file=sys.stderr)


def run_gate(
    root: Path, baseline: str | None, cfg: GateConfig, strict: bool = False, log_to_mlflow: bool = True
) -> tuple[str, int]:
    """Read, pair, bootstrap, judge and render: ``(markdown, exit_code)``; exit 2 when no comparison is made."""
    root = Path(root)
    label = baseline or "the merge base with main"
    try:
        rev = resolve_revision(root, baseline or default_baseline(root))
        label = baseline or f"{rev[:12]} (merge base with {DEFAULT_BRANCH})"
        pairs = load_pairs(root, rev, VARIANTS)
        result = compare(pairs, cfg, root, strict)
    except DepthpipeError as exc:
        return failure_markdown(label, str(exc)), 2
    result.baseline = label
    table = to_markdown(result, cfg)
    if log_to_mlflow:
        log_table(root, list(pairs), table)
    return table, result.exit_code
