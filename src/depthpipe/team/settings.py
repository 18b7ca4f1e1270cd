"""What one team stack is: its folder, host, ports, bucket and keys, kept in ``<data dir>/team.json``.

The file is written once, by the first ``depthpipe team up`` into a folder, with keys made there (readable by
its owner only: it holds the S3 secret key and the database password). Every later ``up``, ``down`` and
``status`` reads it, so the stack keeps its ports and keys across restarts and a teammate's settings stay valid.
Nothing here prints a secret: :meth:`Team.teammate_lines` names the key id at most.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from depthpipe.errors import DepthpipeError
from depthpipe.team import account
from depthpipe.team.processes import free_port

STATE_FILE = "team.json"
DB_USER = "depthpipe"
DB_NAME = "mlflow"
DEFAULT_BUCKET = "depthpipe"
DEFAULT_PORTS = {"mlflow": 5050, "s3": 8333, "postgres": 5433}  # what a teammate types; 0 = any free port
# SeaweedFS's own servers (master, volume, filer) and gRPC ports: nobody types them, so any free ones
INTERNAL_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")
LOOPBACK = "127.0.0.1"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/depthpipe/team`` (``~/.local/share/...``); for root ``/var/lib/depthpipe/team``, a folder
    that PostgreSQL's unprivileged user can reach (it refuses to run as root)."""
    if os.geteuid() == 0:
        return Path("/var/lib/depthpipe/team")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "depthpipe" / "team"


@dataclass
class Team:
    """One stack's settings (see the module docstring)."""

    data_dir: Path
    host: str = LOOPBACK
    ports: dict[str, int] = field(default_factory=dict)
    bucket: str = DEFAULT_BUCKET
    workers: int = 2
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    db_password: str = field(default="", repr=False)
    admin_password: str = field(default="", repr=False)  # MLflow's basic-auth app's admin
    auth: bool = False  # MLflow's basic-auth app (on for every stack made since it became the default)
    users: dict[str, str] = field(default_factory=dict, repr=False)  # MLflow user per Unix user: password
    clones: list[str] = field(default_factory=list)  # the clones whose DVC remote `team up` made this stack

    # ------------------------------------------------------------------ where things are
    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def client_host(self) -> str:
        """The host name a client uses: the bound address, or this machine's name when bound to all."""
        return socket.getfqdn() if self.host in ("0.0.0.0", "::") else self.host

    @property
    def tracking_uri(self) -> str:
        """What a teammate sets as ``MLFLOW_TRACKING_URI``."""
        return f"http://{self.client_host}:{self.ports['mlflow']}"

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint (DVC's ``endpointurl``)."""
        return f"http://{self.client_host}:{self.ports['s3']}"

    @property
    def local_endpoint_url(self) -> str:
        """The S3 endpoint as the MLflow server on this machine reaches it."""
        return f"http://{LOOPBACK}:{self.ports['s3']}"

    @property
    def dvc_remote_url(self) -> str:
        return f"s3://{self.bucket}/dvc"

    @property
    def artifacts_destination(self) -> str:
        return f"s3://{self.bucket}/mlartifacts"

    @property
    def backend_store_uri(self) -> str:
        """The MLflow server's store, without the password (the server gets it as ``PGPASSWORD``)."""
        return f"postgresql+psycopg://{DB_USER}@{LOOPBACK}:{self.ports['postgres']}/{DB_NAME}"

    def teammate_lines(self) -> list[str]:
        """The two settings a teammate needs, as commands (no secret: the keys are in ``.dvc/config.local``)."""
        return [
            f"export MLFLOW_TRACKING_URI={self.tracking_uri}",
            f"dvc remote add --local -d team {self.dvc_remote_url} && "
            f"dvc remote modify --local team endpointurl {self.endpoint_url}",
        ]

    # ------------------------------------------------------------------ the file
    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def mlflow_user(self) -> str:
        """This Unix user's MLflow user name (``admin`` is the basic-auth app's own)."""
        return getpass.getuser()

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self) | {"data_dir": str(self.data_dir)}
        account.private_file(self.state_file, json.dumps(data, indent=1))


def load(data_dir: Path) -> Team | None:
    """The stack recorded in ``data_dir`` (None when there is none)."""
    path = Path(data_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        data["data_dir"] = Path(data_dir)
        return Team(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise DepthpipeError(
            f"{path}: not a depthpipe team stack file ({exc}); move it away or pick --data-dir"
        ) from None


def create(data_dir: Path, host: str, ports: dict[str, int], bucket: str, workers: int, auth: bool = True) -> Team:
    """A new stack's settings: the ports asked for (0: any free one), fresh keys; not yet saved."""
    chosen = {name: (port or free_port()) for name, port in ports.items()}
    chosen |= {name: free_port() for name in INTERNAL_PORTS}
    return Team(
        data_dir=Path(data_dir),
        host=host,
        ports=chosen,
        bucket=bucket,
        workers=workers,
        access_key_id="DP" + secrets.token_hex(9).upper(),
        secret_access_key=secrets.token_urlsafe(30),
        db_password=secrets.token_urlsafe(24),
        admin_password=secrets.token_urlsafe(18),
        auth=auth,
    )


def conflicts(team: Team, host: str | None, ports: dict[str, int | None], bucket: str | None) -> list[str]:
    """Options given to ``up`` that differ from the stack already recorded (each a phrase)."""
    out = [f"host {team.host} (asked: {host})" for _ in [0] if host is not None and host != team.host]
    out += [
        f"{name} port {team.ports[name]} (asked: {port})"
        for name, port in ports.items()
        if port not in (None, 0) and port != team.ports.get(name)
    ]
    if bucket is not None and bucket != team.bucket:
        out.append(f"bucket {team.bucket} (asked: {bucket})")
    return out


def apply(team: Team, host: str | None, ports: dict[str, int | None], bucket: str | None) -> Team:
    """``team`` with the host, ports and bucket asked for (a port of 0: any free one); its keys kept."""
    chosen = {name: (free_port() if port == 0 else port) for name, port in ports.items() if port is not None}
    team.host = host or team.host
    team.ports = team.ports | {name: port for name, port in chosen.items() if port is not None}
    team.bucket = bucket or team.bucket
    return team
