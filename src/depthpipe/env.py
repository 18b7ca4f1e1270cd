"""The process environment depthpipe sets before any library loads: no telemetry, quiet progress, short
MLflow HTTP timeouts.

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
    # an unreachable tracking server fails a stage in seconds, not after MLflow's 7 retries of 120 s each
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def apply() -> None:
    """Set every :data:`QUIET` variable the environment does not already set."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
