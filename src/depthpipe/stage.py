"""What every DVC stage script shares: the environment, params read once, and one-line failures."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from depthpipe.errors import DepthpipeError

QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}


def quiet_environment() -> None:
    """No analytics or telemetry from GX, DVC or MLflow (set before they are imported)."""
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)


def run_stage(name: str, body: Callable[[dict[str, Any], Path], int | None]) -> None:
    """Load params once, run ``body(params, root)``, and exit: 0, or 1 with one line per error.

    ``DEPTHPIPE_TRACEBACK=1`` prints full tracebacks for debugging.
    """
    quiet_environment()
    from depthpipe.params import load_params, repo_root

    root = repo_root()
    try:
        code = body(load_params(root / "params.yaml"), root) or 0
    except DepthpipeError as exc:
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            traceback.print_exc()
        print(f"{name}: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def variant_arg(params: dict[str, Any]) -> str:
    """The model variant named as the stage script's one argument (``python pipeline/train.py densedepth``)."""
    from depthpipe.models import MODEL_NAMES

    if len(sys.argv) != 2 or sys.argv[1] not in MODEL_NAMES:
        raise DepthpipeError(f"usage: {Path(sys.argv[0]).name} VARIANT, one of {', '.join(MODEL_NAMES)}")
    if sys.argv[1] not in params.get("train", {}):
        raise DepthpipeError(f"params.yaml: missing key 'train.{sys.argv[1]}'")
    return sys.argv[1]
