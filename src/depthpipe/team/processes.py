"""Daemons started and stopped by pid: each in a session of its own, its pid file, its log, its readiness.

A daemon is recorded as ``<run_dir>/<name>.pid`` (the pid and the process's start time, so a pid that the
system has since given to another process is never signalled). Stopping sends the daemon's whole process
group (it is a session leader: ``mlflow server`` starts uvicorn workers, PostgreSQL its backends) the
daemon's stop signal, then SIGKILL after a grace period. A daemon killed alone (``kill -9`` of its pid) can
leave its children serving in its group: :func:`leftovers` finds them (started after the recorded daemon, in
its group) and :func:`stop` stops them too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import psutil

from depthpipe.errors import DepthpipeError

POLL_S = 0.2


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def _record(run_dir: Path, name: str) -> dict | None:
    try:
        record = json.loads(pid_file(run_dir, name).read_text())
        return {"pid": int(record["pid"]), "started": float(record["started"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def leftovers(run_dir: Path, name: str) -> list[int]:
    """Live processes left in the group of daemon ``name`` when the daemon itself is gone (else none)."""
    record = _record(run_dir, name)
    if record is None or running_pid(run_dir, name) is not None:
        return []
    return _members(record["pid"], record["started"])


def _members(pgid: int, since: float) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "status", "create_time"]):
        try:
            if (
                proc.info["status"] != psutil.STATUS_ZOMBIE
                and proc.info["create_time"] >= since - 1.0
                and os.getpgid(proc.info["pid"]) == pgid
            ):
                found.append(proc.info["pid"])
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def running_pid(run_dir: Path, name: str) -> int | None:
    """The pid of daemon ``name`` when its pid file names a live process started when recorded, else None."""
    try:
        record = json.loads(pid_file(run_dir, name).read_text())
        proc = psutil.Process(int(record["pid"]))
        if abs(proc.create_time() - float(record["started"])) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.pid
    except (OSError, ValueError, KeyError, psutil.Error):
        return None


def log_tail(log: Path, lines: int = 1) -> str:
    """The last non-empty lines of ``log`` on one line (``(empty)`` when there are none)."""
    try:
        text = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        text = []
    return " | ".join(text[-lines:]) or "(empty)"


def open_log(log: Path) -> BinaryIO:
    """``log`` opened for appending, created readable by its owner only."""
    return os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def start(
    name: str,
    argv: Sequence[str],
    run_dir: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` as daemon ``name`` (its own session, output appended to ``log``, run as ``user`` when
    given); records and returns its pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    entry = pwd.getpwnam(user) if user is not None else None
    with open_log(log) as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            umask=0o077,  # whatever a daemon writes is its user's alone
            user=entry.pw_uid if entry else None,
            group=entry.pw_gid if entry else None,
            extra_groups=[] if entry else None,
        )
    started = psutil.Process(proc.pid).create_time()
    pid_file(run_dir, name).write_text(json.dumps({"pid": proc.pid, "started": started, "argv0": argv[0]}))
    return proc.pid


def wait_ready(name: str, ready: Callable[[], bool], run_dir: Path, log: Path, timeout_s: float) -> None:
    """Wait until ``ready()``; a daemon that exits, or is not ready in ``timeout_s``, is one line quoting its log."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return
        if running_pid(run_dir, name) is None:
            raise DepthpipeError(f"{name} exited while starting; its log {log} ends: {log_tail(log, 2)}")
        if time.monotonic() > deadline:
            raise DepthpipeError(f"{name} not ready after {timeout_s:.0f} s; its log {log} ends: {log_tail(log, 2)}")
        time.sleep(POLL_S)


def stop(name: str, run_dir: Path, sig: int = signal.SIGTERM, grace_s: float = 20.0) -> int | None:
    """Stop daemon ``name`` and its process group (``sig``, then SIGKILL after ``grace_s``), or what is left of
    its group when it died alone; returns the daemon's pid, or None when nothing of it ran. Its pid file goes
    either way."""
    pid = running_pid(run_dir, name)
    if pid is None and leftovers(run_dir, name):
        pid = (_record(run_dir, name) or {})["pid"]
    if pid is not None:
        _signal_group(pid, sig)
        deadline = time.monotonic() + grace_s
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _group_alive(pid) and time.monotonic() < deadline + 10:
                time.sleep(POLL_S)
    pid_file(run_dir, name).unlink(missing_ok=True)
    return pid


def kill(name: str, run_dir: Path) -> int | None:
    """SIGKILL daemon ``name``'s process group at once (a crash, as the fault tests make one); returns its pid."""
    pid = running_pid(run_dir, name)
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
    return pid


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is left in process group ``pgid``."""
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
