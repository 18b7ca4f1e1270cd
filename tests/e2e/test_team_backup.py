"""A team stack's backup restored into a fresh stack (real PostgreSQL, SeaweedFS and ``mlflow server``): every
run, metric, model version, artifact and DVC object comes back at the installed MLflow's schema (``team restore``
runs MLflow's schema upgrade on it), and a port changed later keeps the keys.

The stack is the run's (:mod:`helpers.team_stack`); this module logs its own run, version and DVC object into it,
so it needs no pipeline run; the other tests go on using the stack while it is backed up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from depthpipe.team import objectstore
from depthpipe.team.processes import free_port
from helpers.team_stack import Stack, bucket_keys, mlflow_client, start_stack, stop_stack, team_command

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("team_admin")]
EXPERIMENT = "backup-check"
MODEL = "depthpipe-backup-check"


@pytest.fixture(scope="module")
def logged(team_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished run (a param, three steps of a metric, an artifact proxied into the bucket), a registered
    version of it, and a DVC object in the bucket; returns the experiment id."""
    with team_stack.using():
        return _log(team_stack, tmp_path_factory.mktemp("artifact") / "weights.bin")


def _log(team_stack: Stack, artifact: Path) -> str:
    client = mlflow_client(team_stack)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "lr", "0.001")
    for step in (1, 2, 3):
        client.log_metric(run.info.run_id, "train/loss", 1.0 / step, step=step)
    artifact.write_bytes(hashlib.sha256(b"weights").digest() * 64)
    client.log_artifact(run.info.run_id, str(artifact), "model")
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)
    client.create_model_version(MODEL, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    blob = b"a DVC object"
    s3 = objectstore.client(team_stack.team)
    s3.put_object(Bucket=team_stack.team.bucket, Key=f"dvc/files/md5/{hashlib.md5(blob).hexdigest()}", Body=blob)  # type: ignore[attr-defined]
    return experiment


def _snapshot(client: MlflowClient, stack: Stack) -> tuple[dict, dict, set]:
    """``(finished runs: their metrics, model versions: their runs, objects)`` of a stack."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(experiments, max_results=5000)
    runs = {r.info.run_id: r.data.metrics for r in found if r.info.status == "FINISHED"}
    versions = {(v.name, v.version): v.run_id for v in client.search_model_versions()}
    return runs, versions, set(bucket_keys(stack, ""))


def test_a_backup_restored_into_a_fresh_stack_holds_everything(logged: str, team_stack: Stack, tmp_path: Path) -> None:
    """A backup of the stack while the other tests use it, restored into a new stack, holds every finished run
    (and its metrics), version, artifact and object the stack had when the backup began, and nothing the stack
    did not have when it ended; the restore upgrades its schema, and a port changed later keeps the keys."""
    client = mlflow_client(team_stack)
    backup = tmp_path / "backup"
    with team_stack.using():  # no fault meanwhile; other tests may log
        runs, versions, objects = _snapshot(client, team_stack)
        team_command("backup", "--data-dir", str(team_stack.data_dir), str(backup))
        runs_after, versions_after, objects_after = _snapshot(client, team_stack)
    assert any(k.startswith("dvc/files/md5/") for k in objects) and any(k.startswith("mlartifacts/") for k in objects)
    # the fresh stack's MLflow credentials: the run's home holds the run's stack's
    home = Path(tempfile.mkdtemp(prefix="depthpipe-team-restore-home-", dir="/tmp"))
    fresh = start_stack(Path(tempfile.mkdtemp(prefix="depthpipe-team-restore-", dir="/tmp")), home=home)
    try:
        restore = team_command("restore", "--data-dir", str(fresh.data_dir), str(backup), home=home)
        assert "the database is at this MLflow's schema" in restore.stdout, restore.stdout
        restored = MlflowClient(tracking_uri=fresh.tracking_uri, registry_uri=fresh.tracking_uri)
        got_runs, got_versions, got_objects = _snapshot(restored, fresh)
        assert runs.items() <= got_runs.items() and got_runs.keys() <= runs_after.keys()
        assert versions.items() <= got_versions.items() <= versions_after.items()
        assert objects <= got_objects <= objects_after
        assert restored.get_experiment(logged).name == EXPERIMENT
        version = restored.get_model_version(MODEL, "1")
        assert Path(restored.download_artifacts(version.run_id, "model/weights.bin", str(tmp_path / "a"))).exists()
        keys = fresh.keys()
        team_command("down", "--data-dir", str(fresh.data_dir), home=home)
        tmp = Path(os.environ.get("TMPDIR") or "/tmp")  # where weed (Go's os.TempDir) puts its Unix sockets
        sockets = [f"seaweedfs-*-{port}.sock" for port in fresh.team.ports.values()]
        assert [s.name for pattern in sockets for s in tmp.glob(pattern)] == []  # gone with it
        port = free_port()
        team_command("up", "--data-dir", str(fresh.data_dir), "--mlflow-port", str(port), "--no-dvc-remote", home=home)
        assert fresh.team.ports["mlflow"] == port and fresh.keys() == keys
        assert team_command("status", "--data-dir", str(fresh.data_dir), home=home).returncode == 0
        assert set(bucket_keys(fresh, "")) == got_objects  # the object store's restart kept every object
    finally:
        stop_stack(fresh.data_dir)
        shutil.rmtree(home, ignore_errors=True)
