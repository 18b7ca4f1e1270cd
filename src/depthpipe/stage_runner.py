"""What every DVC stage script of ``pipeline/`` shares: params read from the workspace, one-line failures,
SIGTERM as Ctrl-C, the variant argument.

A stage runs in its workspace: the directory DVC starts it in (the project root for ``dvc repro``, a
temporary copy for ``dvc exp run --temp`` / ``--queue``). Params and every path come from there, never from
``DVC_ROOT``, which names the parent repository in those runs.
"""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from depthpipe.config import PARAMS_FILE, VARIANTS, Params, load_config
from depthpipe.errors import DepthpipeError
from depthpipe.faults import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, report
from depthpipe.tracking.provenance import pipeline_context
from depthpipe.tracking.store import check_store
from depthpipe.workspace import WorkspacePaths


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a CI timeout, ``dvc queue kill``) unwinds like Ctrl-C: the MLflow run ends FAILED."""
    raise KeyboardInterrupt


def run_stage(name: str, body: Callable[[Params, WorkspacePaths], int | None]) -> NoReturn:
    """Read the workspace's ``params.yaml``, reach the MLflow store, run ``body(params, paths)`` (the paths of
    the working directory), exit.

    Exit 0, or 1 with one line per error (``<stage>: error: ...``, :func:`depthpipe.faults.describe`: bad
    input, a file that cannot be read or written, a full disk, the store), 130 when interrupted;
    ``DEPTHPIPE_TRACEBACK=1`` adds the traceback. The ``check`` stage, which every other stage depends on, has
    already checked the whole file and the store before DVC removed any output; checking again here costs
    milliseconds and covers a stage run on its own (``python pipeline/train.py densedepth``).
    """
    signal.signal(signal.SIGTERM, _terminated)
    # What the imports made (torch, torchvision and mlflow: some 4,000 modules) lives until the process ends:
    # frozen, the collector no longer walks it at every full collection and again at exit. The scripts keep
    # collection off while they import (`gc.disable()` first). Figures: docs/measurements.md.
    gc.freeze()
    gc.enable()
    paths = WorkspacePaths(Path.cwd())
    try:
        params = load_config(PARAMS_FILE)  # relative: errors say params.yaml
        check_store()
        with pipeline_context(params):
            code = body(params, paths) or EXIT_OK
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if not report(name, exc):
            raise
        code = EXIT_FAILED
    sys.exit(code)


def variant_arg() -> str:
    """The model variant named as the stage script's one argument (``python pipeline/train.py densedepth``)."""
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        raise DepthpipeError(f"usage: {Path(sys.argv[0]).name} VARIANT, one of {', '.join(VARIANTS)}")
    return sys.argv[1]
