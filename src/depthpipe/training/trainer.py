"""The trainer: one variant on one prepared dataset, resumable, deterministic on the CPU.

Laid out like monodepth2's ``Trainer``: :meth:`Trainer.__init__` sets up (device, precision, data, network,
loss, optimiser), :meth:`Trainer.resume` picks up a matching checkpoint, :meth:`Trainer.train_one_epoch` and
:meth:`Trainer.validate` run one pass each, :meth:`Trainer.end_epoch` keeps the best weights and a resumable
checkpoint, and :meth:`Trainer.finish` writes the trained model, its config and the loss curves.
:func:`train_variant` (what the DVC ``train`` stage calls) strings them together inside the MLflow run.

Data order and augmentation are pure functions of (seed, epoch), so a run interrupted after any epoch and
resumed ends with the same weights as an uninterrupted one; the resumed MLflow run is given the metrics of
finished epochs that its store lacks (a tracking server that died before acknowledging them), from the history.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from depthpipe.config import DenseDepthModel, DenseDepthTrain, SemanticBoosterModel, SemanticBoosterTrain, flatten
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from depthpipe.metrics.depth import depth_metrics
from depthpipe.models import build_loss, build_model, to_metres
from depthpipe.models.trained import MODEL_FILE, load_state_dict, save_tensors, save_trained
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.tracking.store import system_metrics_enabled
from depthpipe.training import distributed
from depthpipe.training.checkpoints import BEST, LAST, checkpoint_dir, remove_stale_temporaries
from depthpipe.training.loader import (
    EpochBatchSampler,
    PreparedBatches,
    augment_batch,
    make_loader,
    random_augment_params,
    split_train_val,
)
from depthpipe.training.optim import make_optimizer, make_schedule
from depthpipe.training.precision import choose_precision
from depthpipe.training.state import HISTORY_COLUMNS, TrainState, fingerprint, write_history

VAL_METRICS = ("abs_rel", "rmse", "delta1")
# history column -> MLflow metric: grouped train/ and val/ (MLflow's chart sections)
LOGGED_NAMES = {
    "train_loss": "train/loss",
    "lr": "train/lr",
    "images_per_s": "train/images_per_s",
    "val_loss": "val/loss",
    **{f"val_{k}": f"val/{k}" for k in VAL_METRICS},
}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DepthpipeError("params.yaml: train.<variant>.device is cuda but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_cpu_threads(device: torch.device, workers: int) -> int:
    """Torch's intra-op threads for training on the CPU: the usable cores minus one per DataLoader worker (at
    least one), so the loader processes do not oversubscribe the cores; ``OMP_NUM_THREADS`` (torchrun sets
    it per process) wins. Returns the thread count."""
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, usable_cores() - workers))
    return torch.get_num_threads()


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch and ask for deterministic kernels (strict on the CPU, best effort on CUDA)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def to_device(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """A loader batch on ``device``, RGB as float in [0, 1] (channels_last when asked)."""
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    rgb = out["rgb"].float().div_(255.0)
    out["rgb"] = rgb.contiguous(memory_format=torch.channels_last) if channels_last else rgb
    return out


class Trainer:
    """One variant's training run; see the module docstring for the phases."""

    def __init__(
        self,
        variant: str,
        cfg: DenseDepthTrain | SemanticBoosterTrain,
        model_cfg: DenseDepthModel | SemanticBoosterModel,
        prepared_dir: Path,
        out_dir: Path,
        report_dir: Path,
        progress: bool = True,
    ) -> None:
        self.variant, self.cfg, self.model_cfg = variant, cfg, model_cfg
        self.out_dir, self.report_dir, self.progress = Path(out_dir), Path(report_dir), progress
        self.device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", 0)))
        self.dist = distributed.init(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        seed_everything(cfg.seed, self.device)
        self.threads = set_cpu_threads(self.device, cfg.workers)
        self.precision = choose_precision(cfg.precision, self.device)
        self._set_up_data(Path(prepared_dir) / "train.h5")
        self._set_up_model()
        self.state = TrainState()
        self.fingerprint = fingerprint(variant, cfg, model_cfg, self.data_sha256, self.dist.world_size)

    def _set_up_data(self, train_h5: Path) -> None:
        full = PreparedBatches(train_h5)
        if self.variant == "semantic_booster" and not full.info.has_labels:
            raise DepthpipeError(
                f"{train_h5}: no semantic labels (data source {full.info.source or 'unknown'}): the semantic booster "
                f"is labeled-only; train it with recipe paper-labeled (the labeled .mat), or run only DenseDepth: "
                f"dvc exp run -S recipe=paper export@densedepth"
            )
        self.train_h5, self.info, self.n_frames = train_h5, full.info, full.n_total
        self.min_depth, self.max_depth = full.info.min_depth, full.info.max_depth
        self.data_sha256 = sha256_file(train_h5)
        train_pos, val_pos = split_train_val(full.n_total, self.cfg.val_fraction, self.cfg.seed)
        self.train_ds, self.val_ds = PreparedBatches(train_h5, train_pos), PreparedBatches(train_h5, val_pos)
        world = self.dist.world_size
        if len(self.train_ds) < self.cfg.batch_size * world:
            raise DepthpipeError(
                f"params.yaml: train.{self.variant}.batch_size {self.cfg.batch_size} x {world} processes exceeds "
                f"the {len(self.train_ds)} training frames of {train_h5}"
            )
        self.sampler = EpochBatchSampler(
            len(self.train_ds), self.cfg.batch_size, self.cfg.seed, rank=self.dist.rank, world_size=world
        )
        self.loader = make_loader(self.train_ds, self.sampler, self.cfg.workers, pin_memory=self.device.type == "cuda")
        self.effective = self.cfg.effective(world)

    def _set_up_model(self) -> None:
        cfg = self.cfg
        model = build_model(self.variant, self.model_cfg).to(self.device)
        if self.dist.enabled and cfg.sync_bn and self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last) if cfg.channels_last else model
        self.loss_fn = build_loss(self.variant, cfg.loss, min_depth=self.min_depth, max_depth=self.max_depth)
        self.optimizer = make_optimizer(
            self.model, cfg.optimizer, self.effective["effective_lr"], cfg.weight_decay, amsgrad=cfg.amsgrad
        )
        self.schedule = make_schedule(
            self.optimizer, cfg.schedule, cfg.epochs, len(self.sampler), cfg.step_size, cfg.gamma
        )
        net: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.net = torch.compile(net) if cfg.compile else net

    # ------------------------------------------------------------------------------------------ phases
    def resume(self) -> str | None:
        """Load ``checkpoints/last.pt`` when it was made with these params, data and code; returns the MLflow
        run id it recorded (None when starting over)."""
        remove_stale_temporaries(checkpoint_dir(self.out_dir))
        last = checkpoint_dir(self.out_dir) / LAST
        if not last.exists():
            return None
        saved = load_state_dict(last)
        if saved.get("fingerprint") != self.fingerprint:
            self._say(f"{last} was made with other params, data or code; starting over")
            return None
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["scheduler"])
        self.state = TrainState.from_checkpoint(saved)
        self._say(f"resuming from {last} after epoch {self.state.epochs_done}")
        return saved.get("mlflow_run_id") or None

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training split; returns ``train_loss`` (mean over ranks) and ``images_per_s``."""
        self.sampler.set_epoch(epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 7_919 + epoch)
        self.model.train()
        loss_sum, seen, start = torch.zeros((), device=self.device), 0, time.perf_counter()
        bar = tqdm(
            self.loader,
            desc=f"train {self.variant} epoch {epoch + 1}/{self.cfg.epochs}",
            unit="batch",
            disable=not (self.progress and self.dist.is_main),
            leave=False,
        )
        for step, batch in enumerate(bar):
            loss_sum += self._step(batch, gen)
            seen += len(batch["rgb"])
            if step % 10 == 9:  # a host sync only every 10 steps
                rate = seen * self.dist.world_size / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{float(loss_sum) / (step + 1):.4f}", img_s=f"{rate:.1f}")
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = max(time.perf_counter() - start, 1e-9)
        mean_loss = distributed.all_reduce_mean(loss_sum / max(1, len(self.sampler)), self.dist)
        return {"train_loss": float(mean_loss), "images_per_s": seen * self.dist.world_size / elapsed}

    def _step(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """Augment, forward, backward and update on one batch; returns the detached loss."""
        # Drawn for the whole global batch and sliced to this rank's part, so N processes with batch B
        # augment exactly as one process with batch N*B does (and every rank's draws stay in step).
        size, rank = self.cfg.batch_size, self.dist.rank
        aug = self.cfg.augment
        flip, perm = random_augment_params(
            size * self.dist.world_size, gen, aug.hflip_p, aug.channel_swap_p, aug.channel_orders
        )
        part = slice(rank * size, rank * size + len(batch["rgb"]))
        b = augment_batch(to_device(batch, self.device, self.cfg.channels_last), flip[part], perm[part])
        with self.precision.autocast(self.device):
            out = self.net(b["rgb"])
        loss, _ = self.loss_fn({k: v.float() for k, v in out.items()}, b)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        return loss.detach()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss and depth metrics (abs_rel, rmse, delta1 in metres at the output size) on the held-out frames."""
        if not len(self.val_ds):
            return {}
        self.model.eval()
        loss_sum, per_image = 0.0, []
        sampler = EpochBatchSampler(len(self.val_ds), self.cfg.batch_size, seed=0, shuffle=False, drop_last=False)
        for batch in make_loader(self.val_ds, sampler, 0, False):
            b = to_device(batch, self.device, self.cfg.channels_last)
            with self.precision.autocast(self.device):
                out = self.model(b["rgb"])
            loss, _ = self.loss_fn({k: v.float() for k, v in out.items()}, b)
            loss_sum += float(loss) * len(b["rgb"])
            pred = to_metres(out["depth"].float(), self.max_depth, self.min_depth).cpu().numpy()[:, 0]
            for p, g in zip(pred, b["depth"].cpu().numpy()[:, 0]):
                if (g > 0).any():
                    per_image.append(depth_metrics(p, g, min_depth=1e-3, max_depth=self.max_depth, crop="none"))
        self.model.train()
        result = {"val_loss": loss_sum / len(self.val_ds)}
        for k in VAL_METRICS:
            result[f"val_{k}"] = float(np.mean([m[k] for m in per_image])) if per_image else float("nan")
        return result

    def end_epoch(self, epoch: int, row: dict[str, float], run_id: str | None) -> None:
        """Record the epoch, keep the best weights (by val abs_rel, else train loss) and write ``last.pt``."""
        ckpt = checkpoint_dir(self.out_dir)
        if self.state.record(epoch, row):
            save_tensors(ckpt / BEST, self.model.state_dict())
        save_tensors(
            ckpt / LAST, self.state.checkpoint(self.model, self.optimizer, self.schedule, self.fingerprint, run_id)
        )

    def finish(self) -> dict[str, Any]:
        """Write ``model.pt`` (the best weights), ``config.json`` and the history CSV + plot; returns a summary."""
        best = load_state_dict(checkpoint_dir(self.out_dir) / BEST)
        save_trained(self.out_dir, best, self.model_config_json())
        write_history(self.state.history, self.report_dir, title=self.variant)
        last = self.state.history[-1]
        return {
            "best_epoch": self.state.best_epoch,
            "best_val_abs_rel": self.state.best_metric,
            **{f"final_{k}": v for k, v in last.items() if k != "epoch"},
        }

    def model_config_json(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the network and read its output, and what determined
        the weights; no provenance (that is the MLflow run's), so the same weights give the same file."""
        return {
            "variant": self.variant,
            "model": self.model_cfg.model_dump(),
            "input_size": list(self.info.input_size),
            "output_size": list(self.info.output_size),
            "min_depth": self.min_depth,
            "max_depth": self.max_depth,
            "best_epoch": self.state.best_epoch,
            "epochs": self.cfg.epochs,
            **self.effective,
            "precision": self.precision.dtype,
            "data_sha256": self.data_sha256,
        }

    def logged_params(self) -> dict[str, Any]:
        """The params of the MLflow run: the resolved sections, the data, the device and the precision."""
        return {
            **flatten({"train": self.cfg.model_dump(), "model": self.model_cfg.model_dump()}),
            "prepare.input_size": list(self.info.input_size),
            "prepare.output_size": list(self.info.output_size),
            "data.train_frames": len(self.train_ds),
            "data.val_frames": len(self.val_ds),
            "device": str(self.device),
            "precision": self.precision.dtype,
            "steps_per_epoch": len(self.sampler),
            **self.effective,
        }

    def _say(self, text: str) -> None:
        if self.dist.is_main:
            print(f"train {self.variant}: {text}", flush=True)


def _run_epochs(trainer: Trainer, run: runs.RunLogger | None) -> None:
    """The epoch loop: train, validate, log and checkpoint (rank 0 alone validates, logs and writes)."""
    cfg, dist = trainer.cfg, trainer.dist
    for epoch in range(trainer.state.epochs_done, cfg.epochs):
        row = trainer.train_one_epoch(epoch)
        rate = row.pop("images_per_s")
        row["lr"] = float(trainer.schedule.get_last_lr()[0])
        if dist.is_main:
            row.update(trainer.validate())
            trainer.end_epoch(epoch, row, run.run_id if run else None)
            if run is not None:
                run.log_metrics({LOGGED_NAMES[k]: v for k, v in (row | {"images_per_s": rate}).items()}, step=epoch + 1)
            msg = ", ".join(f"{k} {v:.4g}" for k, v in row.items())
            print(f"train {trainer.variant} epoch {epoch + 1}/{cfg.epochs}: {msg}, {rate:.1f} img/s", flush=True)
        distributed.barrier(dist)


def train_variant(
    variant: str,
    cfg: DenseDepthTrain | SemanticBoosterTrain,
    model_cfg: DenseDepthModel | SemanticBoosterModel,
    prepared_dir: Path,
    out_dir: Path,
    report_dir: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``variant`` (``train.<variant>`` and ``models.<variant>``) on ``prepared_dir``; see the module doc.

    Writes ``out_dir/{model.pt,config.json,checkpoints/}`` and ``report_dir/{history.csv,loss.png}``; returns
    the summary printed by the stage (empty on ranks other than 0).
    """
    trainer = Trainer(variant, cfg, model_cfg, prepared_dir, out_dir, report_dir, progress)
    where = f"cpu, {trainer.threads} threads" if trainer.device.type == "cpu" else str(trainer.device)
    trainer._say(
        f"{where}, {trainer.precision.dtype} ({trainer.precision.reason}), "
        f"{len(trainer.train_ds)} train / {len(trainer.val_ds)} val frames"
    )
    run_id = trainer.resume()
    summary: dict[str, Any] = {}
    run_ctx = (
        runs.stage_run(
            "train",
            variant,
            trainer.logged_params(),
            _tags(trainer),
            system_metrics=system_metrics_enabled(),
            run_id=run_id,
        )
        if trainer.dist.is_main
        else contextlib.nullcontext()
    )
    with run_ctx as run:
        if run is not None and trainer.state.history:
            lost = run.log_missing(
                trainer.state.history, {k: v for k, v in LOGGED_NAMES.items() if k in HISTORY_COLUMNS}
            )
            if lost:
                trainer._say(f"logged {lost} metric points of finished epochs that the MLflow store lacked")
        if run is not None and not run.resumed:
            run.log_dataset(
                trainer.train_h5,
                f"{trainer.info.source or 'prepared'}-train",
                trainer.data_sha256,
                "training",
                trainer.n_frames,
            )
        _run_epochs(trainer, run)
        if trainer.dist.is_main:
            summary = trainer.finish()
            if run is not None:
                run.set_tags({runs.MODEL_SHA_TAG: sha256_file(out_dir / MODEL_FILE)})
                run.log_metrics(
                    {"train/best_epoch": summary["best_epoch"], "val/best_abs_rel": summary["best_val_abs_rel"]}
                )
                for path in (out_dir / "config.json", report_dir / "history.csv", report_dir / "loss.png"):
                    run.log_artifact(path)
    distributed.barrier(trainer.dist)
    distributed.shutdown(trainer.dist)
    return summary


def _tags(trainer: Trainer) -> dict[str, str]:
    info = trainer.info
    tags = stage_tags("train", trainer.variant, info.source or None, info.source_sha256 or None)
    return tags | {
        "depthpipe.data.prepared_sha256": trainer.data_sha256,
        "depthpipe.precision": trainer.precision.dtype,
    }
