"""The ``depthpipe`` command: the verbs a person uses around the DVC pipeline, one line of help each."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Sequence

from depthpipe import __version__
from depthpipe.config import VARIANTS, load_config
from depthpipe.errors import DepthpipeError

DESCRIPTION = """\
depthpipe: monocular depth estimation on NYU Depth v2 as a DVC pipeline logged to MLflow.

Run the pipeline with `make repro` (or `depthpipe repro`, or `dvc repro` in the venv); switch recipes with
`dvc exp run -S recipe=paper`. Run from the project directory: every verb reads ./params.yaml.
"""


def _cmd_models(args: argparse.Namespace) -> int:
    from depthpipe.models import build_model, count_parameters

    params = load_config(args.params)
    print(f"recipe: {params.recipe}")
    for name in VARIANTS:
        cfg = params.model_config_of(name)
        n = count_parameters(build_model(name, cfg.model_copy(update={"encoder_weights": "none"})))
        settings = ", ".join(f"{k}={v}" for k, v in cfg.model_dump().items())
        print(f"{name:18s} {n / 1e6:8.2f} M parameters  ({settings})")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from depthpipe.composition import compose_params

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


def _cmd_repro(args: argparse.Namespace) -> int:
    from depthpipe.tracking import PIPELINE_RUN_ENV

    env = {**os.environ, PIPELINE_RUN_ENV: os.environ.get(PIPELINE_RUN_ENV) or uuid.uuid4().hex[:12]}
    print(f"depthpipe repro: pipeline run {env[PIPELINE_RUN_ENV]}", flush=True)
    return subprocess.call([dvc_executable(), "repro", *args.dvc_args], env=env)


def _cmd_predict(args: argparse.Namespace) -> int:
    from depthpipe.predict import expand_inputs, predict_images

    results = predict_images(expand_inputs(args.images), args.model, Path(args.out), backend=args.backend,
                             preview_range=args.preview_range)
    failed = 0
    for src, err in results:
        if err:
            failed += 1
        else:
            print(f"predict: {src} -> {Path(args.out)}")
    return 1 if failed else 0


def _gate(baseline: str | None, strict: bool = False) -> tuple[str, int]:
    from depthpipe.gate import run_gate

    return run_gate(Path.cwd(), baseline, load_config().gate, strict=strict)


def _cmd_gate(args: argparse.Namespace) -> int:
    table, code = _gate(args.baseline, args.strict)
    print(table, end="")
    if args.output:
        Path(args.output).write_text(table)
    return code


def _cmd_seeds(args: argparse.Namespace) -> int:
    from depthpipe.seeds import measure_seeds, seeds_path

    out = seeds_path(Path.cwd(), args.variant)
    study = measure_seeds(args.variant, load_config(), Path.cwd() / "data" / "prepared", out, args.n,
                          Path(args.scratch) if args.scratch else None)
    for group, values in study["metrics"].items():
        print(f"seeds {args.variant} {group}: " + ", ".join(f"{k} spread {v['spread']:.4g}" for k, v in values.items()))
    print(f"seeds {args.variant}: seeds {study['seeds']} -> {out.relative_to(Path.cwd())}")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from depthpipe.registry import promote

    table, code = _gate(args.baseline)
    print(table, end="")
    version = promote(args.variant, gate_ok=code == 0)
    print(f"promote: depthpipe-{args.variant} version {version} is now @champion")
    return 0


def _mlflow_command(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("mlflow")
    return [str(exe) if exe.exists() else "mlflow", *args]


def _venv_env() -> dict[str, str]:
    """The environment with this interpreter's bin first on PATH (``mlflow models serve`` needs its uvicorn)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _cmd_ui(args: argparse.Namespace) -> int:
    import mlflow

    from depthpipe.mlflow_store import configure, experiment_name

    uri = configure()
    experiment = mlflow.get_experiment_by_name(experiment_name())
    link = f"http://{args.host}:{args.port}/#/experiments/{experiment.experiment_id}?workflowType=machine_learning"
    print(f"MLflow UI for {uri}: {link}", flush=True)
    return subprocess.call(_mlflow_command("ui", "--backend-store-uri", uri, "--host", args.host, "--port",
                                           str(args.port)), env=_venv_env())


def _cmd_serve(args: argparse.Namespace) -> int:
    from depthpipe.mlflow_store import configure
    from depthpipe.registry import registered_model_name

    uri = configure()
    model = f"models:/{registered_model_name(args.variant)}@{args.alias}"
    print(f"serving {model} from {uri} on http://{args.host}:{args.port}/invocations "
          f"(POST {{\"dataframe_split\": {{\"columns\": [\"image\"], \"data\": [[\"<base64 PNG/JPEG>\"]]}}}})",
          flush=True)
    env = _venv_env() | {"MLFLOW_TRACKING_URI": uri}
    return subprocess.call(_mlflow_command("models", "serve", "-m", model, "--env-manager", "local", "--host",
                                           args.host, "--port", str(args.port)), env=env)


FMT = argparse.ArgumentDefaultsHelpFormatter


def _pipeline_verbs(sub: Any) -> None:
    """``models``, ``params``, ``repro``: configure and run the pipeline."""
    m = sub.add_parser("models", help="parameter count of each variant as params.yaml configures it", formatter_class=FMT)
    m.add_argument("--params", default="params.yaml", help="params file")
    m.set_defaults(fn=_cmd_models)
    pa = sub.add_parser("params", help="compose params.yaml from conf/ (a recipe and overrides) for `dvc repro`",
                        formatter_class=FMT)
    pa.add_argument("--recipe", help="a recipe of conf/recipe/ (cpu, paper, paper-labeled, tiny); default: "
                                     "conf/config.yaml's")
    pa.add_argument("overrides", nargs="*", help="Hydra overrides such as train.densedepth.lr=2e-4")
    pa.set_defaults(fn=_cmd_params)
    r = sub.add_parser("repro", help="`dvc repro` with one MLflow pipeline-run id for all its stages")
    r.add_argument("dvc_args", nargs=argparse.REMAINDER, help="passed to dvc repro")
    r.set_defaults(fn=_cmd_repro)


def _model_verbs(sub: Any) -> None:
    """``predict``, ``serve``: use a trained model."""
    pr = sub.add_parser("predict", help="depth maps (16-bit PNG in mm + preview) for images", formatter_class=FMT)
    pr.add_argument("images", nargs="+", help="PNG or JPEG files or directories of them, any size")
    pr.add_argument("--model", required=True,
                    help="an export directory (exports/densedepth) or a registry URI (models:/depthpipe-densedepth@champion)")
    pr.add_argument("--out", default="predictions", help="output directory")
    pr.add_argument("--backend", choices=("onnx", "pt2"), default="onnx", help="runtime for the exported graph")
    pr.add_argument("--preview-range", choices=("robust", "fixed"), default="robust",
                    help="preview colours: the image's 2nd-98th depth percentile, or the model's fixed depth range")
    pr.set_defaults(fn=_cmd_predict)
    sv = sub.add_parser("serve", help="serve a registered model over HTTP: photos in, depth in metres out",
                        formatter_class=FMT)
    sv.add_argument("variant", choices=VARIANTS)
    sv.add_argument("--alias", default="champion", help="registry alias of the version to serve")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=5001)
    sv.set_defaults(fn=_cmd_serve)


def _review_verbs(sub: Any) -> None:
    """``gate``, ``seeds``, ``promote``, ``ui``: judge and compare results."""
    g = sub.add_parser("gate", help="paired bootstrap of test metrics vs a baseline revision as Markdown; exit 1 "
                                    "on regression, 2 when no comparison can be made", formatter_class=FMT)
    g.add_argument("--baseline", default=None, help="git revision (default: the merge base with main)")
    g.add_argument("--output", help="also write the Markdown table to this file")
    g.add_argument("--strict", action="store_true", help="fail (exit 1) on an inconclusive metric too")
    g.set_defaults(fn=_cmd_gate)
    sd = sub.add_parser("seeds", help="train and evaluate a variant with n seeds -> reports/seeds/<variant>.json "
                                      "(the gate's tolerance with gate.tolerance: seeds)", formatter_class=FMT)
    sd.add_argument("variant", choices=VARIANTS)
    sd.add_argument("--n", type=int, default=3, help="number of seeds: train.<variant>.seed + 0 .. n-1")
    sd.add_argument("--scratch", help="a folder to keep the seeds' models and reports in (without it: a temporary one)")
    sd.set_defaults(fn=_cmd_seeds)
    pm = sub.add_parser("promote", help="move the registry alias @champion to @candidate if the gate passes",
                        formatter_class=FMT)
    pm.add_argument("variant", choices=VARIANTS)
    pm.add_argument("--baseline", default=None, help="git revision for the gate (default: merge base with main)")
    pm.set_defaults(fn=_cmd_promote)
    u = sub.add_parser("ui", help="the MLflow UI on this project's tracking store", formatter_class=FMT)
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(fn=_cmd_ui)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    p = argparse.ArgumentParser(prog="depthpipe", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"depthpipe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="VERB")
    for add in (_pipeline_verbs, _model_verbs, _review_verbs):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; a :class:`DepthpipeError` is one line per problem on stderr (exit 2 for the gate, else 1)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DepthpipeError as exc:
        if os.environ.get("DEPTHPIPE_TRACEBACK"):
            raise
        for line in str(exc).splitlines():
            print(f"depthpipe {args.command}: error: {line}", file=sys.stderr)
        return 2 if args.command == "gate" else 1


if __name__ == "__main__":
    sys.exit(main())
