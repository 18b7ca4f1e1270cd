"""The whole stack, in order: PostgreSQL, the object store and its bucket, then the MLflow server on both.

:func:`up` starts what is not running and reuses what is (so ``up`` twice starts nothing), :func:`down` stops
what ``up`` started, by pid, in reverse order, and :func:`status` says for each part whether it runs and
answers. A port that another program holds, a part that will not start, a store that does not answer: one
line each, naming the part, its address and its log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from depthpipe.errors import DepthpipeError
from depthpipe.team import mlflow_server, objectstore, postgres, processes, settings
from depthpipe.team.settings import Team


@dataclass(frozen=True)
class Part:
    """One daemon of the stack: its name, what it is called to a person, its address and its check."""

    name: str
    title: str
    port: str
    start: Callable[[Team], int]
    stop: Callable[[Team], int | None]
    check: Callable[[Team], str | None]


def _check_objectstore(team: Team) -> str | None:
    return objectstore.check_bucket(team.local_endpoint_url, team.bucket, team.access_key_id, team.secret_access_key)


def _check_mlflow(team: Team) -> str | None:
    url = f"{team.tracking_uri}/api/2.0/mlflow/experiments/search"
    try:
        answer = requests.post(url, json={"max_results": 1}, timeout=5)
    except requests.RequestException as exc:
        return f"MLflow server {team.tracking_uri} did not answer ({type(exc).__name__})"
    if answer.status_code in (200, 401):  # 401: the basic-auth app is on, and it answers
        return None
    try:
        message = str(answer.json().get("message") or answer.text)
    except ValueError:
        message = answer.text
    return f"MLflow server {team.tracking_uri} answered HTTP {answer.status_code}: {' '.join(message.split())}"


PARTS = (
    Part("postgres", "PostgreSQL", "postgres", postgres.start, postgres.stop, postgres.check),
    Part("objectstore", "S3 object store (SeaweedFS)", "s3", objectstore.start, objectstore.stop, _check_objectstore),
    Part("mlflow", "MLflow server", "mlflow", mlflow_server.start, mlflow_server.stop, _check_mlflow),
)


def address(team: Team, part: Part) -> str:
    port = team.ports[part.port]
    if part.name == "postgres":
        return f"{settings.LOOPBACK}:{port}"
    return team.tracking_uri if part.name == "mlflow" else team.endpoint_url


def up(
    data_dir: Path,
    host: str | None = None,
    ports: dict[str, int | None] | None = None,
    bucket: str | None = None,
    workers: int | None = None,
    basic_auth: bool = False,
    say: Callable[[str], None] = print,
) -> Team:
    """Start every part not running (creating the stack's settings on first use); returns them."""
    ports = ports or {}
    team = settings.load(data_dir)
    if team is None:
        asked = {
            name: ports.get(name) if ports.get(name) is not None else default
            for name, default in settings.DEFAULT_PORTS.items()
        }
        team = settings.create(
            data_dir,
            host or settings.LOOPBACK,
            {k: int(v or 0) for k, v in asked.items()},
            bucket or settings.DEFAULT_BUCKET,
            workers or 2,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o755)  # PostgreSQL's own user (for root: nobody) enters it; the secrets are 0600
        team.save()
    else:
        differ = settings.conflicts(team, host, ports, bucket)
        if differ:
            raise DepthpipeError(
                f"the stack in {data_dir} has {', '.join(differ)}; `depthpipe team down` and remove "
                f"{team.state_file} to change it, or pick another --data-dir"
            )
    postgres.init_cluster(team)
    for part in PARTS:
        pid = processes.running_pid(team.run_dir, part.name)
        where = address(team, part)
        if pid is not None:
            say(f"team: {part.title} already running (pid {pid}) at {where}")
        else:
            port = team.ports[part.port]
            if processes.port_open(settings.LOOPBACK, port):
                raise DepthpipeError(
                    f"{part.title}: port {port} is taken by another program; pick another with "
                    f"--{part.port}-port (or 0 for any free port) and a fresh --data-dir"
                )
            if part.name == "mlflow":
                pid = mlflow_server.start(team, basic_auth)
            else:
                pid = part.start(team)
            say(f"team: {part.title} started (pid {pid}) at {where}; log {team.log_dir / (part.name + '.log')}")
        if part.name == "postgres":
            postgres.ensure_database(team)
    return team


def down(data_dir: Path, say: Callable[[str], None] = print) -> None:
    """Stop every part ``up`` started, by pid, MLflow first."""
    team = settings.load(data_dir)
    if team is None:
        say(f"team: no stack in {data_dir}")
        return
    for part in reversed(PARTS):
        pid = part.stop(team)
        say(f"team: {part.title} stopped (pid {pid})" if pid else f"team: {part.title} was not running")


def status(data_dir: Path, say: Callable[[str], None] = print) -> bool:
    """One line per part (pid, address, whether it answers); True when every part runs and answers."""
    team = settings.load(data_dir)
    if team is None:
        say(f"team: no stack in {data_dir} (start one with `depthpipe team up`)")
        return False
    fine = True
    for part in PARTS:
        pid = processes.running_pid(team.run_dir, part.name)
        problem = part.check(team) if pid is not None else "not running"
        fine = fine and problem is None
        state = f"running (pid {pid})" if pid is not None else "stopped"
        say(f"team: {part.title:28} {state:20} {address(team, part)}" + (f"  -- {problem}" if problem else ""))
    return fine
