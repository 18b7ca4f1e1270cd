"""Stage ``evaluate@<variant>``: test-split metrics against full-resolution ground truth, per frame and in all."""

from __future__ import annotations

from pathlib import Path

from depthpipe.config import Params
from depthpipe.evaluation.evaluate import evaluate_variant
from depthpipe.stages.runner import variant_arg


def main(params: Params, workspace: Path) -> None:
    """Score the variant named on the command line under ``evaluate``; writes ``metrics/<variant>.json`` and
    ``reports/eval/<variant>/``."""
    variant = variant_arg()
    metrics = evaluate_variant(
        variant,
        params.evaluate,
        workspace / "models" / variant,
        workspace / "data" / "prepared",
        workspace / "metrics" / f"{variant}.json",
        workspace / "reports" / "eval" / variant,
    )
    for group, values in metrics.items():
        print(f"evaluate {variant}: {group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
