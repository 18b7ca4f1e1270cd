"""A stack's backup and restore, and MLflow's schema upgrade of its database.

A backup is a folder (mode 0700): ``mlflow.dump`` (``pg_dump -Fc`` of MLflow's database: runs, metrics, the
registry), ``bucket/`` (every object of the bucket: MLflow's artifacts and the DVC remote), ``basic_auth.db``
(MLflow's users) and ``backup.json`` (the users' passwords, which the users file holds only hashed). A restore
puts all of it into a stack, its own keys and ports kept, and brings the restored database to the installed
MLflow's schema (a backup made with an older MLflow would not serve otherwise); MLflow's server is stopped
meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from depthpipe.errors import DepthpipeError
from depthpipe.team import account, mlflow_server, objectstore, postgres, processes
from depthpipe.team.settings import DB_NAME, DB_USER, LOOPBACK, Team

MANIFEST = "backup.json"


def _pg(team: Team, tool: str, *args: str) -> None:
    """Run a PostgreSQL client tool against the stack's database; one line quoting it on failure."""
    argv = [str(postgres.BIN / tool), "-h", LOOPBACK, "-p", str(team.ports["postgres"]), "-U", DB_USER, *args]
    done = subprocess.run(argv, env={"PGPASSWORD": team.db_password}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        raise DepthpipeError(f"{tool} of PostgreSQL {LOOPBACK}:{team.ports['postgres']}/{DB_NAME} failed: {tail}")


def _objects(team: Team) -> list[str]:
    s3 = objectstore.client(team)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=team.bucket)  # type: ignore[attr-defined]
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def backup(team: Team, dest: Path, say: Callable[[str], None] = print) -> None:
    """Write a backup of the running stack to the new folder ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise DepthpipeError(f"{dest}: not empty; a backup goes into a new folder")
    account.private_dir(dest)
    _pg(team, "pg_dump", "-d", DB_NAME, "-Fc", "-f", str(dest / "mlflow.dump"))
    if mlflow_server.auth_db(team).exists():
        with sqlite3.connect(mlflow_server.auth_db(team)) as src, sqlite3.connect(dest / "basic_auth.db") as out:
            src.backup(out)
    s3 = objectstore.client(team)
    keys = _objects(team)
    for key in keys:
        path = dest / "bucket" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(team.bucket, key, str(path))  # type: ignore[attr-defined]
    manifest = {"bucket": team.bucket, "objects": len(keys), "admin_password": team.admin_password}
    account.private_file(dest / MANIFEST, json.dumps(manifest | {"users": team.users}))
    say(f"team: backed up MLflow's database and {len(keys)} objects of s3://{team.bucket} to {dest}")


def restore(team: Team, src: Path, say: Callable[[str], None] = print) -> None:
    """Put the backup in ``src`` into the running stack ``team`` (its database, bucket and MLflow users)."""
    if not (src / MANIFEST).exists():
        raise DepthpipeError(f"{src}: not a depthpipe team backup (no {MANIFEST})")
    manifest = json.loads((src / MANIFEST).read_text())
    mlflow_server.stop(team)
    _pg(team, "pg_restore", "-d", DB_NAME, "--clean", "--if-exists", "--no-owner", str(src / "mlflow.dump"))
    s3 = objectstore.client(team)
    files = [p for p in (src / "bucket").rglob("*") if p.is_file()] if (src / "bucket").is_dir() else []
    for path in files:
        s3.upload_file(str(path), team.bucket, path.relative_to(src / "bucket").as_posix())  # type: ignore[attr-defined]
    if (src / "basic_auth.db").exists():
        with sqlite3.connect(src / "basic_auth.db") as db, sqlite3.connect(mlflow_server.auth_db(team)) as out:
            db.backup(out)
        team.admin_password, team.users = manifest["admin_password"], dict(manifest.get("users", {}))
        team.save()
    _upgrade_schema(team)
    mlflow_server.start(team)
    say(
        f"team: restored MLflow's database and {len(files)} objects into s3://{team.bucket} from {src}; "
        "the database is at this MLflow's schema"
    )


def db_upgrade(team: Team, say: Callable[[str], None] = print) -> None:
    """``mlflow db upgrade`` on the stack's database (MLflow's server stopped meanwhile, then started again)."""
    was_running = processes.running_pid(team.run_dir, mlflow_server.NAME) is not None
    mlflow_server.stop(team)
    _upgrade_schema(team)
    say(f"team: MLflow's schema in {team.backend_store_uri} is up to date")
    if was_running:
        mlflow_server.start(team)


def _upgrade_schema(team: Team) -> None:
    """``mlflow db upgrade`` of the stack's database (its server stopped); one line quoting it on failure."""
    done = subprocess.run(
        [mlflow_server.mlflow_binary(), "db", "upgrade", team.backend_store_uri],
        env=mlflow_server.environment(team),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-2:])
        raise DepthpipeError(f"mlflow db upgrade of {team.backend_store_uri} failed: {tail}")
