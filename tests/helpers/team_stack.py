"""The team's shared stack for the tests: ``depthpipe team up`` on free 127.0.0.1 ports, once per session.

The session fixture :func:`team_stack` starts real PostgreSQL, SeaweedFS and ``mlflow server`` processes through
the command a person runs (in a folder under /tmp that PostgreSQL's unprivileged user can enter when the tests
run as root), and stops them by pid with ``depthpipe team down`` at the end. Fault tests kill and restart one
part through :class:`Stack`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from depthpipe.team import processes, settings, stack
from depthpipe.team.settings import Team

DEPTHPIPE = str(Path(sys.executable).with_name("depthpipe"))


def team_command(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True):
    """``depthpipe team <args>``; fails the test with its output when ``check`` and it exits non-zero."""
    res = subprocess.run(
        [DEPTHPIPE, "team", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
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


@pytest.fixture(scope="session")
def team_stack() -> Iterator[Stack]:
    """The stack, started once per session on free ports and stopped (by pid) at its end."""
    data_dir = Path(tempfile.mkdtemp(prefix="depthpipe-team-", dir="/tmp"))
    stack = Stack(data_dir)
    try:
        team_command(
            "up",
            "--data-dir",
            str(data_dir),
            "--mlflow-port",
            "0",
            "--s3-port",
            "0",
            "--postgres-port",
            "0",
            "--no-dvc-remote",
        )
        yield stack
    finally:
        team_command("down", "--data-dir", str(data_dir), check=False)
        shutil.rmtree(data_dir, ignore_errors=True)
