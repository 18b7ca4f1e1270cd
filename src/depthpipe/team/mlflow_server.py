"""The team's ``mlflow server``: runs and the registry in PostgreSQL, artifacts proxied to the S3 bucket.

Clients reach artifacts through the server (``mlflow-artifacts:``), so a teammate needs no S3 key for MLflow;
the server alone holds the keys and the database password, as environment variables (never on its command
line). MLflow's job runner (GenAI jobs, seven worker processes) is off: this stack runs none.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from depthpipe.team import processes
from depthpipe.team.settings import LOOPBACK, Team

NAME = "mlflow"
START_TIMEOUT_S = 180.0  # a first start creates the schema (MLflow's migrations) in PostgreSQL
AUTH_HINT = (
    "the MLflow server has no authentication: anyone who reaches it can read, change and delete runs and models; "
    "turn on MLflow's basic-auth app with `depthpipe team up --basic-auth` (mlflow server --app-name basic-auth; "
    "teammates then set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
)


def mlflow_binary() -> str:
    beside = Path(sys.executable).with_name("mlflow")
    return str(beside) if beside.exists() else "mlflow"


def command(team: Team, basic_auth: bool = False) -> list[str]:
    """The server's command line (no secret on it)."""
    argv = [
        mlflow_binary(),
        "server",
        "--backend-store-uri",
        team.backend_store_uri,
        "--artifacts-destination",
        team.artifacts_destination,
        "--serve-artifacts",
        "--host",
        team.host,
        "--port",
        str(team.ports["mlflow"]),
        "--workers",
        str(team.workers),
    ]
    if team.host != LOOPBACK:
        argv += ["--allowed-hosts", "*"]
    if basic_auth:
        argv += ["--app-name", "basic-auth"]
    return argv


def environment(team: Team) -> dict[str, str]:
    """The server's environment: the database password and the S3 keys and endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "AWS_"))}
    return env | {
        "PGPASSWORD": team.db_password,
        "AWS_ACCESS_KEY_ID": team.access_key_id,
        "AWS_SECRET_ACCESS_KEY": team.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": team.local_endpoint_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_AUTH_CONFIG_PATH": str(_auth_config(team)),
    }


def _auth_config(team: Team) -> Path:
    """The basic-auth app's settings: its users in a SQLite file of the stack (used only with --basic-auth)."""
    path = team.data_dir / "basic_auth.ini"
    if not path.exists():
        path.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{team.data_dir / 'basic_auth.db'}\n"
            "admin_username = admin\n"
            f"admin_password = {team.admin_password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        os.chmod(path, 0o600)
    return path


def start(team: Team, basic_auth: bool = False) -> int:
    """Start the server and wait until it answers ``/health``; returns its pid."""
    log = team.log_dir / "mlflow.log"
    pid = processes.start(NAME, command(team, basic_auth), team.run_dir, log, env=environment(team))
    processes.wait_ready(NAME, lambda: healthy(team), team.run_dir, log, START_TIMEOUT_S)
    return pid


def healthy(team: Team) -> bool:
    try:
        return requests.get(f"{team.tracking_uri}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop(team: Team) -> int | None:
    return processes.stop(NAME, team.run_dir)
