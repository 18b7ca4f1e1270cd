"""Experiments at team scale, for real on the tiny recipe: queued and ``--temp`` experiments run in their own
workspaces and leave the parent's files untouched, all log to the one MLflow store, and a DVC remote lets a
fresh clone pull every output and retrain nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest
from project_fixtures import dvc, run

pytestmark = pytest.mark.slow
NOT_WORKSPACE = (".git", ".dvc/tmp", ".dvc/cache", "mlflow.db", "mlflow.db.lock", "mlartifacts")


@pytest.fixture(scope="module")
def team(tiny_project, tmp_path_factory):
    from conftest import project_copy

    return project_copy(tiny_project, tmp_path_factory.mktemp("team") / "repo")


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file of the workspace (git internals, DVC cache and tmp, and the MLflow store aside)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not str(p.relative_to(root)).startswith(NOT_WORKSPACE)}


def _exp_runs(root: Path) -> dict[str, list[tuple[str, str]]]:
    """``{experiment name: [(stage, status), ...]}`` of the MLflow store's stage runs."""
    con = sqlite3.connect(root / "mlflow.db")
    try:
        rows = con.execute("select t.value, s.value, r.status from runs r "
                           "join tags t on t.run_uuid = r.run_uuid and t.key = 'dvc.exp_name' "
                           "join tags s on s.run_uuid = r.run_uuid and s.key = 'dvc.stage'").fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for exp, stage, status in rows:
        out.setdefault(exp, []).append((stage, status))
    return out


def _wait_for_queue(root: Path, env: dict[str, str], timeout_s: float = 900) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(dvc("queue", "status"), root, env).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        time.sleep(5)
    pytest.fail(f"queued experiments not done after {timeout_s:.0f} s:\n{status}")


def _metrics_of(show: list, name: str) -> dict:
    for baseline in show:
        for exp in baseline.get("experiments") or []:
            if exp.get("name") == name:
                rev = exp["revs"][0]["data"]
                return rev["metrics"]["metrics/semantic_booster.json"]["data"]
    raise AssertionError(f"experiment {name} not in dvc exp show")


def test_queued_experiments_run_apart_and_all_log(team) -> None:
    root, env, _ = team
    before = _snapshot(root)
    for seed in (1, 2):
        run(dvc("exp", "run", "--queue", "-n", f"seed{seed}", "-S", "recipe=tiny",
                "-S", f"train.semantic_booster.seed={seed}"), root, env)
    # one parallel case, kept small: one variant retrains, each experiment on one core (two torch processes
    # spinning on the same 2 cores slow each other down tenfold)
    run(dvc("queue", "start", "-j", "2"), root, env | {"OMP_NUM_THREADS": "1"})
    status = _wait_for_queue(root, env)
    assert status.count("Success") == 2 and "Failed" not in status, status
    show = json.loads(run(dvc("exp", "show", "--json"), root, env).stdout)
    seed1, seed2 = _metrics_of(show, "seed1"), _metrics_of(show, "seed2")
    assert seed1["standard"]["abs_rel"] != seed2["standard"]["abs_rel"]
    runs = _exp_runs(root)
    for name in ("seed1", "seed2"):
        stages = dict(runs[name])
        assert {"train@semantic_booster", "evaluate@semantic_booster"} <= set(stages), stages
        assert all(status == "FINISHED" for status in stages.values()), stages
    assert _snapshot(root) == before  # the parent workspace is byte-identical


def test_a_temp_experiment_leaves_the_parent_alone(team) -> None:
    root, env, _ = team
    before = _snapshot(root)
    run(dvc("exp", "run", "--temp", "-n", "grid2", "-S", "recipe=tiny", "-S", "evaluate.grid_frames=2"), root, env)
    assert _snapshot(root) == before
    assert {stage for stage, _ in _exp_runs(root)["grid2"]} == {"evaluate@densedepth", "evaluate@semantic_booster"}


def test_a_remote_lets_a_fresh_clone_retrain_nothing(team, tmp_path) -> None:
    root, env, _ = team
    run(dvc("remote", "add", "-d", "shared", str(tmp_path / "remote")), root, env)
    run(["git", "commit", "-qam", "the team's remote"], root, env)
    run(dvc("push"), root, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(root), str(clone)], tmp_path, env)
    run(dvc("pull"), clone, env)
    assert json.loads(run(dvc("status", "--json"), clone, env).stdout) == {}
    res = run(dvc("repro"), clone, env)
    assert "Running stage" not in res.stdout
    assert (clone / "models" / "densedepth" / "model.pt").read_bytes() == (root / "models" / "densedepth" / "model.pt").read_bytes()
