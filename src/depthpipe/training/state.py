"""What a training run has done so far (epochs, history, best epoch) and what a checkpoint must match.

A resumable checkpoint (``checkpoints/last.pt``) holds the model, optimiser and scheduler states, this
state and the run's :func:`fingerprint`; nothing else is needed to resume, because data order and
augmentation are pure functions of (seed, epoch). Everything in it is tensors and plain containers, so
``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from torch import nn

from depthpipe.files import write_text_atomic
from depthpipe.viz.charts import plot_history

VAL_METRICS = ("abs_rel", "rmse", "delta1")  # what validation measures, as val_<name> in the history
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_abs_rel", "val_rmse", "val_delta1", "lr")


@dataclass
class TrainState:
    """Epochs done, one history row per epoch, and the best epoch with its score (lower is better)."""

    epochs_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = math.inf
    best_epoch: int = -1

    def record(self, epoch: int, row: dict[str, float]) -> bool:
        """Add epoch ``epoch`` (0-based) with its ``row``; True when it is the new best (by ``val_abs_rel``,
        by ``train_loss`` where there is no validation)."""
        self.history.append({"epoch": epoch + 1, **row})
        self.epochs_done = epoch + 1
        score = row.get("val_abs_rel", math.nan)
        score = row["train_loss"] if math.isnan(score) else score
        if score < self.best_metric:
            self.best_metric, self.best_epoch = float(score), epoch + 1
            return True
        return False

    def checkpoint(
        self, model: nn.Module, optimizer: Any, scheduler: Any, run_fingerprint: str, mlflow_run_id: str | None
    ) -> dict[str, Any]:
        """The content of ``last.pt``."""
        return {
            "epoch": self.epochs_done - 1,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": self.history,
            "fingerprint": run_fingerprint,
            "best": {"metric": self.best_metric, "epoch": self.best_epoch},
            "mlflow_run_id": mlflow_run_id or "",
        }

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any]) -> TrainState:
        """The state saved by :meth:`checkpoint`."""
        return cls(
            int(saved["epoch"]) + 1, list(saved["history"]), float(saved["best"]["metric"]), int(saved["best"]["epoch"])
        )


def code_digest() -> str:
    """sha256 of the library's Python sources: a checkpoint made by other code is never resumed."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def fingerprint(variant: str, train: BaseModel, model: BaseModel, data_sha256: str, world_size: int) -> str:
    """What a checkpoint must match to be resumed: the params, the data, the process count and the code."""
    blob = json.dumps(
        {
            "variant": variant,
            "train": train.model_dump(),
            "model": model.model_dump(),
            "data": data_sha256,
            "world": world_size,
            "code": code_digest(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def history_csv(history: list[dict[str, Any]]) -> str:
    """The per-epoch history as CSV text (floats to 6 significant digits)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(HISTORY_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(
            {k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k)) for k in HISTORY_COLUMNS}
        )
    return buf.getvalue()


def write_history(history: list[dict[str, Any]], report_dir: Path, title: str) -> None:
    """``report_dir/history.csv`` and the loss curves ``report_dir/loss.png``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(report_dir / "history.csv", history_csv(history))
    plot_history(history, report_dir / "loss.png", title=title)
