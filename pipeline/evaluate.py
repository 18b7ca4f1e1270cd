"""DVC stage `evaluate@<variant>`: test-split metrics vs full-resolution ground truth -> metrics/<variant>.json."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage, variant_arg


def main(params: Params, workspace: Path) -> None:
    from depthpipe.evaluate import evaluate_variant

    variant = variant_arg()
    m = evaluate_variant(variant, params.evaluate, workspace / "models" / variant, workspace / "data" / "prepared",
                         workspace / "metrics" / f"{variant}.json", workspace / "reports" / "eval" / variant)
    for group, values in m.items():
        print(f"evaluate {variant}: {group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))


if __name__ == "__main__":
    run_stage("evaluate", main)
