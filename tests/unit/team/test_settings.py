"""A stack's settings: made once with fresh keys, kept private, reused as they are, and never printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from depthpipe.errors import DepthpipeError
from depthpipe.team import settings


def test_a_new_stack_gets_its_ports_fresh_keys_and_a_private_file(tmp_path: Path) -> None:
    team = settings.create(tmp_path, "127.0.0.1", {"mlflow": 0, "s3": 8333, "postgres": 0}, "bkt", 2)
    other = settings.create(tmp_path, "127.0.0.1", {"mlflow": 0, "s3": 8333, "postgres": 0}, "bkt", 2)
    assert team.ports["s3"] == 8333 and team.ports["mlflow"] > 0 and set(settings.INTERNAL_PORTS) <= set(team.ports)
    assert team.secret_access_key != other.secret_access_key and team.db_password != other.db_password
    team.save()
    assert stat.S_IMODE(team.state_file.stat().st_mode) == 0o600
    assert settings.load(tmp_path) == team
    assert team.tracking_uri == f"http://127.0.0.1:{team.ports['mlflow']}"
    assert team.backend_store_uri.startswith("postgresql+psycopg://depthpipe@127.0.0.1:")
    assert team.db_password not in team.backend_store_uri and team.secret_access_key not in repr(team)
    printed = "\n".join(team.teammate_lines())
    assert "s3://bkt/dvc" in printed and "endpointurl http://127.0.0.1:8333" in printed
    assert team.secret_access_key not in printed and team.db_password not in printed


def test_options_that_differ_from_the_running_stack_are_named(tmp_path: Path) -> None:
    team = settings.create(tmp_path, "127.0.0.1", {"mlflow": 5050, "s3": 8333, "postgres": 5433}, "bkt", 2)
    assert settings.conflicts(team, None, {"mlflow": None, "s3": 0}, None) == []
    assert settings.conflicts(team, "0.0.0.0", {"mlflow": 6000}, "other") == [
        "host 127.0.0.1 (asked: 0.0.0.0)",
        "mlflow port 5050 (asked: 6000)",
        "bucket bkt (asked: other)",
    ]


def test_a_broken_state_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / settings.STATE_FILE).write_text("{not json")
    with pytest.raises(DepthpipeError, match=rf"{tmp_path / settings.STATE_FILE}: not a depthpipe team stack file"):
        settings.load(tmp_path)
