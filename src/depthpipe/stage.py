"""What every DVC stage script shares: params checked once, paths from the workspace, one-line failures.

A stage runs in its workspace: the directory DVC starts it in (the project root for ``dvc repro``, a
temporary copy for ``dvc exp run --temp`` / ``--queue``). Params and every path come from there, never from
``DVC_ROOT``, which names the parent repository in those runs.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Callable, NoReturn

from depthpipe.config import PARAMS_FILE, VARIANTS, Params, load_config
from depthpipe.errors import DepthpipeError


def run_stage(name: str, body: Callable[[Params, Path], int | None]) -> NoReturn:
    """Check the whole ``params.yaml`` of the workspace, run ``body(params, workspace)`` and exit.

    Exit 0, or 1 with one line per error (``<stage>: error: ...``); ``DEPTHPIPE_TRACEBACK=1`` adds the
    traceback. Every section is checked before the stage touches any data, so a bad value for the last
    stage stops the first one.
    """
    workspace = Path.cwd()
    try:
        code = body(load_config(PARAMS_FILE), workspace) or 0  # relative: errors say params.yaml
    except DepthpipeError as exc:
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            traceback.print_exc()
        for line in str(exc).splitlines():
            print(f"{name}: error: {line}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def variant_arg() -> str:
    """The model variant named as the stage script's one argument (``python pipeline/train.py densedepth``)."""
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        raise DepthpipeError(f"usage: {Path(sys.argv[0]).name} VARIANT, one of {', '.join(VARIANTS)}")
    return sys.argv[1]
