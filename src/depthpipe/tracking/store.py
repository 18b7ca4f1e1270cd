"""Where MLflow runs go: the tracking URI and experiment, a store checked within seconds and created once.

Where runs go is MLflow's own business, not a pipeline param (it changes no output):

- ``MLFLOW_TRACKING_URI`` when set (a server, or any store URI); otherwise the SQLite store ``mlflow.db`` of
  the main workspace: ``$DVC_ROOT/mlflow.db`` inside a DVC stage (DVC sets ``DVC_ROOT`` to the main
  repository also for ``dvc exp run --temp`` and ``--queue`` runs, whose stages run in temporary copies, so
  every experiment lands in one store), else ``./mlflow.db``; artifacts beside it in ``mlartifacts/``;
- ``MLFLOW_EXPERIMENT_NAME`` when set, else ``depthpipe``;
- ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``: CPU/GPU/memory of train runs, on unless set to false.

:func:`check_store` runs before a stage writes anything, :func:`check_logged_store` before a verb reads: an
unreachable server, a server whose database or object store is down, refused credentials or an unwritable
SQLite file is one line naming it within seconds (it asks once, without MLflow's retries; those, set in
:mod:`depthpipe.env`, ride out a short outage once a stage runs).
Credentials never reach a printed line: :func:`redacted` for URIs, :func:`redacted_text` for messages, and
:func:`configure` keeps them out of the URI MLflow itself prints. :func:`configure` also creates a fresh SQLite
store's schema and the experiment under a file lock, so stages or queued experiments starting together do not
race MLflow's schema creation.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlparse, urlsplit, urlunsplit

import requests
from filelock import FileLock

from depthpipe.errors import DepthpipeError, one_line

DEFAULT_EXPERIMENT = "depthpipe"
STORE_FILE = "mlflow.db"
HEALTH_TIMEOUT_S = 5.0
ARTIFACTS_PROBE = "/api/2.0/mlflow-artifacts/artifacts"
ARTIFACTS_TIMEOUT_S = 20.0
_UI = "http://127.0.0.1:5000"  # `depthpipe ui`'s default address
ML_EXPERIMENT_KIND = "custom_model_development"  # the MLflow 3 UI's "machine learning" experiment type


_USERINFO_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@")
SECRET_QUERY_KEYS = ("token", "password", "secret", "key", "signature", "credential")
_SECRET_QUERY = re.compile(
    r"([?&][^=&\s]*(?:" + "|".join(SECRET_QUERY_KEYS) + r")[^=&\s]*=)[^&\s#'\")]+", re.IGNORECASE
)


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


def shown(uri: str | None = None) -> str:
    """The tracking URI (default: :func:`tracking_uri`) fit to print: :func:`redacted`, and with the user of
    ``MLFLOW_TRACKING_USERNAME`` (where :func:`configure` moves a URI's credentials) as ``user:***@``, so a
    message says whose access it was."""
    uri = uri or tracking_uri()
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    parts = urlsplit(uri)
    if user and parts.scheme in ("http", "https") and "@" not in parts.netloc:
        secret = ":***" if os.environ.get("MLFLOW_TRACKING_PASSWORD") else ""
        uri = urlunsplit((parts.scheme, f"{quote(user, safe='')}{secret}@{parts.netloc}", *parts[2:]))
    return redacted(uri)


def redacted_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it, and the value of every URL
    query parameter that names a secret (``?token=...``), replaced by ``***``."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", text))


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


def check_logged_store(uri: str | None = None) -> str:
    """:func:`check_store` for a verb that reads what the pipeline logged (``promote``, ``predict models:/``,
    ``serve``, ``ui``): also a SQLite file that does not exist is an error, never a new, empty store."""
    uri = check_store(uri)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise DepthpipeError(
            f"MLflow store {db}: no such database (nothing was logged there); run the pipeline first, or set "
            f"MLFLOW_TRACKING_URI to the store that holds its runs"
        )
    return uri


def _check_sqlite(db: Path) -> None:
    hint = "fix its permissions or set MLFLOW_TRACKING_URI to a store you can write"
    if not db.parent.is_dir():
        raise DepthpipeError(
            f"MLflow store {db}: its folder does not exist; create it, or set MLFLOW_TRACKING_URI to the store you mean"
        )
    if not os.access(db.parent, os.W_OK):
        where = "is on a read-only file system" if os.statvfs(db.parent).f_flag & os.ST_RDONLY else "is not writable"
        raise DepthpipeError(f"MLflow store {db}: its folder {db.parent} {where}; {hint}")
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
    """``/health`` (the server runs), one read of the experiment (its database answers) and, for a server that
    proxies artifacts, a listing of their root (its object store answers): each once, with no retry, so a part
    that is down is one line within seconds."""
    base, auth = split_credentials(uri)
    base = base.rstrip("/")
    if auth is None:  # MLFLOW_TRACKING_USERNAME/PASSWORD, else ~/.mlflow/credentials, as MLflow's client reads them
        from mlflow.utils.credentials import read_mlflow_creds

        creds = read_mlflow_creds()
        auth = (creds.username, creds.password or "") if creds.username else None
    probes = [
        ("/health", None, HEALTH_TIMEOUT_S),
        ("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": experiment_name()}, HEALTH_TIMEOUT_S),
        # a server that proxies artifacts lists its artifact store's root (its own S3 client retries for seconds)
        (ARTIFACTS_PROBE, {"path": ""}, ARTIFACTS_TIMEOUT_S),
    ]
    for path, query, timeout in probes:
        try:
            answer = requests.get(base + path, params=query, auth=auth, timeout=timeout)
        except requests.RequestException as exc:
            raise DepthpipeError(
                f"MLflow tracking server {shown(uri)} did not answer within {HEALTH_TIMEOUT_S:g} s "
                f"({type(exc).__name__}: {redacted_text(_root_cause(exc))}); "
                f"start it, or set MLFLOW_TRACKING_URI to a reachable store"
            ) from None
        if answer.status_code in (401, 403):
            who = f"user '{auth[0]}'" if auth else "no credentials"
            raise DepthpipeError(
                f"MLflow tracking server {shown(uri)} refused {who} (HTTP {answer.status_code}); set "
                f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or user:password@ in the URI)"
            )
        if path == ARTIFACTS_PROBE and answer.status_code != 200:
            if answer.status_code == 404 or "serve-artifacts" in answer.text:
                continue  # a server that does not proxy artifacts: its clients write to the store themselves
            raise DepthpipeError(
                f"MLflow tracking server {shown(uri)} cannot reach its artifact store (HTTP {answer.status_code} "
                f"to {path}: {redacted_text(' '.join(_server_message(answer).split()))}); is its object store "
                f"up? (the server's log names the endpoint)"
            )
        if answer.status_code != 200 and not (path.endswith("get-by-name") and answer.status_code == 404):
            raise DepthpipeError(
                f"MLflow tracking server {shown(uri)} answered HTTP {answer.status_code} to {path}: "
                f"{redacted_text(' '.join(_server_message(answer).split()))}"
            )


def _server_message(answer: requests.Response) -> str:
    """What a server said went wrong: its JSON ``message``, else its text (an HTML error page: its reason)."""
    try:
        return str(answer.json().get("message") or answer.text)
    except ValueError:
        return answer.reason if answer.text.lstrip().startswith("<") else (answer.text or answer.reason)


def _root_cause(exc: BaseException) -> str:
    """The innermost cause of ``exc`` (a refused connection, a timeout), whole, on one line."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    inner = getattr(seen, "reason", None)
    return one_line(inner if isinstance(inner, BaseException) else seen)


def split_credentials(uri: str) -> tuple[str, tuple[str, str] | None]:
    """``uri`` without its ``user:password@`` and the (user, password) it held (percent-decoded), or None."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), (unquote(user), unquote(password))


def configure() -> str:
    """Point MLflow at the store and experiment (created once, under a lock); returns the tracking URI.

    Credentials in a server URI (``http://user:password@host``) move to ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD`` and MLflow gets the URI without them, so nothing MLflow prints or raises (its
    "View run" links, "API request to ... failed") can carry the password.
    """
    import mlflow  # heavy (about 2.5 s): loaded only by the stages and verbs that log
    from mlflow.tracking import MlflowClient

    uri, auth = split_credentials(tracking_uri())
    if auth is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = auth
        os.environ["MLFLOW_TRACKING_URI"] = uri
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
    base = redacted(split_credentials(uri)[0]).rstrip("/") if urlparse(uri).scheme in ("http", "https") else _UI
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
