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
from depthpipe.team import account, dvc_remote, mlflow_server, objectstore, postgres, processes, settings
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
        answer = requests.post(url, json={"max_results": 1}, auth=mlflow_server.admin_auth(team), timeout=5)
    except requests.RequestException as exc:
        return f"MLflow server {team.tracking_uri} did not answer ({type(exc).__name__})"
    if answer.status_code == 200:
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


def _ports_of(team: Team, part: Part) -> dict[str, int]:
    """The ports ``part`` listens on (the object store: its S3 port and SeaweedFS's own)."""
    names = [part.port, *(settings.INTERNAL_PORTS if part.name == "objectstore" else ())]
    return {name: team.ports[name] for name in names}


def _running(team: Team) -> list[Part]:
    """The parts that run, or whose crashed daemon left processes behind."""
    return [
        p
        for p in PARTS
        if processes.running_pid(team.run_dir, p.name) is not None or processes.leftovers(team.run_dir, p.name)
    ]


def _reconfigure(
    team: Team,
    host: str | None,
    ports: dict[str, int | None],
    bucket: str | None,
    auth: bool | None,
    say: Callable[[str], None],
) -> Team:
    """``team`` with the options asked for: applied (keys, passwords and data kept) when nothing runs, else one
    line saying to stop the stack first."""
    differ = settings.conflicts(team, host, ports, bucket)
    if auth is not None and auth != team.auth:
        differ.append(f"MLflow's basic-auth app {'on' if team.auth else 'off'} (asked: {'on' if auth else 'off'})")
    if not differ:
        return team
    if _running(team):
        raise DepthpipeError(
            f"the stack in {team.data_dir} runs with {', '.join(differ)}; `depthpipe team down` first, then "
            f"`depthpipe team up` with the new options (its keys and data are kept)"
        )
    team = settings.apply(team, host, ports, bucket)
    team.auth = team.auth if auth is None else auth
    team.save()
    say(
        f"team: the stack in {team.data_dir} now has {', '.join(d.split(' (asked')[0] for d in differ)} changed; "
        f"its keys and data are kept"
    )
    return team


def _new(
    data_dir: Path,
    host: str | None,
    ports: dict[str, int | None],
    bucket: str | None,
    workers: int | None,
    auth: bool | None,
) -> Team:
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
        auth=True if auth is None else auth,
    )
    _private_folders(team)
    team.save()
    return team


def _private_folders(team: Team) -> None:
    """The stack's folder (for root 0711: PostgreSQL's own user passes through it to its cluster; everything in
    it is 0600 or a 0700 folder), its run and log folders 0700."""
    team.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(team.data_dir, 0o711 if os.geteuid() == 0 else 0o700)
    account.private_dir(team.run_dir)
    account.private_dir(team.log_dir)


def _check_ports(team: Team, waiting: list[Part]) -> None:
    """Before anything starts: SeaweedFS's own ports that another program took are moved; a port a person
    chose that is taken is one line naming every such port, and nothing is started."""
    taken = []
    for part in waiting:
        for name, port in _ports_of(team, part).items():
            if processes.port_open(settings.LOOPBACK, port):
                if name in settings.INTERNAL_PORTS:
                    team.ports[name] = processes.free_port()
                else:
                    taken.append(f"{part.title} port {port} (--{name}-port)")
    team.save()
    if taken:
        raise DepthpipeError(
            f"taken by another program: {', '.join(taken)}; nothing was started; pick another with "
            f"`depthpipe team up --<part>-port N` (0: any free port; the stack keeps its keys and data)"
        )


def _clean_leftovers(team: Team, say: Callable[[str], None]) -> None:
    for part in PARTS:
        left = processes.leftovers(team.run_dir, part.name)
        if left:
            part.stop(team)
            say(f"team: {part.title} had crashed; stopped the {len(left)} processes it left (pids {left})")


def up(
    data_dir: Path,
    host: str | None = None,
    ports: dict[str, int | None] | None = None,
    bucket: str | None = None,
    workers: int | None = None,
    basic_auth: bool | None = None,
    say: Callable[[str], None] = print,
) -> Team:
    """Start every part not running (creating the stack's settings on first use); returns them. Every port is
    checked before anything starts, and an ``up`` that fails stops what it started."""
    ports = ports or {}
    found = settings.load(data_dir)
    if found is None:
        team = _new(data_dir, host, ports, bucket, workers, basic_auth)
    else:
        team = _reconfigure(found, host, ports, bucket, basic_auth, say)
        _private_folders(team)
    _clean_leftovers(team, say)
    waiting = [p for p in PARTS if processes.running_pid(team.run_dir, p.name) is None]
    _check_ports(team, waiting)
    started: list[Part] = []
    try:
        postgres.init_cluster(team)
        for part in PARTS:
            where = address(team, part)
            if part not in waiting:
                say(
                    f"team: {part.title} already running (pid {processes.running_pid(team.run_dir, part.name)}) "
                    f"at {where}"
                )
            else:
                pid = part.start(team)
                started.append(part)
                say(f"team: {part.title} started (pid {pid}) at {where}; log {team.log_dir / (part.name + '.log')}")
            if part.name == "postgres":
                postgres.ensure_database(team)
        note = mlflow_server.ensure_user(team)
    except BaseException:
        for part in reversed(started):
            part.stop(team)
        if started:
            say(f"team: `up` failed, so it stopped what it had started ({', '.join(p.title for p in started)})")
        raise
    if note:
        say(note)
    return team


def register_clone(team: Team, project: Path) -> None:
    """Record that ``project``'s DVC remote is this stack (``down`` names the clones besides the caller's)."""
    where = str(project.resolve())
    if where not in team.clones:
        team.clones.append(where)
        team.save()


def other_clones(team: Team, here: Path | None) -> list[str]:
    """The recorded clones, other than ``here``, whose DVC remote still is this stack."""
    mine = str(here.resolve()) if here is not None else None
    out = []
    for clone in team.clones:
        remote = dvc_remote.remote_of(Path(clone)) if (Path(clone) / ".dvc").is_dir() else None
        if clone != mine and remote is not None and remote.endpoint == team.endpoint_url:
            out.append(clone)
    return out


def down(data_dir: Path, force: bool = False, here: Path | None = None, say: Callable[[str], None] = print) -> None:
    """Stop every part ``up`` started (and what a crashed one left), by process group, MLflow first; refused
    without ``force`` while other clones use the stack."""
    team = settings.load(data_dir)
    if team is None:
        say(f"team: no stack in {data_dir}")
        return
    others = other_clones(team, here)
    if others and not force and _running(team):
        raise DepthpipeError(
            f"the stack in {data_dir} is also the DVC remote and tracking server of {', '.join(others)}; "
            f"stop it under them too with `depthpipe team down --force`"
        )
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
        left = processes.leftovers(team.run_dir, part.name)
        if pid is not None:
            problem, state = part.check(team), f"running (pid {pid})"
        elif left:
            problem = f"its daemon died and left {len(left)} processes (pids {left}); `depthpipe team up` restarts it"
            state = "crashed"
        else:
            problem, state = "not running", "stopped"
        fine = fine and problem is None
        say(f"team: {part.title:28} {state:20} {address(team, part)}" + (f"  -- {problem}" if problem else ""))
    return fine
