"""A team stack's backup restored into a fresh stack (real PostgreSQL, SeaweedFS and ``mlflow server``): every
run, metric, model version, artifact and DVC object comes back, MLflow's schema upgrade runs on it, and a port
changed later keeps the keys.

The stack is the session's (:mod:`helpers.team_stack`); this module logs its own run, version and DVC object
into it, so it needs no pipeline run and can take the other pytest worker than the team's chain.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from depthpipe.team import objectstore
from depthpipe.team.processes import free_port
from helpers.team_stack import Stack, bucket_keys, mlflow_client, start_stack, stop_stack, team_command

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("team_backup"), pytest.mark.usefixtures("team_admin")]
EXPERIMENT = "backup-check"
MODEL = "depthpipe-backup-check"


@pytest.fixture(scope="module")
def logged(team_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished run (a param, three steps of a metric, an artifact proxied into the bucket), a registered
    version of it, and a DVC object in the bucket; returns the experiment id."""
    client = mlflow_client(team_stack)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "lr", "0.001")
    for step in (1, 2, 3):
        client.log_metric(run.info.run_id, "train/loss", 1.0 / step, step=step)
    artifact = tmp_path_factory.mktemp("artifact") / "weights.bin"
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


def test_a_backup_restored_into_a_fresh_stack_holds_everything(logged: str, team_stack: Stack, tmp_path: Path) -> None:
    """Restored into a new stack, a backup holds every run, metric, version and artifact; `db-upgrade` runs on
    it, and a port changed later keeps the keys."""
    client = mlflow_client(team_stack)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = {r.info.run_id: r.data.metrics for r in client.search_runs(experiments, max_results=5000)}
    versions = {(v.name, v.version): v.run_id for v in client.search_model_versions()}
    objects = sorted(bucket_keys(team_stack, ""))
    assert any(k.startswith("dvc/files/md5/") for k in objects) and any(k.startswith("mlartifacts/") for k in objects)
    backup = tmp_path / "backup"
    team_command("backup", "--data-dir", str(team_stack.data_dir), str(backup))
    fresh = start_stack(Path(tempfile.mkdtemp(prefix="depthpipe-team-restore-", dir="/tmp")))
    try:
        team_command("restore", "--data-dir", str(fresh.data_dir), str(backup))
        team_command("db-upgrade", "--data-dir", str(fresh.data_dir))
        restored = MlflowClient(tracking_uri=fresh.tracking_uri, registry_uri=fresh.tracking_uri)
        got = {r.info.run_id: r.data.metrics for r in restored.search_runs(experiments, max_results=5000)}
        assert got == runs and logged in experiments
        assert {(v.name, v.version): v.run_id for v in restored.search_model_versions()} == versions
        assert sorted(bucket_keys(fresh, "")) == objects
        version = restored.get_model_version(MODEL, "1")
        assert Path(restored.download_artifacts(version.run_id, "model/weights.bin", str(tmp_path / "a"))).exists()
        keys = fresh.keys()
        team_command("down", "--data-dir", str(fresh.data_dir))
        port = free_port()
        team_command("up", "--data-dir", str(fresh.data_dir), "--mlflow-port", str(port), "--no-dvc-remote")
        assert fresh.team.ports["mlflow"] == port and fresh.keys() == keys
        assert team_command("status", "--data-dir", str(fresh.data_dir)).returncode == 0
        assert sorted(bucket_keys(fresh, "")) == objects  # the object store's restart kept every object
    finally:
        stop_stack(fresh)
