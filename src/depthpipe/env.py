"""The process environment depthpipe sets before any library loads: no telemetry, quiet progress, MLflow HTTP
retries that ride out a short server restart.

Applied once, when the package is imported (``depthpipe/__init__.py``), so every stage script, the
``depthpipe`` command, the tests and anything a stage starts (torchrun workers, ``dvc`` subprocesses) inherit
it. A value the user has already set is kept. DVC's own analytics are off in ``.dvc/config``
(``core.analytics = false``), which holds for any ``dvc`` command, whoever starts it.
"""

from __future__ import annotations

import os

QUIET = {
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow's client retries a failed request (refused, reset, HTTP 5xx) after 0, 2, 4, 8, 16 and 32 s: a
    # tracking server restarted within about a minute (a restart of `mlflow server` on PostgreSQL takes 10-20 s
    # on a 2-core machine) loses nothing, and one that stays down fails the stage after that minute, not after
    # MLflow's default of 7 retries with up to 120 s timeouts. A stage's first contact is check_store's single
    # try (tracking/store.py): a server that is down at the start is one line within seconds.
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "6",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def apply() -> None:
    """Set every :data:`QUIET` variable the environment does not already set."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
