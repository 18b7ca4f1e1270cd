"""Where MLflow runs go: the tracking URI and experiment, a store checked within seconds and created once.

Where runs go is MLflow's own business, not a pipeline param (it changes no output):

- ``MLFLOW_TRACKING_URI`` when set (a server, or any store URI); otherwise the SQLite store ``mlflow.db`` of
  the main workspace: ``$DVC_ROOT/mlflow.db`` inside a DVC stage (DVC sets ``DVC_ROOT`` to the main
  repository also for ``dvc exp run --temp`` and ``--queue`` runs, whose stages run in temporary copies, so
  every experiment lands in one store), else ``./mlflow.db``; artifacts beside it in ``mlartifacts/``;
- ``MLFLOW_EXPERIMENT_NAME`` when set, else ``depthpipe``;
- ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``: CPU/GPU/memory of train runs, on unless set to false.

:func:`check_store` runs before a stage writes anything: an unreachable server or an unwritable SQLite file is
one line naming it within seconds (MLflow's own HTTP timeout and retries are shortened in
:mod:`depthpipe.env`). :func:`configure` creates a fresh SQLite store's schema and the experiment under a file
lock, so stages or queued experiments starting together do not race MLflow's schema creation.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlparse, urlsplit, urlunsplit

import requests
from filelock import FileLock

from depthpipe.errors import DepthpipeError

DEFAULT_EXPERIMENT = "depthpipe"
STORE_FILE = "mlflow.db"
HEALTH_TIMEOUT_S = 5.0
ML_EXPERIMENT_KIND = "custom_model_development"  # the MLflow 3 UI's "machine learning" experiment type


_USERINFO_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@")
SECRET_QUERY_KEYS = ("token", "password", "secret", "key", "signature", "credential")


def redacted(uri: str) -> str:
    """``uri`` fit to print or log: a password in its userinfo becomes ``***`` (the user name stays, so a
    message still says whose access failed) and so does the value of any query parameter that names a secret
    (``token``, ``X-Amz-Signature``, ...)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc and not parts.query:
        return uri  # nothing to hide (and urlunsplit would turn sqlite://// into sqlite://)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={'***' if any(s in k.lower() for s in SECRET_QUERY_KEYS) else v}" for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redacted_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(r"\1:***@", text)


def store_dir() -> Path:
    """The main workspace, whose ``mlflow.db`` is the default store: ``DVC_ROOT`` inside a stage, else here."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the SQLite store ``mlflow.db`` of :func:`store_dir`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_dir() / STORE_FILE}"


def experiment_name() -> str:
    """``MLFLOW_EXPERIMENT_NAME`` if set, else ``depthpipe``."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def system_metrics_enabled() -> bool:
    """MLflow's ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``, defaulting to on for depthpipe's train runs."""
    return os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true").strip().lower() in ("1", "true", "yes")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def store_exists() -> bool:
    """False when the tracking URI is a SQLite file that does not exist yet (reading it would create it)."""
    db = sqlite_path(tracking_uri())
    return db is None or db.exists()


def check_store(uri: str | None = None) -> str:
    """Raise a one-line :class:`DepthpipeError` unless the store ``uri`` (default: :func:`tracking_uri`) can be
    written (SQLite) or answers within :data:`HEALTH_TIMEOUT_S` (a server); returns the URI."""
    uri = uri or tracking_uri()
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite(db)
    elif urlparse(uri).scheme in ("http", "https"):
        _check_server(uri)
    return uri


def _check_sqlite(db: Path) -> None:
    hint = "fix its permissions or set MLFLOW_TRACKING_URI to a store you can write"
    if not db.parent.is_dir():
        raise DepthpipeError(f"MLflow store {db}: its folder does not exist; {hint}")
    if not os.access(db.parent, os.W_OK):
        raise DepthpipeError(f"MLflow store {db}: its folder {db.parent} is not writable; {hint}")
    if db.exists():
        if not os.access(db, os.R_OK | os.W_OK):
            raise DepthpipeError(f"MLflow store {db}: not writable; {hint}")
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=HEALTH_TIMEOUT_S) as con:
                con.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DepthpipeError(
                f"MLflow store {db}: not an SQLite database ({exc}); move it away or set MLFLOW_TRACKING_URI"
            ) from None


def _check_server(uri: str) -> None:
    try:
        answer = requests.get(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise DepthpipeError(
            f"MLflow tracking server {redacted(uri)} did not answer within {HEALTH_TIMEOUT_S:g} s "
            f"({reason}); "
            f"start it, or set MLFLOW_TRACKING_URI to a reachable store"
        ) from None
    if answer.status_code != 200:
        raise DepthpipeError(
            f"MLflow tracking server {redacted(uri)} answered HTTP {answer.status_code} to /health; "
            f"check the server or set MLFLOW_TRACKING_URI"
        )


def configure() -> str:
    """Point MLflow at the store and experiment (created once, under a lock); returns the tracking URI."""
    import mlflow  # heavy (about 2.5 s): loaded only by the stages and verbs that log
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    db = sqlite_path(uri)
    lock = FileLock(str(db) + ".lock", timeout=120) if db is not None else None
    with lock if lock is not None else contextlib.nullcontext():
        client = MlflowClient(uri)  # a fresh SQLite store gets its schema here, once, under the lock
        experiment = client.get_experiment_by_name(experiment_name())
        if experiment is None:
            location = (db.parent / "mlartifacts").as_uri() if db is not None else None
            client.create_experiment(
                experiment_name(), artifact_location=location, tags={"mlflow.experimentKind": ML_EXPERIMENT_KIND}
            )
    mlflow.set_experiment(experiment_name())
    return uri


def ui_url(experiment_id: str, run_id: str | None = None) -> str:
    """A link to the experiment (or run) in the MLflow UI, in its machine-learning view.

    For a server store: the server itself; for a SQLite store: ``depthpipe ui``'s default address.
    """
    uri = tracking_uri()
    base = redacted(uri).rstrip("/") if urlparse(uri).scheme in ("http", "https") else "http://127.0.0.1:5000"
    path = f"#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{base}/{path}?workflowType=machine_learning"


def is_tracking_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from MLflow or its store (a server gone, a database that cannot be written).

    The exception types are looked up among the modules already loaded: a library that was never imported
    cannot have raised, and a stage that never logs does not pay for importing MLflow here.
    """
    failures: list[type] = [requests.RequestException]
    for module, name in (("mlflow.exceptions", "MlflowException"), ("sqlalchemy.exc", "SQLAlchemyError")):
        found = getattr(sys.modules.get(module), name, None)
        if isinstance(found, type):
            failures.append(found)
    return isinstance(exc, tuple(failures))
