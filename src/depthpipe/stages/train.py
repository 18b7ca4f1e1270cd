"""Stage ``train@<variant>``: one model variant trained into ``models/<variant>/`` (torchrun when asked for)."""

from __future__ import annotations

import sys
from pathlib import Path

from depthpipe.config import Params
from depthpipe.stages.runner import variant_arg
from depthpipe.training.distributed import relaunch_with_torchrun
from depthpipe.training.trainer import train_variant


def main(params: Params, workspace: Path) -> None:
    """Train the variant named on the command line with ``train.<variant>`` and ``models.<variant>``."""
    variant = variant_arg()
    cfg = params.train_config(variant)
    relaunch_with_torchrun(
        [str(Path(sys.argv[0]).resolve()), variant], cfg.nproc_per_node, cfg.nnodes, cfg.rdzv_endpoint
    )
    summary = train_variant(
        variant,
        cfg,
        params.model_config_of(variant),
        workspace / "data" / "prepared",
        workspace / "models" / variant,
        workspace / "reports" / "train" / variant,
    )
    if summary:
        print(f"train {variant}: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()))
