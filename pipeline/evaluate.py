"""DVC stage `evaluate@<variant>`: test-split metrics vs full-resolution ground truth -> metrics/<variant>.json."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage, variant_arg


def main(params: Params, workspace: Path) -> None:
    from depthpipe.evaluate import evaluate_variant

    variant = variant_arg()
    m = evaluate_variant(variant, params.evaluate, workspace / "models" / variant, workspace / "data" / "prepared",
                         workspace / "metrics" / f"{variant}.json", workspace / "reports" / "eval" / variant)
    print(f"evaluate {variant}: " + ", ".join(f"{k} {v}" for k, v in m.items() if not isinstance(v, dict)))
    print(f"evaluate {variant}: mean-depth baseline " + ", ".join(f"{k} {v}" for k, v in m["baseline"].items()))


if __name__ == "__main__":
    run_stage("evaluate", main)
