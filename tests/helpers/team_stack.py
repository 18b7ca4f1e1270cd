"""The team's shared stack for the tests: ``depthpipe team up`` on free 127.0.0.1 ports, once per test run.

The session fixture :func:`team_stack` starts real PostgreSQL, SeaweedFS and ``mlflow server`` processes through
the command a person runs (in a folder under /tmp that PostgreSQL's unprivileged user can enter when the tests
run as root). The first pytest worker that needs it starts it and every other worker uses it, as a team shares one
stack; the main pytest process stops it by pid (``depthpipe team down --force``) when the run ends
(:func:`stop_shared_stack`, from ``pytest_sessionfinish`` in tests/conftest.py). A test talks to it inside
:meth:`Stack.using`: shared, or alone for the faults that kill and restart one part. Every command gets the run's
``HOME``, so the MLflow credentials ``team up`` writes (``~/.mlflow/credentials``) never touch the real home.

The session fixture :func:`team_project` is teammate A's ``dvc exp run -S recipe=tiny`` against that stack,
committed and pushed: the one tiny chain of the end-to-end tests, likewise made by the first worker that needs it.
The team's tests use it as A's; the pipeline and experiment tests (``tiny_project`` in tests/conftest.py) work on
copies of its workspace with a local store. Nothing writes into A's clone once it is made.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
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

from depthpipe.team import objectstore, processes, settings, stack
from depthpipe.team.settings import Team
from helpers.project import copy_project, copy_workspace, dvc, project_env, run

DEPTHPIPE = str(Path(sys.executable).with_name("depthpipe"))
# the teammates' home (~/.mlflow/credentials), one per test run (pytest-xdist gives its workers the run's id), made
# by the first team command and removed with the run's stack
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
HOME = Path(tempfile.gettempdir()) / f"depthpipe-team-home-{RUN_ID}"
STACK_RECORD = "team-stack.json"  # in the run's shared folder: where the stack is, for every worker and the end


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of the test run shares: pytest-xdist's workers have theirs inside the main
    process's base temporary folder."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def locked(path: Path, exclusive: bool = True) -> Iterator[None]:
    """An advisory lock on ``path`` (``flock``), shared or exclusive, across the run's processes."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def team_env(env: dict[str, str] | None = None, home: Path = HOME) -> dict[str, str]:
    """``env`` (default: this process's) with ``HOME`` at ``home`` (default: the run's)."""
    home.mkdir(mode=0o700, exist_ok=True)
    return dict(os.environ if env is None else env) | {"HOME": str(home)}


def team_command(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True, home: Path = HOME
):
    """``depthpipe team <args>`` with ``HOME`` at ``home`` (``team up`` writes the stack's MLflow credentials
    there); fails the test with its output when ``check`` and it exits non-zero."""
    res = subprocess.run(
        [DEPTHPIPE, "team", *args],
        cwd=cwd,
        env=team_env(env, home),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert res.returncode == 0, f"depthpipe team {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


@dataclass
class Stack:
    """A running team stack: its folder and settings, and the faults the tests make."""

    data_dir: Path

    @property
    def use_lock(self) -> Path:
        """Held shared by every test that talks to the stack, alone by one that breaks it."""
        return self.data_dir.with_name(self.data_dir.name + ".lock")

    def using(self, alone: bool = False) -> contextlib.AbstractContextManager[None]:
        """Talk to the stack (shared with the other workers' tests), or have it ``alone``: no other test talks to
        it meanwhile (for a fault, and for a snapshot that must hold still)."""
        return locked(self.use_lock, exclusive=alone)

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


def start_stack(data_dir: Path, *extra: str, home: Path = HOME) -> Stack:
    """``depthpipe team up`` of a new stack in ``data_dir`` on free ports (its MLflow credentials in ``home``: one
    stack's to a home), with one MLflow worker process: a worker imports MLflow and opens both stores at every
    start of the server, and the tests' few requests at a time need no second one (``team up``'s default is two)."""
    ports = ("--mlflow-port", "0", "--s3-port", "0", "--postgres-port", "0")
    team_command("up", "--data-dir", str(data_dir), *ports, "--workers", "1", "--no-dvc-remote", *extra, home=home)
    return Stack(data_dir)


def stop_stack(data_dir: Path) -> None:
    """Stop a stack the tests are done with, by pid and at once, and remove its folder: MLflow's and SeaweedFS's
    process groups (with what a crashed daemon left) are killed, PostgreSQL shuts down immediately (SIGQUIT: it
    still removes its shared memory). ``team down``'s graceful stop, seconds of waiting for SeaweedFS, is tested
    where a test runs it."""
    team = settings.load(data_dir) if data_dir.exists() else None
    if team is not None:
        for name in ("mlflow", "objectstore"):
            processes.stop(name, team.run_dir, sig=signal.SIGKILL, grace_s=10)
        objectstore.remove_sockets(team)
        processes.stop("postgres", team.run_dir, sig=signal.SIGQUIT, grace_s=10)
    shutil.rmtree(data_dir, ignore_errors=True)
    Stack(data_dir).use_lock.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The run's stack on free ports: started by the first worker that asks, found by the others."""
    shared = shared_folder(tmp_path_factory)
    record = shared / STACK_RECORD
    with locked(shared / (STACK_RECORD + ".lock")):
        if not record.exists():
            where = {"data_dir": tempfile.mkdtemp(prefix="depthpipe-team-", dir="/tmp"), "home": str(HOME)}
            # written first: the end of the run stops what was started, even when the start fails half-way
            record.write_text(json.dumps(where | {"started": False}))
            start_stack(Path(where["data_dir"]))
            record.write_text(json.dumps(where | {"started": True}))
    found = json.loads(record.read_text())
    if not found["started"]:
        pytest.fail(f"the run's team stack did not start (another worker tried: {found['data_dir']})")
    return Stack(Path(found["data_dir"]))


@pytest.fixture
def stack_shared(team_stack: Stack) -> Iterator[Stack]:
    """The run's stack, for a test that talks to it (any number at once)."""
    with team_stack.using():
        yield team_stack


@pytest.fixture
def stack_alone(team_stack: Stack) -> Iterator[Stack]:
    """The run's stack, for a test that breaks a part of it: no other test talks to it meanwhile."""
    with team_stack.using(alone=True):
        yield team_stack


def stop_shared_stack(shared: Path) -> None:
    """Stop the run's stack, if one was started, and remove its folder and the run's home (the main process, once
    every worker is done)."""
    record = shared / STACK_RECORD
    if record.exists():
        found = json.loads(record.read_text())
        stop_stack(Path(found["data_dir"]))
        shutil.rmtree(found["home"], ignore_errors=True)
        record.unlink()


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
    # the runs A's experiment logged, as the server had them when A was done: id, status, params and tags, flat
    runs: list[dict]


def teammate_env(stack: Stack, **extra: str) -> dict[str, str]:
    """A teammate's environment: the team's tracking URI, no S3 keys (MLflow proxies artifacts), and a home
    whose ``~/.mlflow/credentials`` `team up` wrote."""
    env = {k: v for k, v in project_env().items() if not k.startswith(("AWS_", "MLFLOW_TRACKING_"))}
    return team_env(env) | {"MLFLOW_TRACKING_URI": stack.tracking_uri} | extra


@pytest.fixture(scope="session")
def team_project(team_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> TeamProject:
    """Teammate A's fresh clone after ``dvc exp run -S recipe=tiny`` against the run's stack, its results
    committed and pushed (git to a bare origin; data and run-cache with ``depthpipe team push``): made by the
    first worker that asks, found by the others."""
    shared = shared_folder(tmp_path_factory)
    base, made = shared / "team", shared / "team.json"
    with locked(shared / "team.lock"):
        if not made.exists():
            if base.exists():
                pytest.fail(f"teammate A's chain failed in another worker ({base}): see that worker's error")
            base.mkdir()
            with team_stack.using():
                made.write_text(json.dumps(_make_team_project(team_stack, base)))
    found = json.loads(made.read_text())
    first = subprocess.CompletedProcess(found["args"], 0, found["stdout"], found["stderr"])
    env = teammate_env(team_stack)
    return TeamProject(base / "A", base / "origin.git", env, found["exp_name"], first, found["runs"])


def _make_team_project(team_stack: Stack, base: Path) -> dict:
    """Teammate A's clone in ``base/A`` with its bare origin ``base/origin.git``; returns A's ``dvc exp run``
    (its arguments and output), the experiment's name and its runs (:class:`TeamProject`)."""
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
    with pytest.MonkeyPatch.context() as mp:
        for key, value in team_stack.admin().items():
            mp.setenv(key, value)
        found = runs_of(team_stack, exp_name)
    runs = [{"run_id": r.info.run_id, "status": r.info.status, "params": r.data.params, **r.data.tags} for r in found]
    return {"args": first.args, "stdout": first.stdout, "stderr": first.stderr, "exp_name": exp_name, "runs": runs}


def workspace(team: TeamProject, dest: Path) -> Path:
    """A copy of A's workspace (git, DVC cache and config.local included), without A's training checkpoints
    (0.6 GB; no DVC output, and a training of other params does not resume them)."""
    return copy_workspace(team.a, dest, "checkpoints")


def mlflow_client(stack: Stack) -> MlflowClient:
    return MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)


def runs_of(stack: Stack, exp_name: str) -> list:
    """The runs of a DVC experiment on the team's server, in MLflow experiment ``depthpipe``."""
    client = mlflow_client(stack)
    experiment = client.get_experiment_by_name("depthpipe").experiment_id
    return client.search_runs([experiment], f"tags.`dvc.exp_name` = '{exp_name}'", max_results=5000)
