"""The team's shared stack on real parts (PostgreSQL, SeaweedFS, ``mlflow server``, ``dvc`` on S3): two teammates,
a clone with the wrong keys, and no secret anywhere.

Teammate A's ``dvc exp run -S recipe=tiny`` against the run's stack (:func:`helpers.team_stack.team_project`)
is the session's one tiny chain: B clones it. The faults the stack meets: tests/e2e/test_team_faults.py; a backup
restored into a fresh stack: tests/e2e/test_team_backup.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import stat
import sys
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
    bucket_keys,
    mlflow_client,
    refuses_without_credentials,
    runs_of,
    sha,
    team_command,
    team_env,
    teammate_env,
    workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("team_admin", "stack_shared")]
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
    """Teammate A's clone (the session's tiny chain, :func:`helpers.team_stack.team_project`); read only."""
    return team_project


# ------------------------------------------------------------------------------------------ two teammates
def test_a_s_experiment_logs_to_the_server_and_lands_in_the_bucket(team: TeamProject, team_stack: Stack) -> None:
    client = mlflow_client(team_stack)
    runs = runs_of(team_stack, team.exp_name)
    (parent,) = [r for r in runs if r.data.tags["depthpipe.stage"] == "pipeline"]
    stages = {r.data.tags["dvc.stage"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(stages) == STAGES and all(r.info.status == "FINISHED" for r in stages.values())
    assert stages["train@densedepth"].info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    export_run = stages["export@densedepth"].info.run_id
    (version,) = [v for v in client.search_model_versions(f"name = '{MODEL}'") if v.run_id == export_run]
    assert version.description.startswith("Exported from commit ") and version.tags["depthpipe.train_run"]
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
