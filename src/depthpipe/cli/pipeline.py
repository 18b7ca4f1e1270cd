"""``depthpipe models | params | repro``: configure and run the pipeline (torch and Hydra loaded by the verbs
that use them)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from depthpipe.config import VARIANTS, load_config
from depthpipe.errors import DepthpipeError
from depthpipe.tracking.provenance import PIPELINE_RUN_ENV


def models(args: argparse.Namespace) -> int:
    """Parameter count of each variant as the params file configures it."""
    from depthpipe.models import build_model, count_parameters

    params = load_config(args.params)
    print(f"recipe: {params.recipe}")
    for name in VARIANTS:
        cfg = params.model_config_of(name)
        n = count_parameters(build_model(name, cfg.model_copy(update={"encoder_weights": "none"})))
        settings = ", ".join(f"{k}={v}" for k, v in cfg.model_dump().items())
        print(f"{name:18s} {n / 1e6:8.2f} M parameters  ({settings})")
    return 0


def params(args: argparse.Namespace) -> int:
    """Compose ``params.yaml`` from ``conf/`` with a recipe and overrides."""
    from depthpipe.config.composition import compose_params

    overrides = ([f"recipe={args.recipe}"] if args.recipe else []) + list(args.overrides)
    params = compose_params(Path.cwd(), overrides)
    print(f"params.yaml: recipe {params.recipe}" + (f", {' '.join(args.overrides)}" if args.overrides else ""))
    return 0


def dvc_executable() -> str:
    """The ``dvc`` next to the running interpreter (the project venv), else ``dvc`` on ``PATH``."""
    beside = Path(sys.executable).parent / "dvc"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise DepthpipeError(f"repro: no dvc executable beside {sys.executable} or on PATH")
    return found


def repro(args: argparse.Namespace) -> int:
    """``dvc repro`` with one pipeline-run id shared by every stage it runs."""
    env = {**os.environ, PIPELINE_RUN_ENV: os.environ.get(PIPELINE_RUN_ENV) or uuid.uuid4().hex[:12]}
    print(f"depthpipe repro: pipeline run {env[PIPELINE_RUN_ENV]}", flush=True)
    return subprocess.call([dvc_executable(), "repro", *args.dvc_args], env=env)
