"""``depthpipe predict | serve``: use an exported or registered model (the runtimes and MLflow loaded by the verb)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

from depthpipe.errors import DepthpipeError


def predict(args: argparse.Namespace) -> int:
    """Depth PNGs and previews for the images given; exit 1 if any image failed."""
    from depthpipe.serving.predict import expand_inputs, predict_images

    if str(args.model).startswith("models:/"):
        from depthpipe.tracking.store import check_logged_store

        check_logged_store()
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


def check_port(host: str, port: int, what: str) -> None:
    """A one-line :class:`DepthpipeError` naming ``host:port`` when ``what`` (a server) could not listen there:
    another process holds it, or the address is not this machine's."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DepthpipeError(f"--host {host}: not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise DepthpipeError(f"--host {host}: {what} cannot listen there ({exc.strerror or exc})") from None
            raise DepthpipeError(
                f"port {port} on {host}: already in use, so {what} cannot listen there; stop what holds it or "
                f"choose another with --port"
            ) from None


def mlflow_command(*args: str) -> list[str]:
    """The ``mlflow`` command of this interpreter's environment, with ``args``."""
    exe = Path(sys.executable).with_name("mlflow")
    return [str(exe) if exe.exists() else "mlflow", *args]


def venv_env() -> dict[str, str]:
    """The environment with this interpreter's bin first on PATH (``mlflow models serve`` needs its uvicorn)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def serve(args: argparse.Namespace) -> int:
    """``mlflow models serve`` of a registered version, from this project's store: the store, the alias and the
    port are checked before anything is printed or started."""
    from depthpipe.tracking.registry import registered_model_name, require_alias
    from depthpipe.tracking.store import check_logged_store, configure, shown

    check_logged_store()
    name = registered_model_name(args.variant)
    remedy = f"; `depthpipe promote {args.variant}` sets it" if args.alias == "champion" else ""
    require_alias(name, args.alias, remedy + " (or serve another version with --alias)")
    check_port(args.host, args.port, "the model server")
    uri = configure()
    model = f"models:/{name}@{args.alias}"
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
