"""The team's shared stack for the tests: ``depthpipe team up`` on free 127.0.0.1 ports, once per session.

The session fixture :func:`team_stack` starts real PostgreSQL, SeaweedFS and ``mlflow server`` processes through
the command a person runs (in a folder under /tmp that PostgreSQL's unprivileged user can enter when the tests
run as root), and stops them by process group with ``depthpipe team down --force`` at the end. Fault tests kill
and restart one part through :class:`Stack`. Every command gets ``HOME`` in the session's folder, so the MLflow
credentials ``team up`` writes (``~/.mlflow/credentials``) never touch the real home.

The session fixture :func:`team_project` is teammate A's ``dvc exp run -S recipe=tiny`` against that stack,
committed and pushed: the one tiny chain of the end-to-end tests. The team's tests use it as A's; the pipeline and
experiment tests (``tiny_project`` in tests/conftest.py) work on copies of its workspace with a local store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from mlflow.tracking import MlflowClient

from depthpipe.team import processes, settings, stack
from depthpipe.team.settings import Team
from helpers.project import copy_project, dvc, project_env, run

DEPTHPIPE = str(Path(sys.executable).with_name("depthpipe"))
# the teammates' home (~/.mlflow/credentials), made by the first team command, removed with the session's stack
HOME = Path(tempfile.gettempdir()) / f"depthpipe-team-home-{os.getpid()}"


def team_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the session's ``HOME``."""
    HOME.mkdir(mode=0o700, exist_ok=True)
    return dict(os.environ if env is None else env) | {"HOME": str(HOME)}


def team_command(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True):
    """``depthpipe team <args>``; fails the test with its output when ``check`` and it exits non-zero."""
    res = subprocess.run(
        [DEPTHPIPE, "team", *args], cwd=cwd, env=team_env(env), capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert res.returncode == 0, f"depthpipe team {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


@dataclass
class Stack:
    """A running team stack: its folder and settings, and the faults the tests make."""

    data_dir: Path

    @property
    def team(self) -> Team:
        found = settings.load(self.data_dir)
        assert found is not None
        return found

    @property
    def tracking_uri(self) -> str:
        return self.team.tracking_uri

    def up(self, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``depthpipe team up`` (starts what is down; in ``cwd``, also makes the stack its DVC remote)."""
        extra = [] if cwd is not None else ["--no-dvc-remote"]
        return team_command("up", "--data-dir", str(self.data_dir), *extra, cwd=cwd, env=env)

    def kill(self, part: str) -> int:
        """SIGKILL one part (``mlflow``, ``objectstore``, ``postgres``) and its children: a crash."""
        pid = processes.kill(part, self.team.run_dir)
        assert pid is not None, f"{part} was not running"
        return pid

    def stop(self, part: str) -> None:
        """Stop one part cleanly (as ``team down`` would)."""
        next(p for p in stack.PARTS if p.name == part).stop(self.team)

    def mlflow_pid(self) -> int | None:
        return processes.running_pid(self.team.run_dir, "mlflow")

    def keys(self) -> dict[str, str]:
        team = self.team
        return {"AWS_ACCESS_KEY_ID": team.access_key_id, "AWS_SECRET_ACCESS_KEY": team.secret_access_key}

    def state(self) -> dict:
        return json.loads(self.team.state_file.read_text())

    def admin(self) -> dict[str, str]:
        """MLflow's basic-auth admin, as the variables an MLflow client reads."""
        return {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": self.team.admin_password}


def start_stack(data_dir: Path, *extra: str) -> Stack:
    """``depthpipe team up`` of a new stack in ``data_dir`` on free ports."""
    ports = ("--mlflow-port", "0", "--s3-port", "0", "--postgres-port", "0")
    team_command("up", "--data-dir", str(data_dir), *ports, "--no-dvc-remote", *extra)
    return Stack(data_dir)


def stop_stack(stack: Stack) -> None:
    team_command("down", "--data-dir", str(stack.data_dir), "--force", check=False)
    shutil.rmtree(stack.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def team_stack() -> Iterator[Stack]:
    """The stack, started once per session on free ports and stopped (by pid) at its end."""
    data_dir = Path(tempfile.mkdtemp(prefix="depthpipe-team-", dir="/tmp"))
    try:
        yield start_stack(data_dir)
    finally:
        stop_stack(Stack(data_dir))
        shutil.rmtree(HOME, ignore_errors=True)


def bucket_keys(stack: Stack, prefix: str) -> list[str]:
    team = stack.team
    s3 = boto3.client(
        "s3",
        endpoint_url=team.endpoint_url,
        aws_access_key_id=team.access_key_id,
        aws_secret_access_key=team.secret_access_key,
        region_name="us-east-1",
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=team.bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def refuses_without_credentials(port: int) -> str | None:
    """None when ``port`` takes neither a plain HTTP write nor a TLS connection without the stack's certificate,
    else what it accepted."""
    try:
        answer = requests.post(f"http://127.0.0.1:{port}/buckets/depthpipe/x.txt", files={"f": b"x"}, timeout=5)
        if answer.status_code < 300:
            return f"plain HTTP write: HTTP {answer.status_code}"
    except requests.RequestException:
        pass
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"POST /buckets/depthpipe/x.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
            reply = tls.recv(64)
            if reply.startswith(b"HTTP/1.1 2"):
                return f"TLS without a certificate: {reply[:20]!r}"
    except (OSError, ssl.SSLError):
        pass
    return None


@pytest.fixture(scope="module")
def team_admin(team_stack: Stack) -> Iterator[None]:
    """This process's MLflow clients (the tests' checks) sign in as the basic-auth app's admin."""
    saved = {k: os.environ.get(k) for k in team_stack.admin()}
    os.environ.update(team_stack.admin())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def start_logged(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout_s: float = 600) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"exited ({proc.returncode}) before /{pattern}/:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"no /{pattern}/ after {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


def set_epochs(workspace: Path, epochs: int, seed: int) -> None:
    path = workspace / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["densedepth"] |= {"epochs": epochs, "seed": seed}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def history_losses(workspace: Path) -> dict[int, float]:
    lines = (workspace / "reports" / "train" / "densedepth" / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    return {int(r["epoch"]): float(r["train_loss"]) for r in rows}


@dataclass
class TeamProject:
    a: Path  # teammate A's clone, after `dvc exp run -S recipe=tiny`, committed and pushed
    origin: Path  # the team's git remote (bare)
    env: dict[str, str]
    exp_name: str
    first: subprocess.CompletedProcess[str]  # A's `dvc exp run`


def teammate_env(stack: Stack, **extra: str) -> dict[str, str]:
    """A teammate's environment: the team's tracking URI, no S3 keys (MLflow proxies artifacts), and a home
    whose ``~/.mlflow/credentials`` `team up` wrote."""
    env = {k: v for k, v in project_env().items() if not k.startswith(("AWS_", "MLFLOW_TRACKING_"))}
    return team_env(env) | {"MLFLOW_TRACKING_URI": stack.tracking_uri} | extra


@pytest.fixture(scope="session")
def team_project(team_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> TeamProject:
    """Teammate A's fresh clone after ``dvc exp run -S recipe=tiny`` against the session's stack, its results
    committed and pushed (git to a bare origin; data and run-cache with ``depthpipe team push``)."""
    base = tmp_path_factory.mktemp("team")
    a = copy_project(base / "A")
    origin = base / "origin.git"
    env = teammate_env(team_stack)
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], base, env)
    run(["git", "init", "-q", "-b", "main"], a, env)
    run(["git", "add", "-A"], a, env)
    run(["git", "commit", "-qm", "a fresh clone"], a, env)
    run(["git", "remote", "add", "origin", str(origin)], a, env)
    team_stack.up(cwd=a, env=env)  # A's .dvc/config.local: the team's remote and its keys
    first = run(dvc("exp", "run", "-S", "recipe=tiny"), a, env)
    exp_name = re.search(r"Ran experiment\(s\): (\S+)", first.stdout).group(1)  # type: ignore[union-attr]
    run(["git", "add", "-A"], a, env)
    run(["git", "commit", "-qm", "tiny results"], a, env)
    run(["git", "push", "-q", "origin", "main"], a, env)
    run([DEPTHPIPE, "team", "push", "--run-cache"], a, env)  # the README's walkthrough, as written
    return TeamProject(a, origin, env, exp_name, first)


def workspace(team: TeamProject, dest: Path) -> Path:
    """A copy of A's workspace (git, DVC cache and config.local included), without A's training checkpoints
    (0.6 GB; no DVC output, and a training of other params does not resume them)."""
    shutil.copytree(team.a, dest, symlinks=True, ignore=shutil.ignore_patterns("checkpoints"))
    return dest


def mlflow_client(stack: Stack) -> MlflowClient:
    return MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)


def a_runs(stack: Stack, team: TeamProject) -> list:
    """The runs of A's experiment (the session's tiny chain) on the team's server, in experiment ``depthpipe``."""
    client = mlflow_client(stack)
    experiment = client.get_experiment_by_name("depthpipe").experiment_id
    return client.search_runs([experiment], f"tags.`dvc.exp_name` = '{team.exp_name}'", max_results=5000)
