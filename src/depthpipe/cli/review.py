"""``depthpipe gate | seeds | promote | ui``: judge and compare results (torch and MLflow loaded by the verbs)."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from depthpipe.cli.serving import check_port, mlflow_command, venv_env
from depthpipe.config import load_config
from depthpipe.errors import DepthpipeError
from depthpipe.faults import os_error_line
from depthpipe.files import write_text_atomic
from depthpipe.tracking.store import check_logged_store
from depthpipe.workspace import WorkspacePaths


def gate(args: argparse.Namespace) -> int:
    """The merge gate's table; exit 1 on a regression, 2 when nothing can be compared."""
    from depthpipe.gate.verdict import run_gate

    output = Path(args.output) if args.output else None
    if output is not None:
        check_output_file(output)
    table, code = run_gate(Path.cwd(), args.baseline, load_config().gate, strict=args.strict)
    print(table, end="")
    if output is not None:
        try:
            write_text_atomic(output, table)
        except OSError as exc:
            raise DepthpipeError(f"--output {os_error_line(exc, output)}; the verdict is not written") from None
    return code


def check_output_file(path: Path) -> None:
    """A one-line :class:`DepthpipeError` unless ``path`` can be written as a file: its folder exists and may be
    written, and it is not itself a folder."""
    if path.is_dir():
        raise DepthpipeError(f"--output {path}: a directory; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise DepthpipeError(f"--output {path}: its folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise DepthpipeError(f"--output {path}: not writable")


def seeds(args: argparse.Namespace) -> int:
    """Train and evaluate a variant with n seeds into ``reports/seeds/<variant>.json``."""
    from depthpipe.gate.seed_training import measure_seeds
    from depthpipe.gate.spreads import seeds_path

    out = seeds_path(Path.cwd(), args.variant)
    study = measure_seeds(
        args.variant,
        load_config(),
        WorkspacePaths(Path.cwd()).prepared,
        out,
        args.n,
        Path(args.scratch) if args.scratch else None,
    )
    for group, values in study["metrics"].items():
        print(f"seeds {args.variant} {group}: " + ", ".join(f"{k} spread {v['spread']:.4g}" for k, v in values.items()))
    print(f"seeds {args.variant}: seeds {study['seeds']} -> {out.relative_to(Path.cwd())}")
    return 0


def promote(args: argparse.Namespace) -> int:
    """Move ``@champion`` to ``@candidate`` when the gate passes (:mod:`depthpipe.gate.promote`)."""
    from depthpipe.gate.promote import PromotionRefused
    from depthpipe.gate.promote import promote as promote_candidate
    from depthpipe.gate.verdict import run_gate

    check_logged_store()
    try:
        cfg = load_config().gate
        done = promote_candidate(args.variant, cfg, run_gate(Path.cwd(), args.baseline, cfg))
    except PromotionRefused as exc:
        print(exc.table, end="")
        raise
    print(done.table, end="")
    print(f"promote: depthpipe-{args.variant} version {done.version} is now @champion")
    return 0


def ui(args: argparse.Namespace) -> int:
    """The MLflow UI on this project's store."""
    from depthpipe.tracking.runs import experiment_id
    from depthpipe.tracking.store import configure, shown

    check_logged_store()
    check_port(args.host, args.port, "the MLflow UI")
    uri = configure()
    link = f"http://{args.host}:{args.port}/#/experiments/{experiment_id()}?workflowType=machine_learning"
    print(f"MLflow UI for {shown(uri)}: {link}", flush=True)
    return subprocess.call(
        mlflow_command("ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)), env=venv_env()
    )
