"""``depthpipe gate | seeds | promote | ui``: judge and compare results."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from depthpipe.cli.serving import mlflow_command, venv_env
from depthpipe.config import load_config
from depthpipe.gate.promote import PromotionRefused
from depthpipe.gate.promote import promote as promote_candidate
from depthpipe.gate.seed_training import measure_seeds
from depthpipe.gate.spreads import seeds_path
from depthpipe.gate.verdict import run_gate
from depthpipe.tracking.runs import experiment_id
from depthpipe.tracking.store import configure, shown


def gate(args: argparse.Namespace) -> int:
    """The merge gate's table; exit 1 on a regression, 2 when nothing can be compared."""
    table, code = run_gate(Path.cwd(), args.baseline, load_config().gate, strict=args.strict)
    print(table, end="")
    if args.output:
        Path(args.output).write_text(table)
    return code


def seeds(args: argparse.Namespace) -> int:
    """Train and evaluate a variant with n seeds into ``reports/seeds/<variant>.json``."""
    out = seeds_path(Path.cwd(), args.variant)
    study = measure_seeds(
        args.variant,
        load_config(),
        Path.cwd() / "data" / "prepared",
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
    uri = configure()
    link = f"http://{args.host}:{args.port}/#/experiments/{experiment_id()}?workflowType=machine_learning"
    print(f"MLflow UI for {shown(uri)}: {link}", flush=True)
    return subprocess.call(
        mlflow_command("ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)), env=venv_env()
    )
