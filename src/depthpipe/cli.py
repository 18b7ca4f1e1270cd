"""The ``depthpipe`` command: the user-facing verbs around the DVC pipeline.

    depthpipe models                         parameter counts of the configured variants
    depthpipe predict IMG... --model DIR     depth PNGs (mm, 16-bit) + previews from an exported model
    depthpipe gate [--baseline REV]          metric diff vs a git revision as a Markdown table; exit 1 on regression
    depthpipe promote VARIANT                move the registry alias `champion` to `candidate` if the gate passes
    depthpipe ui                             the MLflow UI on this project's tracking store
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from depthpipe.errors import DepthpipeError
from depthpipe.stage import quiet_environment


def _cmd_models(args: argparse.Namespace) -> int:
    from depthpipe.models import MODEL_NAMES, build_model, count_parameters
    from depthpipe.params import load_params, repo_root

    params = load_params(args.params or repo_root() / "params.yaml")
    print(f"recipe: {params.get('recipe')}")
    for name in MODEL_NAMES:
        mp = dict(params["models"][name])
        mp["encoder_weights"] = "none"  # counting needs no weights
        n = count_parameters(build_model(name, mp))
        print(f"{name:18s} {n / 1e6:8.2f} M parameters  ({', '.join(f'{k}={v}' for k, v in params['models'][name].items())})")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from depthpipe.predict import expand_inputs, predict_images

    results = predict_images(expand_inputs(args.images), Path(args.model), Path(args.out), backend=args.backend)
    failed = 0
    for src, err in results:
        if err:
            failed += 1
        else:
            print(f"predict: {src} -> {Path(args.out)}")
    return 1 if failed else 0


def _gate(root: Path, baseline: str | None) -> tuple[str, int]:
    from depthpipe.gate import run_gate
    from depthpipe.params import load_params

    return run_gate(root, baseline, load_params(root / "params.yaml")["gate"])


def _cmd_gate(args: argparse.Namespace) -> int:
    from depthpipe.params import repo_root

    table, code = _gate(repo_root(), args.baseline)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    return code


def _cmd_promote(args: argparse.Namespace) -> int:
    from depthpipe.export import promote
    from depthpipe.params import load_params, repo_root

    root = repo_root()
    table, code = _gate(root, args.baseline)
    print(table)
    experiment = load_params(root / "params.yaml")["tracking"]["experiment"]
    version = promote(args.variant, root, experiment, gate_ok=code == 0)
    print(f"promote: depthpipe-{args.variant} version {version} is now @champion")
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from depthpipe.params import repo_root
    from depthpipe.tracking import tracking_uri

    uri = tracking_uri(repo_root())
    print(f"MLflow UI on http://{args.host}:{args.port} for {uri}")
    exe = Path(sys.executable).with_name("mlflow")
    return subprocess.call([str(exe) if exe.exists() else "mlflow", "ui", "--backend-store-uri", uri,
                            "--host", args.host, "--port", str(args.port)])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="depthpipe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="print the parameter count of each configured variant")
    m.add_argument("--params", help="params file (default: <repo>/params.yaml)")
    m.set_defaults(fn=_cmd_models)

    pr = sub.add_parser("predict", help="predict depth for images with an exported model")
    pr.add_argument("images", nargs="+", help="PNG or JPEG files, any size")
    pr.add_argument("--model", required=True, help="an export directory, e.g. exports/densedepth")
    pr.add_argument("--out", default="predictions", help="output directory (default: predictions/)")
    pr.add_argument("--backend", choices=("onnx", "pt2"), default="onnx")
    pr.set_defaults(fn=_cmd_predict)

    g = sub.add_parser("gate", help="compare metrics with a baseline revision (exit 1 on regression, 2 if missing)")
    g.add_argument("--baseline", default=None, help="git revision (default: the merge base with main)")
    g.add_argument("--output", help="also write the Markdown table to this file")
    g.set_defaults(fn=_cmd_gate)

    pm = sub.add_parser("promote", help="move alias champion to the candidate model when the gate passes")
    pm.add_argument("variant")
    pm.add_argument("--baseline", default=None)
    pm.set_defaults(fn=_cmd_promote)

    u = sub.add_parser("ui", help="start the MLflow UI on this project's tracking store")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(fn=_cmd_ui)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    quiet_environment()
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DepthpipeError as exc:
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            raise
        print(f"depthpipe {args.command}: error: {exc}", file=sys.stderr)
        return 2 if args.command == "gate" else 1


if __name__ == "__main__":
    sys.exit(main())
