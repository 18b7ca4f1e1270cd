"""What every DVC stage script shares: params read from the workspace, one-line failures, SIGTERM as Ctrl-C.

A stage runs in its workspace: the directory DVC starts it in (the project root for ``dvc repro``, a
temporary copy for ``dvc exp run --temp`` / ``--queue``). Params and every path come from there, never from
``DVC_ROOT``, which names the parent repository in those runs.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from depthpipe.config import PARAMS_FILE, VARIANTS, Params, load_config
from depthpipe.errors import DepthpipeError, one_line
from depthpipe.tracking.provenance import pipeline_context
from depthpipe.tracking.store import check_store, is_tracking_failure, redacted_text, shown


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a CI timeout, ``dvc queue kill``) unwinds like Ctrl-C: the MLflow run ends FAILED."""
    raise KeyboardInterrupt


def run_stage(name: str, body: Callable[[Params, Path], int | None]) -> NoReturn:
    """Read the workspace's ``params.yaml``, reach the MLflow store, run ``body(params, workspace)``, exit.

    Exit 0, or 1 with one line per error (``<stage>: error: ...``); ``DEPTHPIPE_TRACEBACK=1`` adds the
    traceback. The ``check`` stage, which every other stage depends on, has already checked the whole file and
    the store before DVC removed any output; checking again here costs milliseconds and covers a stage run
    on its own (``python pipeline/train.py densedepth``).
    """
    signal.signal(signal.SIGTERM, _terminated)
    workspace = Path.cwd()
    try:
        params = load_config(PARAMS_FILE)  # relative: errors say params.yaml
        check_store()
        with pipeline_context(params):
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
    except Exception as exc:
        if not is_tracking_failure(exc):
            raise
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            traceback.print_exc()
        print(
            f"{name}: error: MLflow store {shown()}: {type(exc).__name__}: {redacted_text(one_line(exc))}",
            file=sys.stderr,
        )
        code = 1
    sys.exit(code)


def variant_arg() -> str:
    """The model variant named as the stage script's one argument (``python pipeline/train.py densedepth``)."""
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        raise DepthpipeError(f"usage: {Path(sys.argv[0]).name} VARIANT, one of {', '.join(VARIANTS)}")
    return sys.argv[1]
