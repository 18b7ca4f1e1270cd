"""The team's ``mlflow server``: runs and the registry in PostgreSQL, artifacts proxied to the S3 bucket.

Clients reach artifacts through the server (``mlflow-artifacts:``), so a teammate needs no S3 key for MLflow;
the server alone holds the keys and the database password, as environment variables (never on its command
line). MLflow's job runner (GenAI jobs, seven worker processes) is off: this stack runs none.

MLflow's basic-auth app is on (``Team.auth``): a request without a user and password gets HTTP 401. Its users
live in ``basic_auth.db`` in the stack's folder; ``admin``'s password, and one user per Unix user that ran
``team up`` (:func:`ensure_user`, written to that user's ``~/.mlflow/credentials``, where every MLflow client
reads it), are in ``team.json``. Every user may log runs and register versions (``EDIT``); deleting an
experiment or model takes its creator or ``admin``.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import secrets
import sys
from pathlib import Path

import requests

from depthpipe.errors import DepthpipeError
from depthpipe.team import account, processes
from depthpipe.team.settings import LOOPBACK, Team

NAME = "mlflow"
START_TIMEOUT_S = 180.0  # a first start creates the schema (MLflow's migrations) in PostgreSQL
AUTH_HINT = (
    "the MLflow server has no authentication (--no-basic-auth): anyone who reaches it can read, change and delete "
    "runs and models; `depthpipe team down` and `depthpipe team up --basic-auth` turn MLflow's basic-auth app on"
)
ADMIN = "admin"
CREDENTIALS = Path("~/.mlflow/credentials")


def mlflow_binary() -> str:
    beside = Path(sys.executable).with_name("mlflow")
    return str(beside) if beside.exists() else "mlflow"


def command(team: Team) -> list[str]:
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
    if team.auth:
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
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": team.admin_password,
        # the auth app's CSRF tokens, the same for every worker and restart (derived: no secret of its own)
        "MLFLOW_FLASK_SERVER_SECRET_KEY": hashlib.sha256(f"flask:{team.db_password}".encode()).hexdigest(),
    }


def auth_db(team: Team) -> Path:
    """The basic-auth app's users (password hashes) in a private folder of the stack."""
    return account.private_dir(team.data_dir / "mlflow") / "basic_auth.db"


def _auth_config(team: Team) -> Path:
    """The basic-auth app's settings (no secret: the admin's password comes as an environment variable)."""
    text = (
        "[mlflow]\n"
        "default_permission = EDIT\n"
        f"database_uri = sqlite:///{auth_db(team)}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    return account.private_file(team.data_dir / "mlflow" / "basic_auth.ini", text)


def admin_auth(team: Team) -> tuple[str, str] | None:
    """The admin's (user, password) for requests to the server; None when the basic-auth app is off."""
    return (ADMIN, team.admin_password) if team.auth else None


def ensure_user(team: Team) -> str | None:
    """Make this Unix user's MLflow user (once) and write its credentials to ``~/.mlflow/credentials`` (0600)
    unless that file names another user; returns a line to print when it does (None otherwise)."""
    name = team.mlflow_user
    if not team.auth:
        return None
    if name not in team.users:
        team.users[name] = secrets.token_urlsafe(18)
        team.save()
    url = f"{team.tracking_uri}/api/2.0/mlflow/users"
    auth = admin_auth(team)
    known = requests.get(f"{url}/get", params={"username": name}, auth=auth, timeout=10)
    if known.status_code == 404:
        answer = requests.post(
            f"{url}/create", json={"username": name, "password": team.users[name]}, auth=auth, timeout=10
        )
    else:
        answer = requests.patch(
            f"{url}/update-password", json={"username": name, "password": team.users[name]}, auth=auth, timeout=10
        )
    if answer.status_code != 200:
        raise DepthpipeError(f"MLflow server {team.tracking_uri}: user '{name}' not set up (HTTP {answer.status_code})")
    return _write_credentials(name, team.users[name])


def _write_credentials(name: str, password: str) -> str | None:
    path = CREDENTIALS.expanduser()
    config = configparser.ConfigParser()
    config.read(path)
    if "mlflow" in config and config["mlflow"].get("mlflow_tracking_username") not in (None, name):
        return (
            f"team: {path} names another MLflow user: set MLFLOW_TRACKING_USERNAME={name} and "
            f"MLFLOW_TRACKING_PASSWORD from team.json's users to use this stack"
        )
    config["mlflow"] = {"mlflow_tracking_username": name, "mlflow_tracking_password": password}
    account.private_dir(path.parent)
    lines: list[str] = []
    for section in config.sections():
        lines += [f"[{section}]", *(f"{k} = {v}" for k, v in config[section].items()), ""]
    account.private_file(path, "\n".join(lines))
    return None


def start(team: Team) -> int:
    """Start the server and wait until it answers ``/health``; returns its pid."""
    log = team.log_dir / "mlflow.log"
    pid = processes.start(NAME, command(team), team.run_dir, log, env=environment(team))
    processes.wait_ready(NAME, lambda: healthy(team), team.run_dir, log, START_TIMEOUT_S)
    return pid


def healthy(team: Team) -> bool:
    try:
        return requests.get(f"{team.tracking_uri}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop(team: Team) -> int | None:
    return processes.stop(NAME, team.run_dir)
