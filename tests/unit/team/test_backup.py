"""``team db-upgrade`` around MLflow's server: stopped for the upgrade, started again only if it was running, and a
failed upgrade leaves it stopped. (The upgrade itself runs for real on a restored stack: ``team restore`` upgrades
what it restores, tests/e2e/test_team_backup.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from depthpipe.errors import DepthpipeError
from depthpipe.team import backup, mlflow_server, processes, settings


def _recorded(monkeypatch: pytest.MonkeyPatch, running: bool, upgrade_fails: bool = False) -> list[str]:
    calls: list[str] = []

    def upgrade(team: settings.Team) -> None:
        calls.append("upgrade")
        if upgrade_fails:
            raise DepthpipeError("mlflow db upgrade of postgresql+psycopg://... failed: no database")

    monkeypatch.setattr(processes, "running_pid", lambda run_dir, name: 4242 if running else None)
    monkeypatch.setattr(mlflow_server, "stop", lambda team: calls.append("stop"))
    monkeypatch.setattr(mlflow_server, "start", lambda team: calls.append("start"))
    monkeypatch.setattr(backup, "_upgrade_schema", upgrade)
    return calls


@pytest.fixture
def team(tmp_path: Path) -> settings.Team:
    """A stack's settings (nothing started: the server's stop and start are recorded, not run)."""
    return settings.create(tmp_path, "127.0.0.1", {"mlflow": 0, "s3": 0, "postgres": 0}, "bkt", 1)


@pytest.mark.parametrize("running, expected", [(True, ["stop", "upgrade", "start"]), (False, ["stop", "upgrade"])])
def test_the_server_is_stopped_for_the_upgrade_and_started_only_if_it_ran(
    team: settings.Team, monkeypatch: pytest.MonkeyPatch, running: bool, expected: list[str]
) -> None:
    calls = _recorded(monkeypatch, running)
    said: list[str] = []
    backup.db_upgrade(team, say=said.append)
    assert calls == expected
    assert said == [f"team: MLflow's schema in {team.backend_store_uri} is up to date"]


def test_a_failed_upgrade_is_one_line_and_leaves_the_server_stopped(
    team: settings.Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _recorded(monkeypatch, running=True, upgrade_fails=True)
    with pytest.raises(DepthpipeError, match="mlflow db upgrade of .* failed"):
        backup.db_upgrade(team, say=lambda _: None)
    assert calls == ["stop", "upgrade"]
