"""DVC stage `train@<variant>`: train one model variant -> models/<variant>/ (torchrun when nproc_per_node > 1)."""

import sys
from pathlib import Path

from depthpipe.stage import run_stage, variant_arg


def main(params: dict, root: Path) -> int:
    from depthpipe.distributed import relaunch_with_torchrun
    from depthpipe.train import run_training

    variant = variant_arg(params)
    t = params["train"][variant]
    relaunch_with_torchrun([str(Path(__file__).resolve()), variant], int(t["nproc_per_node"]), int(t["nnodes"]),
                           str(t["rdzv_endpoint"]))
    summary = run_training(variant, params, root, root / "data" / "prepared", root / "models" / variant,
                           root / "reports" / "train" / variant)
    if summary:
        print(f"train {variant}: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()), file=sys.stdout)
    return 0


if __name__ == "__main__":
    run_stage("train", main)
