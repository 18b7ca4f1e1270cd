"""The metrics gate: pure verdict logic, and the real ``dvc metrics diff`` on a throw-away git + DVC repo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from depthpipe.config import GateConfig
from depthpipe.errors import DepthpipeError
from depthpipe.gate import (
    GateError,
    evaluate_gate,
    metrics_diff,
    run_gate,
    to_markdown,
)

METRICS = ["abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3", "miou", "pixel_acc"]
GATE = GateConfig(abs_tol=0.0, rel_tol=0.02, metrics=METRICS)
V1 = {
    "abs_rel": 0.200, "sq_rel": 0.150, "rmse": 0.700, "rmse_log": 0.250, "log10": 0.085,
    "delta1": 0.700, "delta2": 0.900, "delta3": 0.970, "frames": 10,
    "baseline": {"abs_rel": 0.500, "rmse": 1.5, "delta1": 0.3},
}


def diff_of(old: dict, new: dict, file: str = "metrics/densedepth.json") -> dict:
    keys = sorted(set(old) | set(new))
    return {file: {k: {"old": old.get(k), "new": new.get(k)} for k in keys}}


# --- pure unit tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric, old, new, verdict",
    [
        ("abs_rel", 0.20, 0.20, "ok"),
        ("abs_rel", 0.20, 0.203, "ok"),  # +1.5% within 2%
        ("abs_rel", 0.20, 0.21, "regressed"),  # +5%: lower is better
        ("abs_rel", 0.20, 0.18, "improved"),
        ("rmse", 0.70, 0.80, "regressed"),
        ("log10", 0.085, 0.07, "improved"),
        ("delta1", 0.70, 0.60, "regressed"),  # higher is better
        ("delta1", 0.70, 0.80, "improved"),
        ("delta1", 0.70, 0.69, "ok"),  # -1.4% within 2%
        ("miou", 0.30, 0.25, "regressed"),
        ("pixel_acc", 0.60, 0.70, "improved"),
        ("abs_rel", None, 0.20, "missing"),
        ("abs_rel", 0.20, None, "missing"),
        ("abs_rel", 0.20, float("nan"), "regressed"),
    ],
)
def test_directions_and_verdicts(metric, old, new, verdict):
    result = evaluate_gate({"m.json": {metric: {"old": old, "new": new}}}, METRICS, 0.0, 0.02)
    assert [r.verdict for r in result.rows] == [verdict]
    expected_code = {"ok": 0, "improved": 0, "regressed": 1, "missing": 2}[verdict]
    assert result.exit_code == expected_code


def test_abs_tol_and_exact_boundary():
    # worse by exactly abs_tol + rel_tol*|old| is still ok; a hair more regresses
    d = {"m.json": {"rmse": {"old": 1.0, "new": 1.25}}}
    assert evaluate_gate(d, METRICS, 0.05, 0.2).rows[0].verdict == "ok"
    assert evaluate_gate(d, METRICS, 0.0, 0.2).rows[0].verdict == "regressed"


def test_skips_baseline_keys_unlisted_metrics_and_frames():
    old = {"abs_rel": 0.2, "frames": 10, "baseline.abs_rel": 0.5, "depth.delta1": 0.7}
    new = {"abs_rel": 0.2, "frames": 99, "baseline.abs_rel": 9.0, "depth.delta1": 0.7}
    result = evaluate_gate(diff_of(old, new), ["abs_rel", "delta1"], 0.0, 0.02)
    assert [r.metric for r in result.rows] == ["abs_rel", "depth.delta1"]  # nested leaf matched, baseline skipped
    assert result.exit_code == 0


def test_regressed_beats_missing_and_empty_is_2():
    d = diff_of({"abs_rel": 0.2, "delta1": 0.7}, {"abs_rel": 0.3})
    assert evaluate_gate(d, METRICS, 0.0, 0.02).exit_code == 1
    assert evaluate_gate({}, METRICS, 0.0, 0.02).exit_code == 2
    assert evaluate_gate(diff_of({"frames": 1}, {"frames": 2}), METRICS, 0.0, 0.02).exit_code == 2


def test_unknown_metric_or_negative_tolerance_is_a_params_error():
    with pytest.raises(DepthpipeError, match="gate.metrics"):
        evaluate_gate({}, ["accuracy"], 0.0, 0.02)
    with pytest.raises(DepthpipeError, match="gate.abs_tol"):
        evaluate_gate({}, METRICS, -1.0, 0.02)


def test_markdown_table():
    d = diff_of({"abs_rel": 0.2, "delta1": 0.7}, {"abs_rel": 0.25, "delta1": 0.71})
    result = evaluate_gate(d, METRICS, 0.0, 0.02)
    result.baseline = "main"
    md = to_markdown(result)
    lines = md.splitlines()
    assert "| file | metric | baseline | candidate | change | verdict |" in lines
    row = next(ln for ln in lines if "| abs_rel" in ln)
    assert "0.2 |" in row and "0.25 |" in row and "+0.05 (+25.00%)" in row and "**regressed**" in row
    row = next(ln for ln in lines if "| delta1" in ln)
    assert "+0.01 (+1.43%)" in row and row.rstrip().endswith("| ok |")
    assert any(ln.startswith("**FAIL (exit 1)") and "1 regressed" in ln for ln in lines)
    assert md.isascii()  # no emojis


# --- the real dvc metrics diff -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def write_metrics(repo: Path, metrics: dict, name: str = "densedepth") -> None:
    (repo / "metrics").mkdir(exist_ok=True)
    (repo / "metrics" / f"{name}.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """main: dvc.yaml declaring metrics/densedepth.json + v1 metrics; HEAD: branch ``feature`` off main."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.name", "depthpipe test")
    git(r, "config", "user.email", "test@example.com")
    git(r, "config", "commit.gpgsign", "false")
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run([str(dvc) if dvc.exists() else "dvc", "init", "-q"], cwd=r, check=True)
    (r / "dvc.yaml").write_text("metrics:\n  - metrics/densedepth.json\n")
    write_metrics(r, V1)
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "v1 metrics")
    git(r, "checkout", "-q", "-b", "feature")
    return r


def test_identical_metrics_pass(repo: Path):
    diff = metrics_diff(repo, "main")
    assert diff["metrics/densedepth.json"]["abs_rel"]["old"] == pytest.approx(0.2)
    text, code = run_gate(repo, "main", GATE)
    assert code == 0, text
    assert "PASS (exit 0)" in text and "| baseline.abs_rel" not in text


def test_default_baseline_is_merge_base_with_main(repo: Path):
    write_metrics(repo, {**V1, "abs_rel": 0.5})
    git(repo, "commit", "-q", "-am", "worse")
    text, code = run_gate(repo, None, GATE)  # merge-base(HEAD, main) = the v1 commit
    assert code == 1, text
    assert "merge base with main" in text


def test_worse_abs_rel_committed_fails(repo: Path):
    write_metrics(repo, {**V1, "abs_rel": 0.25})  # +25% > 2%
    git(repo, "commit", "-q", "-am", "worse abs_rel")
    text, code = run_gate(repo, "main", GATE)
    assert code == 1, text
    assert "**regressed**" in next(ln for ln in text.splitlines() if "| abs_rel" in ln)


def test_worse_delta1_in_workspace_fails(repo: Path):
    write_metrics(repo, {**V1, "delta1": 0.60})  # uncommitted: the workspace is the candidate
    text, code = run_gate(repo, "main", GATE)
    assert code == 1, text
    assert "**regressed**" in next(ln for ln in text.splitlines() if "| delta1" in ln)


def test_change_within_tolerance_passes(repo: Path):
    write_metrics(repo, {**V1, "abs_rel": 0.203, "delta1": 0.695, "rmse": 0.69,
                         "baseline": {"abs_rel": 9.0, "rmse": 9.0, "delta1": 0.0}})
    text, code = run_gate(repo, "main", GATE)
    assert code == 0, text


def test_unknown_baseline_revision_is_2(repo: Path):
    with pytest.raises(GateError, match="no-such-rev"):
        metrics_diff(repo, "no-such-rev")
    text, code = run_gate(repo, "no-such-rev", GATE)
    assert code == 2 and "no-such-rev" in text


def test_no_metrics_at_baseline_is_2(repo: Path):
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-q", "-r", "--cached", "metrics")
    git(repo, "commit", "-q", "-m", "no metrics yet")
    empty = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-f", "feature")
    text, code = run_gate(repo, empty, GATE)
    assert code == 2, text
    assert "**missing**" in text


def test_no_merge_base_is_2(tmp_path: Path):
    r = tmp_path / "lonely"
    r.mkdir()
    git(r, "init", "-q", "-b", "trunk")
    git(r, "config", "user.name", "t")
    git(r, "config", "user.email", "t@example.com")
    (r / "x").write_text("x")
    git(r, "add", "x")
    git(r, "commit", "-q", "-m", "x")
    with pytest.raises(GateError, match="merge base"):
        metrics_diff(r, None)
    assert run_gate(r, None, GATE)[1] == 2
