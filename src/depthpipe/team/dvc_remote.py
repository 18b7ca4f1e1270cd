"""The team's DVC remote in a clone: ``team`` (the default), ``s3://<bucket>/dvc`` at the stack's endpoint, set
in the git-ignored ``.dvc/config.local``. The S3 keys are in neither config: they sit in an AWS credentials
file of the stack (``<data dir>/s3-credentials``, mode 0600, profile ``depthpipe-team``) that the remote names
with ``credentialpath`` and ``profile``, so ``dvc config -l`` lists where the keys are, never the secret.

:func:`remote_of` reads back what a clone has (``.dvc/config`` and ``config.local`` merged, as DVC does, and
the keys from its credentials file or ``AWS_*`` variables) so ``depthpipe team status`` can check them.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from dvc.config import Config

from depthpipe.team import account
from depthpipe.team.settings import Team

REMOTE = "team"
LOCAL_CONFIG = Path(".dvc") / "config.local"
PROFILE = "depthpipe-team"


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


def credentials_file(team: Team) -> Path:
    """The stack's S3 keys as an AWS credentials file (profile :data:`PROFILE`, mode 0600)."""
    text = f"[{PROFILE}]\naws_access_key_id = {team.access_key_id}\naws_secret_access_key = {team.secret_access_key}\n"
    return account.private_file(team.data_dir / "s3-credentials", text)


def write_local(project: Path, team: Team) -> Path:
    """Make ``team`` the default remote of ``project`` in ``.dvc/config.local`` (keys by reference only)."""
    config = Config(dvc_dir=str(project / ".dvc"))
    with config.edit("local") as conf:
        conf["core"]["remote"] = REMOTE
        conf["remote"][REMOTE] = {
            "url": team.dvc_remote_url,
            "endpointurl": team.endpoint_url,
            "region": "us-east-1",
            "credentialpath": str(credentials_file(team)),
            "profile": PROFILE,
        }
    path = project / LOCAL_CONFIG
    os.chmod(path, 0o600)
    return path


def _profile_keys(path: str | None, profile: str | None) -> tuple[str | None, str | None]:
    """(key id, secret) of ``profile`` in the AWS credentials file ``path`` (Nones when absent)."""
    if not path:
        return None, None
    parser = configparser.ConfigParser()
    parser.read(os.path.expanduser(path))
    section = parser[profile or "default"] if parser.has_section(profile or "default") else {}
    return section.get("aws_access_key_id"), section.get("aws_secret_access_key")


def remote_of(project: Path) -> Remote | None:
    """The default remote of ``project`` when it is an S3 one (None otherwise)."""
    conf = Config(dvc_dir=str(project / ".dvc"))
    name = conf["core"].get("remote")
    entry = conf["remote"].get(name) if name else None
    if not entry or not str(entry.get("url", "")).startswith("s3://"):
        return None
    key_id, secret = _profile_keys(entry.get("credentialpath"), entry.get("profile"))
    return Remote(
        name,
        entry["url"],
        entry.get("endpointurl"),
        entry.get("access_key_id") or key_id or os.environ.get("AWS_ACCESS_KEY_ID"),
        entry.get("secret_access_key") or secret or os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )
