"""The ``depthpipe`` command: the verbs a person uses around the DVC pipeline, one line of help each.

The parser lives here and names each verb's handler, a function of its group's module
(:mod:`~depthpipe.cli.pipeline`, :mod:`~depthpipe.cli.serving`, :mod:`~depthpipe.cli.review`,
:mod:`~depthpipe.cli.team`). Those modules are light to import: a handler imports torch, MLflow and the rest of
what it needs in its own body, so ``depthpipe --help`` and the light verbs start at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from depthpipe import __version__
from depthpipe.cli import pipeline, review, serving, team
from depthpipe.config import VARIANTS
from depthpipe.faults import EXIT_INTERRUPTED, exit_code, report

DESCRIPTION = """\
depthpipe: monocular depth estimation on NYU Depth v2 as a DVC pipeline logged to MLflow.

Run the pipeline with `make repro` (or `depthpipe repro`, or `dvc repro` in the venv); switch recipes with
`dvc exp run -S recipe=paper`. Run from the project directory: every verb reads ./params.yaml.
"""


FMT = argparse.ArgumentDefaultsHelpFormatter


def _pipeline_verbs(sub: Any) -> None:
    """``models``, ``params``, ``repro``: configure and run the pipeline."""
    m = sub.add_parser(
        "models", help="parameter count of each variant as params.yaml configures it", formatter_class=FMT
    )
    m.add_argument("--params", default="params.yaml", help="params file")
    m.set_defaults(handler=pipeline.models)
    pa = sub.add_parser(
        "params", help="compose params.yaml from conf/ (a recipe and overrides) for `dvc repro`", formatter_class=FMT
    )
    pa.add_argument(
        "--recipe", help="a recipe of conf/recipe/ (cpu, paper, paper-labeled, tiny); default: conf/config.yaml's"
    )
    pa.add_argument("overrides", nargs="*", help="Hydra overrides such as train.densedepth.lr=2e-4")
    pa.set_defaults(handler=pipeline.params)
    r = sub.add_parser("repro", help="`dvc repro` with one MLflow pipeline-run id for all its stages")
    r.add_argument("dvc_args", nargs=argparse.REMAINDER, help="passed to dvc repro")
    r.set_defaults(handler=pipeline.repro)


def _model_verbs(sub: Any) -> None:
    """``predict``, ``serve``: use a trained model."""
    pr = sub.add_parser("predict", help="depth maps (16-bit PNG in mm + preview) for images", formatter_class=FMT)
    pr.add_argument("images", nargs="+", help="PNG or JPEG files or directories of them, any size")
    pr.add_argument(
        "--model",
        required=True,
        help="an export directory (exports/densedepth) or a registry URI (models:/depthpipe-densedepth@champion)",
    )
    pr.add_argument("--out", default="predictions", help="output directory")
    pr.add_argument("--backend", choices=("onnx", "pt2"), default="onnx", help="runtime for the exported graph")
    pr.add_argument(
        "--preview-range",
        choices=("robust", "fixed"),
        default="robust",
        help="preview colours: the image's 2nd-98th depth percentile, or the model's fixed depth range",
    )
    pr.set_defaults(handler=serving.predict)
    sv = sub.add_parser(
        "serve", help="serve a registered model over HTTP: photos in, depth in metres out", formatter_class=FMT
    )
    sv.add_argument("variant", choices=VARIANTS)
    sv.add_argument("--alias", default="champion", help="registry alias of the version to serve")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=5001)
    sv.set_defaults(handler=serving.serve)


def _review_verbs(sub: Any) -> None:
    """``gate``, ``seeds``, ``promote``, ``ui``: judge and compare results."""
    g = sub.add_parser(
        "gate",
        help="paired bootstrap of test metrics vs a baseline revision as Markdown; exit 1 "
        "on regression, 2 when no comparison can be made",
        formatter_class=FMT,
    )
    g.add_argument("--baseline", default=None, help="git revision (default: the merge base with main)")
    g.add_argument("--output", help="also write the Markdown table to this file")
    g.add_argument("--strict", action="store_true", help="fail (exit 1) on an inconclusive metric too")
    g.set_defaults(handler=review.gate)
    sd = sub.add_parser(
        "seeds",
        help="train and evaluate a variant with n seeds -> reports/seeds/<variant>.json "
        "(the gate's tolerance with gate.tolerance: seeds)",
        formatter_class=FMT,
    )
    sd.add_argument("variant", choices=VARIANTS)
    sd.add_argument("--n", type=int, default=3, help="number of seeds: train.<variant>.seed + 0 .. n-1")
    sd.add_argument("--scratch", help="a folder to keep the seeds' models and reports in (without it: a temporary one)")
    sd.set_defaults(handler=review.seeds)
    pm = sub.add_parser(
        "promote", help="move the registry alias @champion to @candidate if the gate passes", formatter_class=FMT
    )
    pm.add_argument("variant", choices=VARIANTS)
    pm.add_argument("--baseline", default=None, help="git revision for the gate (default: merge base with main)")
    pm.set_defaults(handler=review.promote)
    u = sub.add_parser("ui", help="the MLflow UI on this project's tracking store", formatter_class=FMT)
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(handler=review.ui)


def _team_verbs(sub: Any) -> None:
    """``team up | down | status``: the team's shared stack (PostgreSQL, S3 store, MLflow server) on this machine."""
    t = sub.add_parser("team", help="the team's shared stack: PostgreSQL, an S3 store and an MLflow server on both")
    actions = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", help="the stack's folder (default: ~/.local/share/depthpipe/team; root: /var/lib/...)"
    )
    u = actions.add_parser(
        "up",
        parents=[common],
        formatter_class=FMT,
        help="start the stack (reusing what runs), make it this clone's DVC remote, print a teammate's settings",
    )
    u.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; see docs/team.md before others)")
    u.add_argument("--mlflow-port", type=int, default=None, help="MLflow server port (default 5050; 0: any free port)")
    u.add_argument("--s3-port", type=int, default=None, help="S3 endpoint port (default 8333; 0: any free port)")
    u.add_argument("--postgres-port", type=int, default=None, help="PostgreSQL port (default 5433; 0: any free port)")
    u.add_argument(
        "--bucket", default=None, help="S3 bucket for MLflow artifacts and the DVC remote (default depthpipe)"
    )
    u.add_argument("--workers", type=int, default=None, help="MLflow server worker processes (default 2)")
    u.add_argument(
        "--basic-auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="MLflow's basic-auth app: users and passwords (on for a new stack)",
    )
    u.add_argument("--no-dvc-remote", action="store_true", help="leave this clone's .dvc/config.local alone")
    u.set_defaults(handler=team.up)
    d = actions.add_parser("down", parents=[common], help="stop what `team up` started, by process group")
    d.add_argument("--force", action="store_true", help="stop it even while other clones use it")
    d.set_defaults(handler=team.down)
    bk = actions.add_parser("backup", parents=[common], help="MLflow's database, the bucket and users to a folder")
    bk.add_argument("dest", help="a new folder")
    bk.set_defaults(handler=team.backup)
    rs = actions.add_parser(
        "restore", parents=[common], help="put a `team backup` folder into the running stack, at this MLflow's schema"
    )
    rs.add_argument("src", help="the backup folder")
    rs.set_defaults(handler=team.restore)
    dbu = actions.add_parser("db-upgrade", parents=[common], help="`mlflow db upgrade` on the stack's database")
    dbu.set_defaults(handler=team.db_upgrade)
    st = actions.add_parser(
        "status", parents=[common], help="whether each part runs and answers, and this clone's store and remote"
    )
    st.set_defaults(handler=team.status)
    for action, what in (("push", "to"), ("pull", "from")):
        tr = actions.add_parser(
            action,
            help=f"`dvc {action} ARGS` {what} the default remote, its S3 keys checked first (one line if refused)",
        )
        tr.add_argument("dvc_args", nargs="*", help=f"passed on to `dvc {action}`, options too (e.g. --run-cache)")
        tr.set_defaults(handler=team.transfer, action=action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    p = argparse.ArgumentParser(
        prog="depthpipe", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"depthpipe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="VERB")
    for add in (_pipeline_verbs, _model_verbs, _review_verbs, _team_verbs):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb. A failure is one line per problem on stderr (:func:`depthpipe.faults.describe`) and exit
    2 for the gate, else 1; Ctrl-C is exit 130 (the codes: :mod:`depthpipe.faults`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] in (["team", "push"], ["team", "pull"]) and words[2:] not in (["-h"], ["--help"]):
        args = build_parser().parse_args(words[:2])
        args.dvc_args = words[2:]  # DVC's own options and targets, in their order
    else:
        args = build_parser().parse_args(words)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"depthpipe {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not report(f"depthpipe {args.command}", exc):
            raise
        return exit_code(args.command)


if __name__ == "__main__":
    sys.exit(main())
