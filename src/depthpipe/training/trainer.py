"""The trainer: one variant on one prepared dataset, resumable, deterministic on the CPU.

Laid out like monodepth2's ``Trainer``: :meth:`Trainer.__init__` sets up (device, precision, data, network,
loss, optimiser), :meth:`Trainer.resume` picks up a matching checkpoint, :meth:`Trainer.train_one_epoch` and
:meth:`Trainer.validate` run one pass each, :meth:`Trainer.end_epoch` keeps the best weights and a resumable
checkpoint, and :meth:`Trainer.finish` writes the trained model, its config and the loss curves.
:meth:`Trainer.train` (what the DVC ``train`` stage calls) strings them together inside the MLflow run, opened
with the params and tags of :meth:`Trainer.logged_params` and :meth:`Trainer.run_tags`; the metrics, data set and
files it records are :mod:`depthpipe.training.run_record`'s.

Data order and augmentation are pure functions of (seed, epoch), so a run interrupted after any epoch and
resumed ends with the same weights as an uninterrupted one.
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
from depthpipe.models.trained import load_state_dict, save_tensors, save_trained
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.tracking.store import system_metrics_enabled
from depthpipe.training import distributed, run_record
from depthpipe.training.checkpoints import BEST, LAST, checkpoint_dir, remove_stale_temporaries
from depthpipe.training.device import resolve_device, seed_everything, set_cpu_threads, to_device
from depthpipe.training.loader import (
    EpochBatchSampler,
    PreparedBatches,
    augment_batch,
    make_loader,
    random_augment_params,
    split_train_val,
)
from depthpipe.training.optim import make_optimizer, make_schedule, scale_batch
from depthpipe.training.precision import choose_precision
from depthpipe.training.state import VAL_METRICS, TrainState, fingerprint, write_history


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
        self.effective = scale_batch(
            self.cfg.lr, self.cfg.lr_scaling, self.cfg.batch_size, self.cfg.base_batch_size, world
        )

    def _set_up_model(self) -> None:
        cfg = self.cfg
        model = build_model(self.variant, self.model_cfg).to(self.device)
        if self.dist.enabled and cfg.sync_bn and self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last) if cfg.channels_last else model
        self.loss_fn = build_loss(self.variant, cfg.loss, min_depth=self.min_depth, max_depth=self.max_depth)
        self.optimizer = make_optimizer(
            self.model, cfg.optimizer, self.effective.lr, cfg.weight_decay, amsgrad=cfg.amsgrad
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
    def train(self) -> dict[str, Any]:
        """The whole run: resume, the epochs and the trained model, inside the MLflow run (rank 0's).

        Writes ``out_dir/{model.pt,config.json,checkpoints/}`` and ``report_dir/{history.csv,loss.png}``;
        returns the summary printed by the stage (empty on ranks other than 0).
        """
        where = f"cpu, {self.threads} threads" if self.device.type == "cpu" else str(self.device)
        self.say(
            f"{where}, {self.precision.dtype} ({self.precision.reason}), "
            f"{len(self.train_ds)} train / {len(self.val_ds)} val frames"
        )
        run_id = self.resume()
        summary: dict[str, Any] = {}
        with self._open_run(run_id) as run:
            if run is not None:
                self._log_start(run)
            self.run_epochs(run)
            if self.dist.is_main:
                summary = self.finish()
                if run is not None:
                    run_record.log_trained(run, self.out_dir, self.report_dir, summary)
        distributed.barrier(self.dist)
        distributed.shutdown(self.dist)
        return summary

    def _open_run(
        self, run_id: str | None
    ) -> contextlib.AbstractContextManager[runs.RunLogger] | contextlib.nullcontext[None]:
        """The MLflow run of this training on rank 0 (resuming ``run_id`` when the store has it); None elsewhere."""
        if not self.dist.is_main:
            return contextlib.nullcontext()
        return runs.stage_run(
            "train",
            self.variant,
            self.logged_params(),
            self.run_tags(),
            system_metrics=system_metrics_enabled(),
            run_id=run_id,
        )

    def _log_start(self, run: runs.RunLogger) -> None:
        """Before the first epoch: the finished epochs' metrics that a resumed run's store lacks, and the
        training data set of a new run."""
        if self.state.history:
            lost = run_record.log_finished_epochs(run, self.state.history)
            if lost:
                self.say(f"logged {lost} metric points of finished epochs that the MLflow store lacked")
        if not run.resumed:
            run.log_dataset(
                self.train_h5, f"{self.info.source or 'prepared'}-train", self.data_sha256, "training", self.n_frames
            )

    def run_epochs(self, run: runs.RunLogger | None) -> None:
        """The epoch loop: train, validate, log and checkpoint (rank 0 alone validates, logs and writes)."""
        for epoch in range(self.state.epochs_done, self.cfg.epochs):
            row = self.train_one_epoch(epoch)
            rate = row.pop("images_per_s")
            row["lr"] = float(self.schedule.get_last_lr()[0])
            if self.dist.is_main:
                row.update(self.validate())
                self.end_epoch(epoch, row, run.run_id if run else None)
                if run is not None:
                    run_record.log_epoch(run, epoch, row | {"images_per_s": rate})
                msg = ", ".join(f"{k} {v:.4g}" for k, v in row.items())
                print(f"train {self.variant} epoch {epoch + 1}/{self.cfg.epochs}: {msg}, {rate:.1f} img/s", flush=True)
            distributed.barrier(self.dist)

    def resume(self) -> str | None:
        """Load ``checkpoints/last.pt`` when it was made with these params, data and code; returns the MLflow
        run id it recorded (None when starting over)."""
        remove_stale_temporaries(checkpoint_dir(self.out_dir))
        last = checkpoint_dir(self.out_dir) / LAST
        if not last.exists():
            return None
        saved = load_state_dict(last)
        if saved.get("fingerprint") != self.fingerprint:
            self.say(f"{last} was made with other params, data or code; starting over")
            return None
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["scheduler"])
        self.state = TrainState.from_checkpoint(saved)
        self.say(f"resuming from {last} after epoch {self.state.epochs_done}")
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
            **self.effective.record(),
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
            **self.effective.record(),
        }

    def run_tags(self) -> dict[str, str]:
        """The MLflow run's tags: the stage's provenance, the prepared data's hash and the precision."""
        tags = stage_tags("train", self.variant, self.info.source or None, self.info.source_sha256 or None)
        return tags | {"depthpipe.data.prepared_sha256": self.data_sha256, "depthpipe.precision": self.precision.dtype}

    def say(self, text: str) -> None:
        """Print ``train <variant>: text`` on rank 0."""
        if self.dist.is_main:
            print(f"train {self.variant}: {text}", flush=True)
