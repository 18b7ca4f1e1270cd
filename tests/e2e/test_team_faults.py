"""The faults a shared team stack meets, on real parts (PostgreSQL, SeaweedFS, ``mlflow server``): the tracking
server staying down mid-training, then killed and restarted under the rerun; its database down; the object store
down under two exports and a push. Each test has the run's stack alone (:meth:`helpers.team_stack.Stack.using`)
and works on copies of teammate A's workspace (the session's tiny chain, :func:`helpers.team_stack.team_project`).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers.project import dvc, run
from helpers.team_stack import (
    Stack,
    TeamProject,
    history_losses,
    mlflow_client,
    set_epochs,
    sha,
    start_logged,
    team_command,
    wait_for,
    workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("team_admin", "stack_alone")]
PY = sys.executable
VARIANT = "semantic_booster"  # the outage's exports: the variant whose export is quicker
MODEL = f"depthpipe-{VARIANT}"


@pytest.fixture(scope="module")
def team(team_project: TeamProject) -> TeamProject:
    """Teammate A's clone (the session's tiny chain, :func:`helpers.team_stack.team_project`); read only."""
    return team_project


def test_a_server_down_mid_training_is_one_line_and_a_crashed_one_restarted_loses_no_metric(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    """One training, two faults: the server killed and left down (a short retry window, so the test does not wait
    out the default minute) ends the stage with one line and its old output whole; the rerun resumes the same
    MLflow run, rides out its main process killed and restarted by ``team up`` (within the client's retries,
    depthpipe.env), and every epoch's loss is on the server."""
    w = workspace(team, tmp_path / "W")
    set_epochs(w, epochs=3, seed=3)
    model = w / "models" / "densedepth" / "model.pt"
    before = sha(model)
    log = tmp_path / "train.log"
    proc = start_logged(
        [PY, "pipeline/train.py", "densedepth"], w, team.env | {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}, log
    )
    run_id = wait_for(log, r"MLflow run (\w+) in", proc).group(1)
    wait_for(log, r"epoch 1/3: train_loss", proc)
    team_stack.kill("mlflow")
    try:
        assert proc.wait(timeout=300) == 1
        text = log.read_text()
        errors = [line for line in text.splitlines() if line.startswith("train: error:")]
        assert len(errors) == 1 and team_stack.tracking_uri in errors[0] and "Traceback" not in text, text[-3000:]
        assert "Connection refused" in errors[0]  # the cause, whole
        assert (w / "models" / "densedepth" / "checkpoints" / "last.pt").exists()
        assert sha(model) == before  # the output is the old one, whole
        leftovers = [p for d in ("models", "reports") for p in (w / d).rglob("*") if ".tmp-" in p.name]
        assert not leftovers and not list(w.rglob(".staging-*"))
    finally:
        team_stack.up()

    log = tmp_path / "rerun.log"
    proc = start_logged([PY, "pipeline/train.py", "densedepth"], w, team.env, log)
    # the first process may have finished epoch 2 before it gave up: the rerun resumes after epoch 1 or 2, and the
    # server is killed once the rerun has its run, before its remaining epochs log
    wait_for(log, rf"MLflow run {run_id} in", proc)
    main = team_stack.mlflow_pid()
    os.kill(main, signal.SIGKILL)  # the main process alone: its uvicorn workers are left serving
    time.sleep(1)
    status = team_command("status", "--data-dir", str(team_stack.data_dir), check=False)
    assert status.returncode == 1 and re.search(r"MLflow server +crashed .* left \d+ processes", status.stdout)
    up = team_stack.up()  # stops the leftovers, starts it again, within the client's retries (depthpipe.env)
    assert "MLflow server had crashed; stopped the" in up.stdout and team_stack.mlflow_pid() != main
    assert proc.wait(timeout=900) == 0, log.read_text()[-4000:]
    assert "resuming from" in log.read_text()
    client = mlflow_client(team_stack)
    logged = {m.step: m.value for m in client.get_metric_history(run_id, "train/loss")}
    expected = history_losses(w)
    assert sorted(logged) == [1, 2, 3] == sorted(expected)
    assert all(abs(logged[e] - expected[e]) <= 1e-5 * abs(expected[e]) for e in expected)
    assert client.get_run(run_id).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("depthpipe").experiment_id
    assert client.search_runs([experiment], "attributes.status = 'RUNNING'") == []


def test_postgres_down_is_one_line(team: TeamProject, team_stack: Stack, tmp_path: Path) -> None:
    team_stack.stop("postgres")
    try:
        res = run([PY, "pipeline/check.py"], team.a, team.env, ok=False)
        (line,) = res.stderr.strip().splitlines()
        port = team_stack.team.ports["postgres"]
        assert line.startswith(f"check: error: MLflow tracking server {team_stack.tracking_uri} ")
        # the server answers 503 naming the database, or (busy retrying its pool) not within the check's 5 s
        assert f"port {port} failed: Connection refused" in line or "did not answer within" in line, line
    finally:
        team_stack.up()


def test_an_object_store_outage_is_one_line_for_push_and_check_and_two_exports_ride_it_out(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    """The object store goes down while two exports of the same model (two copies of A's workspace) log it:
    ``dvc push`` and a stage's check are one line each naming what is down; the exports' retries ride the outage
    out and each registers its own complete version (registered last, with its description and tags); after the
    restart the push succeeds. (A version whose export run was killed is labelled by the next export:
    tests/unit/tracking/test_credentials_and_recovery.py.)"""
    client = mlflow_client(team_stack)
    w, v = workspace(team, tmp_path / "W"), workspace(team, tmp_path / "V")
    (w / "data" / "extra.bin").write_bytes(os.urandom(1 << 20))
    run(dvc("add", "data/extra.bin"), w, team.env)
    known = {v.version for v in client.search_model_versions(f"name = '{MODEL}'")}
    logs = [tmp_path / "export-w.log", tmp_path / "export-v.log"]
    procs = [start_logged([PY, "pipeline/export.py", VARIANT], ws, team.env, lg) for ws, lg in zip((w, v), logs)]
    wait_for(logs[0], rf"export {VARIANT}: MLflow run (\w+) in", procs[0])
    team_stack.stop("objectstore")
    try:
        res = run(dvc("push"), w, team.env, ok=False)
        errors = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("ERROR")]
        assert res.returncode != 0 and len(errors) == 1, res.stdout + res.stderr
        assert team_stack.team.endpoint_url in errors[0]
        check = run([PY, "pipeline/check.py"], w, team.env, ok=False)
        (line,) = check.stderr.strip().splitlines()
        assert line.startswith(f"check: error: MLflow tracking server {team_stack.tracking_uri} cannot reach its")
    finally:
        team_stack.up()
    for p, lg in zip(procs, logs):
        assert p.wait(timeout=900) == 0, lg.read_text()[-4000:]
    versions = {v.version: v for v in client.search_model_versions(f"name = '{MODEL}'")}
    added = sorted(set(versions) - known, key=int)
    assert len(added) == 2
    ran = {re.search(rf"export {VARIANT}: MLflow run (\w+) in", lg.read_text()).group(1) for lg in logs}
    assert {versions[v].run_id for v in added} == ran
    for v in added:  # complete: described, tagged, ready, and every file of it is there
        version = versions[v]
        assert version.description and "depthpipe.train_run" in version.tags and version.status == "READY"
        assert Path(client.download_artifacts(version.run_id, "", str(tmp_path / f"v{v}"))).exists()
    aliases = client.get_registered_model(MODEL).aliases
    assert all(v in versions for v in aliases.values()), aliases
    assert "1 file pushed" in run(dvc("push"), w, team.env).stdout  # the retried push
    assert "in sync" in run(dvc("status", "-c"), w, team.env).stdout
