"""DVC stage `train@<variant>`: one model variant trained on data/prepared -> models/<variant>/ and
reports/train/<variant>/ (relaunched under torchrun when `train.<variant>.nproc_per_node` > 1)."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

import sys
from pathlib import Path

from depthpipe.config import Params
from depthpipe.data.prepared.hdf5 import PreparedSplit
from depthpipe.stage_runner import run_stage, variant_arg
from depthpipe.training.distributed import relaunch_with_torchrun
from depthpipe.training.trainer import Trainer
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Train the variant named on the command line with ``train.<variant>`` and ``models.<variant>``."""
    variant = variant_arg()
    cfg = params.train_config(variant)
    PreparedSplit(paths.prepared / "train.h5")  # a missing or unreadable input is one line before any work
    relaunch_with_torchrun(
        [str(Path(sys.argv[0]).resolve()), variant], cfg.nproc_per_node, cfg.nnodes, cfg.rdzv_endpoint
    )
    summary = Trainer(
        variant,
        cfg,
        params.model_config_of(variant),
        paths.prepared,
        paths.model_dir(variant),
        paths.train_reports(variant),
    ).train()
    if summary:
        print(f"train {variant}: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()))


if __name__ == "__main__":
    run_stage("train", main)
