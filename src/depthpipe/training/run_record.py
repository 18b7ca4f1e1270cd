"""What a training run records in its MLflow run (rank 0 alone), besides the params and tags it opens with: the
training data set, the metrics of every epoch (on resuming, also those of finished epochs that the store lacks: a
tracking server that died before acknowledging them), and the trained model's hash, headline metrics and files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthpipe.files import sha256_file
from depthpipe.models.trained import MODEL_FILE
from depthpipe.tracking import runs
from depthpipe.training.state import HISTORY_COLUMNS, VAL_METRICS

# history column -> MLflow metric: grouped train/ and val/ (MLflow's chart sections)
LOGGED_NAMES = {
    "train_loss": "train/loss",
    "lr": "train/lr",
    "images_per_s": "train/images_per_s",
    "val_loss": "val/loss",
    **{f"val_{k}": f"val/{k}" for k in VAL_METRICS},
}


def log_finished_epochs(run: runs.RunLogger, history: list[dict[str, Any]]) -> int:
    """The metrics of the finished epochs in ``history`` that the run's store lacks; returns how many points."""
    return run.log_missing(history, {k: v for k, v in LOGGED_NAMES.items() if k in HISTORY_COLUMNS})


def log_epoch(run: runs.RunLogger, epoch: int, row: Mapping[str, float]) -> None:
    """One epoch's history row (with its ``images_per_s``) as MLflow metrics at step ``epoch + 1``."""
    run.log_metrics({LOGGED_NAMES[k]: v for k, v in row.items()}, step=epoch + 1)


def log_trained(run: runs.RunLogger, out_dir: Path, report_dir: Path, summary: Mapping[str, Any]) -> None:
    """After the last epoch: the model's sha256 tag, the best epoch and its abs_rel, and the written files."""
    run.set_tags({runs.MODEL_SHA_TAG: sha256_file(out_dir / MODEL_FILE)})
    run.log_metrics({"train/best_epoch": summary["best_epoch"], "val/best_abs_rel": summary["best_val_abs_rel"]})
    for path in (out_dir / "config.json", report_dir / "history.csv", report_dir / "loss.png"):
        run.log_artifact(path)
