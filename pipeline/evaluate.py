"""DVC stage `evaluate@<variant>`: test-split metrics against full-resolution ground truth, per frame and in
all -> metrics/<variant>.json and reports/eval/<variant>/, and the stage's MLflow run."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

from depthpipe.config import Params
from depthpipe.evaluation.evaluate import evaluate_variant
from depthpipe.stage_runner import run_stage, variant_arg
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Score the variant named on the command line under ``evaluate``."""
    variant = variant_arg()
    metrics = evaluate_variant(
        variant,
        params.evaluate,
        params.prepare.max_depth,
        paths.model_dir(variant),
        paths.prepared,
        paths.metrics(variant),
        paths.eval_reports(variant),
    )
    for group, values in metrics.items():
        print(f"evaluate {variant}: {group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))


if __name__ == "__main__":
    run_stage("evaluate", main)
