"""The team's DVC remote in a clone: ``team`` (the default), ``s3://<bucket>/dvc`` at the stack's endpoint, with
the S3 keys in the git-ignored ``.dvc/config.local`` (mode 0600), never in ``.dvc/config``.

:func:`remote_of` reads back what a clone has (``.dvc/config`` and ``config.local`` merged, as DVC does) so
``depthpipe team status`` can check that its keys open the bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dvc.config import Config

from depthpipe.team.settings import Team

REMOTE = "team"
LOCAL_CONFIG = Path(".dvc") / "config.local"


@dataclass(frozen=True)
class Remote:
    """A clone's default DVC remote, as far as an S3 check needs it."""

    name: str
    url: str
    endpoint: str | None
    key_id: str | None
    secret: str | None

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("s3://").split("/", 1)[0]


def write_local(project: Path, team: Team) -> Path:
    """Make ``team`` the default remote of ``project`` in ``.dvc/config.local``; returns that file."""
    config = Config(dvc_dir=str(project / ".dvc"))
    with config.edit("local") as conf:
        conf["core"]["remote"] = REMOTE
        conf["remote"][REMOTE] = {
            "url": team.dvc_remote_url,
            "endpointurl": team.endpoint_url,
            "region": "us-east-1",
            "access_key_id": team.access_key_id,
            "secret_access_key": team.secret_access_key,
        }
    path = project / LOCAL_CONFIG
    os.chmod(path, 0o600)
    return path


def remote_of(project: Path) -> Remote | None:
    """The default remote of ``project`` when it is an S3 one (None otherwise)."""
    conf = Config(dvc_dir=str(project / ".dvc"))
    name = conf["core"].get("remote")
    entry = conf["remote"].get(name) if name else None
    if not entry or not str(entry.get("url", "")).startswith("s3://"):
        return None
    return Remote(
        name,
        entry["url"],
        entry.get("endpointurl"),
        entry.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID"),
        entry.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )
