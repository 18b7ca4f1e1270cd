"""The team's shared stack on real parts (PostgreSQL, SeaweedFS, ``mlflow server``, ``dvc`` on S3): two teammates,
the faults a shared stack meets, and no secret anywhere.

Teammate A's ``dvc exp run -S recipe=tiny`` against the session's stack (:func:`helpers.team_stack.team_project`)
is the session's one tiny chain: B clones it, and the fault tests work on copies of A's workspace. A backup
restored into a fresh stack: tests/e2e/test_team_backup.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import signal
import stat
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
import yaml

from helpers.paths import REPO
from helpers.project import BIN, dvc, project_env, ran_stages, run
from helpers.team_stack import (
    Stack,
    TeamProject,
    a_runs,
    bucket_keys,
    history_losses,
    mlflow_client,
    refuses_without_credentials,
    set_epochs,
    sha,
    start_logged,
    team_command,
    team_env,
    teammate_env,
    wait_for,
    workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("team_stack"), pytest.mark.usefixtures("team_admin")]
PY = sys.executable
DEPTHPIPE = str(BIN / "depthpipe")
MODEL = "depthpipe-densedepth"
PHOTO = REPO / "tests" / "data" / "nyu" / "raw_0_rgb.png"
STAGES = {  # the stages that log a run (check only reads params and the store)
    "download",
    "validate",
    "prepare",
    *(f"{s}@{v}" for s in ("train", "evaluate", "export") for v in ("densedepth", "semantic_booster")),
}


@pytest.fixture(scope="module")
def team(team_project: TeamProject) -> TeamProject:
    """Teammate A's clone (the session's tiny chain, :func:`helpers.team_stack.team_project`)."""
    return team_project


# ------------------------------------------------------------------------------------------ two teammates
def test_a_s_experiment_logs_to_the_server_and_lands_in_the_bucket(team: TeamProject, team_stack: Stack) -> None:
    client = mlflow_client(team_stack)
    runs = a_runs(team_stack, team)
    (parent,) = [r for r in runs if r.data.tags["depthpipe.stage"] == "pipeline"]
    stages = {r.data.tags["dvc.stage"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(stages) == STAGES and all(r.info.status == "FINISHED" for r in stages.values())
    assert stages["train@densedepth"].info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    (version,) = client.search_model_versions(f"name = '{MODEL}'")
    assert version.description.startswith("Exported from commit ") and version.tags["depthpipe.train_run"]
    assert version.run_id == stages["export@densedepth"].info.run_id
    artifacts = bucket_keys(team_stack, "mlartifacts/")
    assert any(k.endswith("/MLmodel") for k in artifacts) and any(k.endswith("/model.pt2") for k in artifacts)
    assert bucket_keys(team_stack, "dvc/files/md5/") and bucket_keys(team_stack, "dvc/runs/")  # data + run-cache
    assert "secret_access_key" not in run(["git", "show", "HEAD:.dvc/config"], team.a, team.env).stdout


def test_teammate_b_pulls_retrains_nothing_gates_and_loads_a_s_model(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    b = tmp_path / "B"
    env = teammate_env(team_stack)
    run(["git", "clone", "-q", str(team.origin), str(b)], tmp_path, env)
    up = team_stack.up(cwd=b, env=env)  # reuses the running stack; writes B's .dvc/config.local
    assert up.stdout.count("already running") == 3 and team_stack.team.secret_access_key not in up.stdout
    run([DEPTHPIPE, "team", "pull", "--run-cache"], b, env)
    res = run(dvc("repro"), b, env)
    assert "Running stage" not in res.stdout, res.stdout
    assert "Stage 'train@densedepth' didn't change, skipping" in res.stdout
    assert sha(b / "models" / "densedepth" / "model.pt") == sha(team.a / "models" / "densedepth" / "model.pt")

    gate = run([DEPTHPIPE, "gate", "--baseline", "HEAD"], b, env)  # exit 0: nothing regressed
    assert "| densedepth | standard/abs_rel |" in gate.stdout, gate.stdout

    # the tiny recipe's models do not beat the mean-depth baseline, so the lead names A's version @candidate
    client = mlflow_client(team_stack)
    client.set_registered_model_alias(MODEL, "candidate", "1")
    # through the team's server (basic auth, artifacts proxied from the bucket); `mlflow models serve` of a
    # registry version: tests/unit/export/test_exporter.py
    out = tmp_path / "pred"
    run([DEPTHPIPE, "predict", str(PHOTO), "--model", f"models:/{MODEL}@candidate", "--out", str(out)], b, env)
    assert list(out.glob("*.png")), "predict wrote no depth PNG"

    params = yaml.safe_load((b / "params.yaml").read_text())
    params["train"]["densedepth"]["lr"] = 0.002  # one train param: only that variant's chain would run
    (b / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    res = run(dvc("repro", "--dry"), b, env)
    assert ran_stages(res) == {"check", "train@densedepth"}, res.stdout  # downstream waits to see its outputs
    assert "Stage 'train@semantic_booster' didn't change, skipping" in res.stdout


# ------------------------------------------------------------------------------------------ faults
def test_a_server_killed_mid_training_and_restarted_loses_no_metric(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    w = workspace(team, tmp_path / "W")
    set_epochs(w, epochs=3, seed=3)
    log = tmp_path / "train.log"
    proc = start_logged([PY, "pipeline/train.py", "densedepth"], w, team.env, log)
    run_id = wait_for(log, r"MLflow run (\w+) in", proc).group(1)
    wait_for(log, r"epoch 1/3: train_loss", proc)
    main = team_stack.mlflow_pid()
    os.kill(main, signal.SIGKILL)  # the main process alone: its uvicorn workers are left serving
    time.sleep(1)
    status = team_command("status", "--data-dir", str(team_stack.data_dir), check=False)
    assert status.returncode == 1 and re.search(r"MLflow server +crashed .* left \d+ processes", status.stdout)
    up = team_stack.up()  # stops the leftovers, starts it again, within the client's retries (depthpipe.env)
    assert "MLflow server had crashed; stopped the" in up.stdout and team_stack.mlflow_pid() != main
    assert proc.wait(timeout=900) == 0, log.read_text()[-4000:]
    client = mlflow_client(team_stack)
    logged = {m.step: m.value for m in client.get_metric_history(run_id, "train/loss")}
    expected = history_losses(w)
    assert sorted(logged) == [1, 2, 3] == sorted(expected)
    assert all(abs(logged[e] - expected[e]) <= 1e-5 * abs(expected[e]) for e in expected)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_server_that_stays_down_is_one_line_and_the_rerun_resumes(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    w = workspace(team, tmp_path / "W")
    set_epochs(w, epochs=2, seed=4)
    model = w / "models" / "densedepth" / "model.pt"
    before = sha(model)
    log = tmp_path / "train.log"
    # a short retry window, so the test does not wait out the default minute
    proc = start_logged(
        [PY, "pipeline/train.py", "densedepth"], w, team.env | {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}, log
    )
    run_id = wait_for(log, r"MLflow run (\w+) in", proc).group(1)
    wait_for(log, r"epoch 1/2: train_loss", proc)
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
    res = run([PY, "pipeline/train.py", "densedepth"], w, team.env)
    assert "resuming from" in res.stdout and f"MLflow run {run_id} in" in res.stdout, res.stdout
    client = mlflow_client(team_stack)
    assert sorted(m.step for m in client.get_metric_history(run_id, "train/loss")) == [1, 2]
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


def test_wrong_s3_keys_are_one_line_naming_the_key_id_never_the_secret(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    clone = tmp_path / "C"
    run(["git", "clone", "-q", str(team.origin), str(clone)], tmp_path, team.env)
    team_stack.up(cwd=clone, env=team.env)
    run(dvc("remote", "modify", "--local", "team", "secret_access_key", "NotTheSecret-4711"), clone, team.env)
    res = team_command("status", cwd=clone, env=team.env, check=False)
    key_id = team_stack.team.access_key_id
    assert res.returncode == 1
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("clone: DVC remote")]
    assert f"access key id {key_id} was refused (SignatureDoesNotMatch" in line
    assert "NotTheSecret-4711" not in res.stdout + res.stderr
    # `dvc push` alone says "unexpected error - Forbidden (403)"; `depthpipe team push` checks the keys first
    push = team_command("push", "--run-cache", cwd=clone, env=team.env, check=False)
    assert push.returncode == 1 and push.stdout == "", push.stdout
    (line,) = push.stderr.strip().splitlines()
    assert (
        line.startswith("depthpipe team: error: dvc push: DVC remote 'team' (s3://")
        and f"key id {key_id} was refused" in line
    )
    assert "NotTheSecret-4711" not in line
    run(dvc("remote", "modify", "--local", "team", "access_key_id", "DPNOSUCHKEY"), clone, team.env)
    res = team_command("status", cwd=clone, env=team.env, check=False)
    assert "access key id DPNOSUCHKEY was refused (InvalidAccessKeyId" in res.stdout
    # this clone's `team down` would stop the stack under A's clone: refused, naming it
    down = team_command("down", "--data-dir", str(team_stack.data_dir), cwd=clone, env=team.env, check=False)
    assert down.returncode == 1 and str(team.a.resolve()) in down.stderr and "--force" in down.stderr
    assert team_command("status", "--data-dir", str(team_stack.data_dir), check=False).returncode == 0


def test_an_object_store_outage_is_one_line_for_push_and_check_and_two_exports_ride_it_out(
    team: TeamProject, team_stack: Stack, tmp_path: Path
) -> None:
    """The object store goes down while two exports of the same model log it: ``dvc push`` and a stage's check
    are one line each naming what is down; the exports' retries ride the outage out and each registers its own
    complete version (registered last, with its description and tags); after the restart the push succeeds.
    (A version whose export run was killed is labelled by the next export:
    tests/unit/tracking/test_credentials_and_recovery.py.)"""
    client = mlflow_client(team_stack)
    w = workspace(team, tmp_path / "W")
    (w / "data" / "extra.bin").write_bytes(os.urandom(1 << 20))
    run(dvc("add", "data/extra.bin"), w, team.env)
    known = {v.version for v in client.search_model_versions(f"name = '{MODEL}'")}
    logs = [tmp_path / "export-w.log", tmp_path / "export-a.log"]
    procs = [
        start_logged([PY, "pipeline/export.py", "densedepth"], ws, team.env, lg) for ws, lg in zip((w, team.a), logs)
    ]
    wait_for(logs[0], r"export densedepth: MLflow run (\w+) in", procs[0])
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
    ran = {re.search(r"export densedepth: MLflow run (\w+) in", lg.read_text()).group(1) for lg in logs}
    assert {versions[v].run_id for v in added} == ran
    for v in added:  # complete: described, tagged, ready, and every file of it is there
        version = versions[v]
        assert version.description and "depthpipe.train_run" in version.tags and version.status == "READY"
        assert Path(client.download_artifacts(version.run_id, "", str(tmp_path / f"v{v}"))).exists()
    aliases = client.get_registered_model(MODEL).aliases
    assert all(v in versions for v in aliases.values()), aliases
    assert "1 file pushed" in run(dvc("push"), w, team.env).stdout  # the retried push
    assert "in sync" in run(dvc("status", "-c"), w, team.env).stdout


# ------------------------------------------------------------------------------------------ security
def test_no_credential_reaches_a_param_tag_file_or_line(team: TeamProject, team_stack: Stack, tmp_path: Path) -> None:
    w = workspace(team, tmp_path / "W")
    password = "Hunter2-" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:10]
    port = team_stack.team.ports["mlflow"]
    env = team_env(project_env()) | team_stack.keys()
    env |= {"MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:{port}"}
    secrets = (password, team_stack.team.secret_access_key)
    admin = ("admin", team_stack.team.admin_password)
    made = requests.post(
        f"{team_stack.tracking_uri}/api/2.0/mlflow/users/create",
        json={"username": "alice", "password": password},
        auth=admin,
        timeout=10,
    )
    assert made.status_code == 200, made.text
    res = run(dvc("repro", "-f", "-s", "evaluate@densedepth"), w, env)
    printed = res.stdout + res.stderr
    assert "alice:***@127.0.0.1" in printed and "Running stage 'evaluate@densedepth'" in printed
    assert not [s for s in secrets if s in printed]
    client = mlflow_client(team_stack)
    experiment = client.get_experiment_by_name("depthpipe").experiment_id
    for found in client.search_runs([experiment], max_results=5000):
        values = json.dumps([found.data.params, found.data.tags, found.info.run_name])
        assert not [s for s in secrets if s in values], found.info.run_id
    files = [w / "dvc.lock", *(p for d in ("reports", "metrics", "models") for p in (w / d).rglob("*") if p.is_file())]
    leaked = [p for p in files if any(s.encode() in p.read_bytes() for s in secrets)]
    assert not leaked


def test_nothing_of_the_stack_opens_without_credentials(team: TeamProject, team_stack: Stack) -> None:
    """MLflow answers 401 without a user; S3 wants its keys; PostgreSQL its password; every other port (SeaweedFS's
    master, volume and filer, HTTP and gRPC) only the stack's certificate; data is its owner's alone; and no DVC
    config lists a secret."""
    stack, uri = team_stack.team, team_stack.tracking_uri
    created = requests.post(f"{uri}/api/2.0/mlflow/experiments/create", json={"name": "anyone"}, timeout=10)
    assert created.status_code == 401
    put = requests.put(f"{stack.endpoint_url}/{stack.bucket}/anyone.txt", data=b"x", timeout=10)
    assert put.status_code == 403
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=stack.ports["postgres"], user="depthpipe", dbname="mlflow", password="")
    internal = {name: port for name, port in stack.ports.items() if name not in ("mlflow", "s3", "postgres")}
    opened = {name: why for name, port in internal.items() if (why := refuses_without_credentials(port))}
    assert not opened and len(internal) == 7, opened
    pg_owner = (team_stack.data_dir / "postgres").stat().st_uid
    assert pg_owner == os.geteuid() or pwd.getpwuid(pg_owner).pw_name == "depthpipe-team"
    # every folder is its owner's alone (what SeaweedFS writes 0644 stays behind them); the files on top 0600
    modes = {p: p.lstat().st_mode for p in team_stack.data_dir.rglob("*")}
    loose = [p for p, m in modes.items() if (stat.S_ISDIR(m) or p.parent == team_stack.data_dir) and m & 0o077]
    assert not loose, [f"{p}: {stat.filemode(modes[p])}" for p in loose]
    listed = run(dvc("config", "-l"), team.a, team.env).stdout
    assert "credentialpath" in listed and "secret" not in listed and stack.secret_access_key not in listed
