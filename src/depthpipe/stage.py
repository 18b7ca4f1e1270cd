"""What every DVC stage script shares: params checked once, paths from the workspace, one-line failures.

A stage runs in its workspace: the directory DVC starts it in (the project root for ``dvc repro``, a
temporary copy for ``dvc exp run --temp`` / ``--queue``). Params and every path come from there, never from
``DVC_ROOT``, which names the parent repository in those runs.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Callable, NoReturn

from depthpipe.config import PARAMS_FILE, VARIANTS, Params, load_config
from depthpipe.errors import DepthpipeError


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a CI timeout, ``dvc queue kill``) unwinds like Ctrl-C: the MLflow run ends FAILED."""
    raise KeyboardInterrupt


def run_stage(name: str, body: Callable[[Params, Path], int | None]) -> NoReturn:
    """Check the whole ``params.yaml`` of the workspace and the MLflow store, run ``body(params, workspace)``, exit.

    Exit 0, or 1 with one line per error (``<stage>: error: ...``); ``DEPTHPIPE_TRACEBACK=1`` adds the
    traceback. Every section is checked, and the tracking store reached, before the stage touches any data,
    so a bad value for the last stage, or an unreachable server, stops the first one within seconds.
    """
    from depthpipe import tracking
    from depthpipe.mlflow_store import check_store

    signal.signal(signal.SIGTERM, _terminated)
    workspace = Path.cwd()
    try:
        params = load_config(PARAMS_FILE)  # relative: errors say params.yaml
        check_store()
        with tracking.pipeline_context(params):
            code = body(params, workspace) or 0
    except DepthpipeError as exc:
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            traceback.print_exc()
        for line in str(exc).splitlines():
            print(f"{name}: error: {line}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # noqa: BLE001 - only the tracking store's failures are turned into one line
        if not _tracking_failure(exc):
            raise
        from depthpipe.mlflow_store import tracking_uri

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        print(f"{name}: error: MLflow store {tracking_uri()}: {type(exc).__name__}: {first}", file=sys.stderr)
        code = 1
    sys.exit(code)


def _tracking_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from MLflow or its store (a server gone, a database that cannot be written)."""
    from mlflow.exceptions import MlflowException

    failures: tuple[type[BaseException], ...] = (MlflowException,)
    try:
        import requests
        import sqlalchemy.exc

        failures += (requests.RequestException, sqlalchemy.exc.SQLAlchemyError)
    except ImportError:
        pass
    return isinstance(exc, failures)


def variant_arg() -> str:
    """The model variant named as the stage script's one argument (``python pipeline/train.py densedepth``)."""
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        raise DepthpipeError(f"usage: {Path(sys.argv[0]).name} VARIANT, one of {', '.join(VARIANTS)}")
    return sys.argv[1]
