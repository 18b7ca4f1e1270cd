"""``team up`` and ``down`` around real processes, without a whole stack: every port is checked before anything
starts, an ``up`` that fails stops what it started, a port changes without new keys, and the DVC remote names
its keys' file, never the secret."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from depthpipe.errors import DepthpipeError
from depthpipe.team import dvc_remote, postgres, processes, settings, stack

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_taken_port_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DepthpipeError, match=rf"MLflow server port {port} \(--mlflow-port\).*nothing was started"):
            stack.up(tmp_path, ports={"mlflow": port, "s3": 0, "postgres": 0}, say=lambda _: None)
    assert not list((tmp_path / "run").glob("*.pid")) and not (tmp_path / "postgres").exists()


def _fake_parts(run_dir: Path) -> tuple[stack.Part, ...]:
    def starter(name: str):
        return lambda team: processes.start(name, SLEEP, run_dir, run_dir / f"{name}.log")

    def failing(team: settings.Team) -> int:
        raise DepthpipeError("third part failed")

    return (
        stack.Part("first", "First", "postgres", starter("first"), lambda t: processes.stop("first", run_dir), None),
        stack.Part("second", "Second", "s3", starter("second"), lambda t: processes.stop("second", run_dir), None),
        stack.Part("third", "Third", "mlflow", failing, lambda t: None, None),
    )  # type: ignore[arg-type]


def test_an_up_that_fails_stops_what_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    monkeypatch.setattr(stack, "PARTS", _fake_parts(run_dir))
    monkeypatch.setattr(postgres, "init_cluster", lambda team: None)
    said: list[str] = []
    with pytest.raises(DepthpipeError, match="third part failed"):
        stack.up(tmp_path, ports={"mlflow": 0, "s3": 0, "postgres": 0}, say=said.append)
    assert "`up` failed, so it stopped what it had started (First, Second)" in said[-1]
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == SLEEP]


def test_a_port_changes_on_a_stopped_stack_and_keeps_its_keys(tmp_path: Path) -> None:
    team = settings.create(tmp_path, "127.0.0.1", {"mlflow": 5050, "s3": 8333, "postgres": 5433}, "bkt", 2)
    team.save()
    said: list[str] = []
    changed = stack._reconfigure(settings.load(tmp_path), None, {"mlflow": 6060}, None, None, said.append)
    again = settings.load(tmp_path)
    assert changed.ports["mlflow"] == again.ports["mlflow"] == 6060 and "mlflow port 5050 changed" in said[0]
    assert (again.secret_access_key, again.db_password) == (team.secret_access_key, team.db_password)


def test_the_dvc_remote_names_its_keys_file_and_lists_no_secret(tmp_path: Path) -> None:
    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    team = settings.create(tmp_path / "stack", "127.0.0.1", {"mlflow": 0, "s3": 0, "postgres": 0}, "bkt", 2)
    team.save()
    dvc_remote.write_local(tmp_path, team)
    listed = subprocess.run([dvc, "config", "-l"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert f"remote.team.credentialpath={team.data_dir / 's3-credentials'}" in listed
    assert team.secret_access_key not in listed and "secret" not in listed
    remote = dvc_remote.remote_of(tmp_path)
    assert remote is not None and (remote.key_id, remote.secret) == (team.access_key_id, team.secret_access_key)
