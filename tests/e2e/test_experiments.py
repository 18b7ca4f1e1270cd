"""Experiments at team scale, for real on the tiny recipe: queued and ``--temp`` experiments run in their own
workspaces and leave the parent's files untouched, and all log to the one MLflow store. (A fresh clone that pulls
every output from the team's DVC remote and retrains nothing: tests/e2e/test_team_stack.py, teammate B.)"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from helpers.project import dvc, ran_stages, run

pytestmark = pytest.mark.slow
NOT_WORKSPACE = (".git", ".dvc/tmp", ".dvc/cache", "mlflow.db", "mlflow.db.lock", "mlartifacts")


@pytest.fixture(scope="module")
def team(tiny_project, tmp_path_factory):
    from conftest import project_copy

    return project_copy(tiny_project, tmp_path_factory.mktemp("team") / "repo")


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file of the workspace (git internals, DVC cache and tmp, and the MLflow store aside)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(NOT_WORKSPACE)
    }


def _store_rows(root: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """The rows of one query on the workspace's MLflow store (``mlflow.db``)."""
    con = sqlite3.connect(root / "mlflow.db")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _exp_runs(root: Path) -> dict[str, list[tuple[str, str]]]:
    """``{experiment name: [(stage, status), ...]}`` of the MLflow store's stage runs."""
    rows = _store_rows(
        root,
        "select t.value, s.value, r.status from runs r "
        "join tags t on t.run_uuid = r.run_uuid and t.key = 'dvc.exp_name' "
        "join tags s on s.run_uuid = r.run_uuid and s.key = 'dvc.stage'",
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for exp, stage, status in rows:
        out.setdefault(exp, []).append((stage, status))
    return out


def _stop_workers(root: Path, env: dict[str, str], grace_s: float = 10) -> None:
    """Stop the queue's workers, and kill any that outlive ``grace_s``: dvc-task's idle monitor can ask a worker
    to shut down while its task still runs, and that worker then waits for work forever (seen here; the kind of
    race of treeverse/dvc-task#77)."""
    run(dvc("queue", "stop"), root, env, ok=False)
    pids = [int(p.read_text()) for p in (root / ".dvc" / "tmp" / "exps" / "celery").glob("dvc-exp-worker-*.pid")]
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.5)
    for pid in pids:
        if _alive(pid):  # checked again: it may have ended (and its number been reused) during the last sleep
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still a DVC queue worker (not a finished one's number, taken by another process)."""
    try:
        return b"queue-worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _queue_status(root: Path) -> list[str]:
    """The status of each of the queue's tasks (``Queued``, ``Running``, ``Success``, ``Failed``), as ``dvc queue
    status`` lists them, read through DVC's API in this process: a ``dvc`` process per look would take about a
    core-second from the experiments, and its census of the workers waits on them."""
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo() as repo:
        return [task["status"] for task in repo.experiments.celery_queue.status()]


def _wait_for_queue(root: Path, timeout_s: float = 900) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _queue_status(root)
        if not {"Queued", "Running"} & set(status):
            return status
        time.sleep(1)
    pytest.fail(f"queued experiments not done after {timeout_s:.0f} s: {status}")


def test_queued_experiments_run_apart_and_all_log(team) -> None:
    """Two queued seeds of one variant (one epoch each), run side by side: each in its own workspace, each logged,
    and a train param of one variant reruns that variant's training only (the stage asked for)."""
    root, env, _ = team
    before = _snapshot(root)
    for seed in (1, 2):
        run(
            dvc(
                "exp",
                "run",
                "--queue",
                "-n",
                f"seed{seed}",
                "train@semantic_booster",
                "-S",
                "recipe=tiny",
                "-S",
                f"train.semantic_booster.seed={seed}",
                "-S",
                "train.semantic_booster.epochs=1",  # a training that runs and logs is all this needs
            ),
            root,
            env,
        )
    # one parallel case, kept small: each experiment on one core (two torch processes spinning on the same
    # 2 cores slow each other down tenfold)
    run(dvc("queue", "start", "-j", "2"), root, env | {"OMP_NUM_THREADS": "1"})  # returns while the workers run on
    try:
        status = _wait_for_queue(root)
    finally:
        _stop_workers(root, env)
    assert sorted(status) == ["Success", "Success"], status
    show = json.dumps(json.loads(run(dvc("exp", "show", "--json"), root, env).stdout))
    assert '"seed1"' in show and '"seed2"' in show
    runs = _exp_runs(root)
    for name in ("seed1", "seed2"):
        assert sorted(runs[name]) == [("train@semantic_booster", "FINISHED")]
    losses = _final_train_losses(root)
    assert losses["seed1"] != losses["seed2"]  # two seeds, two trainings
    assert _snapshot(root) == before  # the parent workspace is byte-identical


def _final_train_losses(root: Path) -> dict[str, float]:
    """``{experiment name: last train/loss}`` of the store's train runs."""
    rows = _store_rows(
        root,
        "select t.value, m.value from metrics m "
        "join tags t on t.run_uuid = m.run_uuid and t.key = 'dvc.exp_name' "
        "where m.key = 'train/loss' order by m.step",
    )
    return dict(rows)


def test_a_temp_experiment_leaves_the_parent_alone(team) -> None:
    """A ``--temp`` experiment into another MLflow experiment: the parent's files stay as they are, the MLflow
    experiment name is no param (only the stage asked for runs), its run hangs under one pipeline run there, and
    ``dvc exp show --only-changed`` fits a terminal: the changed param and the headline metrics it moved."""
    root, env, _ = team
    before = _snapshot(root)
    res = run(
        dvc(
            "exp",
            "run",
            "--temp",
            "-n",
            "tta",
            "evaluate@semantic_booster",
            "-S",
            "recipe=tiny",
            "-S",
            "evaluate.flip_tta=true",
        ),
        root,
        env | {"MLFLOW_EXPERIMENT_NAME": "other"},
    )
    assert ran_stages(res) == {"check", "evaluate@semantic_booster"}, res.stdout
    assert _snapshot(root) == before
    assert sorted(_exp_runs(root)["tta"]) == [("evaluate@semantic_booster", "FINISHED")]
    runs = _experiment_runs(root, "other")
    assert sorted(runs.values()) == [("evaluate", True), ("pipeline", False)], runs
    table = list(csv.DictReader(io.StringIO(run(dvc("exp", "show", "--only-changed", "--csv"), root, env).stdout)))
    columns = set(table[0])
    headline = {f"metrics/semantic_booster.json:standard.{m}" for m in ("abs_rel", "rmse", "delta1")}
    assert "evaluate.flip_tta" in columns and headline <= columns, sorted(columns)
    assert len(columns) < 40 and not any("baseline" in c for c in columns), sorted(columns)
    tta = next(row for row in table if row["Experiment"] == "tta")
    assert tta["evaluate.flip_tta"] == "True"


def _experiment_runs(root: Path, experiment: str) -> dict[str, tuple[str, bool]]:
    """``{run id: (stage, under that experiment's pipeline run)}`` of one MLflow experiment."""
    rows = _store_rows(
        root,
        "select r.run_uuid, s.value, p.value from runs r "
        "join experiments e on e.experiment_id = r.experiment_id and e.name = ? "
        "join tags s on s.run_uuid = r.run_uuid and s.key = 'depthpipe.stage' "
        "left join tags p on p.run_uuid = r.run_uuid and p.key = 'mlflow.parentRunId'",
        (experiment,),
    )
    parents = {run_id for run_id, stage, _ in rows if stage == "pipeline"}
    return {run_id: (stage, parent in parents) for run_id, stage, parent in rows}
