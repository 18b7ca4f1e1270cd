"""DVC stage `train@<variant>`: train one model variant -> models/<variant>/ (torchrun when nproc_per_node > 1)."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage, variant_arg


def main(params: Params, workspace: Path) -> None:
    from depthpipe.distributed import relaunch_with_torchrun
    from depthpipe.trainer import train_variant

    variant = variant_arg()
    cfg = params.train_config(variant)
    relaunch_with_torchrun([str(Path(__file__).resolve()), variant], cfg.nproc_per_node, cfg.nnodes, cfg.rdzv_endpoint)
    summary = train_variant(variant, cfg, params.model_config_of(variant), workspace / "data" / "prepared",
                            workspace / "models" / variant, workspace / "reports" / "train" / variant)
    if summary:
        print(f"train {variant}: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()))


if __name__ == "__main__":
    run_stage("train", main)
