"""Daemons by pid: started in their own session, found again only while the same process lives, stopped with
their whole process group."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from depthpipe.errors import DepthpipeError
from depthpipe.team import processes

SCRIPT = (
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "time.sleep(60)"
)


def test_a_daemon_and_its_child_stop_by_pid(tmp_path: Path) -> None:
    pid = processes.start("sleeper", [sys.executable, "-c", SCRIPT], tmp_path, tmp_path / "sleeper.log")
    assert processes.running_pid(tmp_path, "sleeper") == pid
    deadline = time.monotonic() + 10
    while not psutil.Process(pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    (child,) = psutil.Process(pid).children()
    assert processes.stop("sleeper", tmp_path, grace_s=5) == pid
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert processes.running_pid(tmp_path, "sleeper") is None and not processes.pid_file(tmp_path, "sleeper").exists()
    assert processes.stop("sleeper", tmp_path) is None  # stopping what does not run is no error


def test_a_pid_file_naming_another_process_is_not_ours(tmp_path: Path) -> None:
    """A recorded pid that now belongs to a process started at another time is never signalled."""
    me = psutil.Process()
    processes.pid_file(tmp_path, "old").write_text(json.dumps({"pid": me.pid, "started": me.create_time() - 100}))
    assert processes.running_pid(tmp_path, "old") is None
    assert processes.stop("old", tmp_path) is None and me.is_running()


def test_a_daemon_that_exits_at_start_is_one_line_quoting_its_log(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    processes.start("bad", [sys.executable, "-c", "print('port 5050 in use'); raise SystemExit(1)"], tmp_path, log)
    with pytest.raises(DepthpipeError, match=r"bad exited while starting; its log .*bad.log ends: port 5050 in use"):
        processes.wait_ready("bad", lambda: False, tmp_path, log, timeout_s=20)


def test_a_daemon_killed_alone_leaves_its_children_and_stop_takes_them(tmp_path: Path) -> None:
    """``kill -9`` of the daemon alone: its child serves on in its group; ``leftovers`` finds it, ``stop`` ends it."""
    pid = processes.start("crashy", [sys.executable, "-c", SCRIPT], tmp_path, tmp_path / "crashy.log")
    deadline = time.monotonic() + 10
    while not psutil.Process(pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    (child,) = psutil.Process(pid).children()
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(timeout=10) if psutil.pid_exists(pid) else None
    assert processes.running_pid(tmp_path, "crashy") is None
    assert processes.leftovers(tmp_path, "crashy") == [child.pid]
    assert processes.stop("crashy", tmp_path, grace_s=5) == pid
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert processes.leftovers(tmp_path, "crashy") == []
