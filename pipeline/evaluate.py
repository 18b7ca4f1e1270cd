"""DVC stage `evaluate@<variant>`: test-split metrics vs full-resolution ground truth -> metrics/<variant>.json."""

from pathlib import Path

from depthpipe.stage import run_stage, variant_arg


def main(params: dict, root: Path) -> int:
    from depthpipe.evaluate import evaluate_variant

    variant = variant_arg(params)
    m = evaluate_variant(variant, params, root, root / "models" / variant, root / "data" / "prepared",
                         root / "metrics" / f"{variant}.json", root / "reports" / "eval" / variant)
    print(f"evaluate {variant}: " + ", ".join(f"{k} {v}" for k, v in m.items() if not isinstance(v, dict)))
    print(f"evaluate {variant}: mean-depth baseline " + ", ".join(f"{k} {v}" for k, v in m["baseline"].items()))
    return 0


if __name__ == "__main__":
    run_stage("evaluate", main)
