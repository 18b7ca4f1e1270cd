"""``depthpipe predict | serve``: use an exported or registered model."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from depthpipe.serving.predict import expand_inputs, predict_images
from depthpipe.tracking.registry import registered_model_name
from depthpipe.tracking.store import configure, shown


def predict(args: argparse.Namespace) -> int:
    """Depth PNGs and previews for the images given; exit 1 if any image failed."""
    results = predict_images(
        expand_inputs(args.images), args.model, Path(args.out), backend=args.backend, preview_range=args.preview_range
    )
    failed = 0
    for src, err in results:
        if err:
            failed += 1
        else:
            print(f"predict: {src} -> {Path(args.out)}")
    return 1 if failed else 0


def mlflow_command(*args: str) -> list[str]:
    """The ``mlflow`` command of this interpreter's environment, with ``args``."""
    exe = Path(sys.executable).with_name("mlflow")
    return [str(exe) if exe.exists() else "mlflow", *args]


def venv_env() -> dict[str, str]:
    """The environment with this interpreter's bin first on PATH (``mlflow models serve`` needs its uvicorn)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def serve(args: argparse.Namespace) -> int:
    """``mlflow models serve`` of a registered version, from this project's store."""
    uri = configure()
    model = f"models:/{registered_model_name(args.variant)}@{args.alias}"
    print(
        f"serving {model} from {shown(uri)} on http://{args.host}:{args.port}/invocations "
        f'(POST {{"dataframe_split": {{"columns": ["image"], "data": [["<base64 PNG/JPEG>"]]}}}})',
        flush=True,
    )
    env = venv_env() | {"MLFLOW_TRACKING_URI": uri}
    return subprocess.call(
        mlflow_command(
            "models", "serve", "-m", model, "--env-manager", "local", "--host", args.host, "--port", str(args.port)
        ),
        env=env,
    )
