"""The trainer: one variant, one prepared dataset, resumable, deterministic on the CPU.

:func:`run_training` is what the DVC ``train`` stage calls. Per epoch it trains on the train split minus a
held-out validation part, validates (loss, abs_rel, delta1 in metres at the output resolution), writes a
resumable checkpoint (``<out>/checkpoints/last.pt``) and keeps the best weights. Re-running after an
interruption resumes from the last checkpoint when its fingerprint (params + data) matches, and ends with the
same weights as an uninterrupted run: data order and augmentation are pure functions of (seed, epoch).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from depthpipe import distributed as dd
from depthpipe import tracking
from depthpipe.checkpoint import load_state_dict, save_tensors, save_trained
from depthpipe.data.loader import (
    EpochBatchSampler, PreparedBatches, augment_batch, make_loader, random_augment_params, split_train_val,
)
from depthpipe.errors import DepthpipeError
from depthpipe.io import sha256_file, write_text_atomic
from depthpipe.losses import compute_loss
from depthpipe.metrics import depth_metrics
from depthpipe.models import build_model, to_metres
from depthpipe.params import flatten, require

CKPT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"


@dataclass(frozen=True)
class TrainConfig:
    """One ``train.<variant>`` params section, checked."""

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    lr_scaling: str
    base_batch_size: int
    weight_decay: float
    schedule: str
    step_size: int
    gamma: float
    seed: int
    val_fraction: float
    hflip: bool
    channel_swap: bool
    device: str
    amp: str
    channels_last: bool
    compile: bool
    workers: int
    sync_bn: bool
    nproc_per_node: int
    nnodes: int
    rdzv_endpoint: str
    loss: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, p: Mapping[str, Any], variant: str) -> "TrainConfig":
        key = f"train.{variant}"

        def get(name: str, kind: type | tuple, check=lambda v: True, why: str = "is invalid") -> Any:
            if name not in p:
                raise DepthpipeError(f"params.yaml: missing key '{key}.{name}'")
            v = p[name]
            ok = isinstance(v, kind) and not (kind in (int, (int, float)) and isinstance(v, bool)) and check(v)
            require(ok, f"{key}.{name}", f"{why} (got {v!r})")
            return v

        aug = p.get("augment") or {}
        return cls(
            epochs=get("epochs", int, lambda v: v >= 1, "must be an integer >= 1"),
            batch_size=get("batch_size", int, lambda v: v >= 1, "must be an integer >= 1"),
            optimizer=get("optimizer", str, lambda v: v in ("adam", "adamw"), "must be adam or adamw"),
            lr=float(get("lr", (int, float), lambda v: v > 0, "must be > 0")),
            lr_scaling=get("lr_scaling", str, lambda v: v in ("none", "linear"), "must be none or linear"),
            base_batch_size=get("base_batch_size", int, lambda v: v >= 1, "must be an integer >= 1"),
            weight_decay=float(get("weight_decay", (int, float), lambda v: v >= 0, "must be >= 0")),
            schedule=get("schedule", str, lambda v: v in ("none", "cosine", "step"), "must be none, cosine or step"),
            step_size=get("step_size", int, lambda v: v >= 1, "must be an integer >= 1"),
            gamma=float(get("gamma", (int, float), lambda v: 0 < v <= 1, "must be in (0, 1]")),
            seed=get("seed", int, lambda v: v >= 0, "must be an integer >= 0"),
            val_fraction=float(get("val_fraction", (int, float), lambda v: 0 <= v < 1, "must be in [0, 1)")),
            hflip=bool(aug.get("hflip", False)),
            channel_swap=bool(aug.get("channel_swap", False)),
            device=get("device", str, lambda v: v in ("auto", "cpu", "cuda"), "must be auto, cpu or cuda"),
            amp=get("amp", str, lambda v: v in ("bf16", "none"), "must be bf16 or none"),
            channels_last=get("channels_last", bool, why="must be true or false"),
            compile=get("compile", bool, why="must be true or false"),
            workers=get("workers", int, lambda v: v >= 0, "must be an integer >= 0"),
            sync_bn=get("sync_bn", bool, why="must be true or false"),
            nproc_per_node=get("nproc_per_node", int, lambda v: v >= 1, "must be an integer >= 1"),
            nnodes=get("nnodes", int, lambda v: v >= 1, "must be an integer >= 1"),
            rdzv_endpoint=str(p.get("rdzv_endpoint", "127.0.0.1:29500")),
            loss=_checked_loss(variant, get("loss", dict, why="must be a mapping of loss weights")),
        )

    def effective(self, world_size: int) -> dict[str, float]:
        """Effective batch size and learning rate under the configured scaling rule."""
        eff_batch = self.batch_size * world_size
        lr = self.lr * eff_batch / self.base_batch_size if self.lr_scaling == "linear" else self.lr
        return {"effective_batch_size": eff_batch, "effective_lr": lr, "world_size": world_size}


def _checked_loss(variant: str, loss: Mapping[str, Any]) -> dict:
    """``train.<variant>.loss`` as given, checked now (unknown keys, bad weights) rather than at the first step."""
    from depthpipe.losses import BOOSTER_LOSS_DEFAULTS, DENSEDEPTH_LOSS_DEFAULTS, _loss_params

    defaults = {"densedepth": DENSEDEPTH_LOSS_DEFAULTS, "semantic_booster": BOOSTER_LOSS_DEFAULTS}.get(variant)
    if defaults is not None:
        _loss_params(variant, loss, defaults)
    return dict(loss)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DepthpipeError("params.yaml: train.*.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


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


def make_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: constant, cosine to 0 over all steps, or x``gamma`` every ``step_size`` epochs."""
    total = max(1, cfg.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step // max(1, steps_per_epoch)) // cfg.step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def code_digest() -> str:
    """sha256 of the library's Python sources: a checkpoint made by other code is never resumed."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        h.update(f.relative_to(pkg).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def fingerprint(variant: str, cfg: TrainConfig, model_params: Mapping, data_digest: str, world_size: int) -> str:
    """What a checkpoint must match to be resumed: params, data, process count and library code."""
    blob = json.dumps({"variant": variant, "train": asdict(cfg), "model": dict(model_params),
                       "data": data_digest, "world": world_size, "code": code_digest()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def bf16_supported(device: torch.device) -> bool:
    """bf16 runs natively here: any CUDA GPU, or a CPU with AVX512-BF16/AMX (oneDNN); emulated bf16 is slower."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast where ``amp: bf16`` and the device runs bf16 natively; float32 otherwise."""
    if amp == "bf16" and bf16_supported(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    rgb = out["rgb"].float().div_(255.0)
    out["rgb"] = rgb.contiguous(memory_format=torch.channels_last) if channels_last else rgb
    return out


@torch.no_grad()
def validate(model: nn.Module, ds: PreparedBatches, variant: str, cfg: TrainConfig, device: torch.device,
             max_depth: float, min_depth: float) -> dict[str, float]:
    """Validation loss and depth metrics (abs_rel, rmse, delta1 at the output resolution, in metres)."""
    model.eval()
    losses, per_image = [], []
    sampler = EpochBatchSampler(len(ds), cfg.batch_size, seed=0, shuffle=False, drop_last=False)
    for batch in make_loader(ds, sampler, 0, False):
        b = _to_device(batch, device, cfg.channels_last)
        with _autocast(device, cfg.amp):
            out = model(b["rgb"])
        loss, _ = compute_loss(variant, {k: v.float() for k, v in out.items()}, b, cfg.loss, max_depth, min_depth)
        losses.append(float(loss) * len(b["rgb"]))
        pred_m = to_metres(out["depth"].float(), max_depth, min_depth).cpu().numpy()[:, 0]
        gt = b["depth"].cpu().numpy()[:, 0]
        for p, g in zip(pred_m, gt):
            if (g > 0).any():
                per_image.append(depth_metrics(p, g, min_depth=1e-3, max_depth=max_depth, crop="none"))
    model.train()
    res = {"val_loss": sum(losses) / max(1, len(ds))}
    for k in ("abs_rel", "rmse", "delta1"):
        res[f"val_{k}"] = float(np.mean([m[k] for m in per_image])) if per_image else float("nan")
    return res


def _history_csv(history: list[dict]) -> str:
    cols = ["epoch", "train_loss", "val_loss", "val_abs_rel", "val_rmse", "val_delta1", "lr"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k)) for k in cols})
    return buf.getvalue()


def run_training(variant: str, params: Mapping[str, Any], root: Path, prepared_dir: Path, out_dir: Path,
                 report_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train ``variant`` with ``params`` (the whole, recipe-merged params). Returns the final summary."""
    cfg = TrainConfig.from_params(params["train"][variant], variant)
    model_params = dict(params["models"][variant])
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", 0)))
    info = dd.init(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    seed_everything(cfg.seed, device)

    train_h5 = prepared_dir / "train.h5"
    full = PreparedBatches(train_h5)
    max_depth, min_depth = float(full.attrs["max_depth"]), float(full.attrs["min_depth"])
    data_digest = sha256_file(train_h5)
    tr_pos, val_pos = split_train_val(full.n_total, cfg.val_fraction, cfg.seed)
    train_ds, val_ds = PreparedBatches(train_h5, tr_pos), PreparedBatches(train_h5, val_pos)
    if len(train_ds) < cfg.batch_size * info.world_size:
        raise DepthpipeError(
            f"params.yaml: train.{variant}.batch_size {cfg.batch_size} x {info.world_size} processes exceeds the "
            f"{len(train_ds)} training frames of {train_h5}"
        )
    eff = cfg.effective(info.world_size)

    model = build_model(variant, model_params).to(device)
    if info.enabled and cfg.sync_bn and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg, eff["effective_lr"])
    sampler = EpochBatchSampler(len(train_ds), cfg.batch_size, cfg.seed, rank=info.rank, world_size=info.world_size)
    steps_per_epoch = len(sampler)
    sched = make_schedule(opt, cfg, steps_per_epoch)

    ckpt_dir = out_dir / CKPT_DIR
    fp = fingerprint(variant, cfg, model_params, data_digest, info.world_size)
    start_epoch, history, best = 0, [], {"metric": float("inf"), "epoch": -1}
    run_id = None
    last = ckpt_dir / LAST
    if last.exists():
        state = load_state_dict(last)
        if state.get("fingerprint") == fp:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start_epoch, history, best = int(state["epoch"]) + 1, list(state["history"]), dict(state["best"])
            run_id = state.get("mlflow_run_id") or None
            if info.is_main:
                print(f"train {variant}: resuming from {last} after epoch {start_epoch}")
        elif info.is_main:
            print(f"train {variant}: {last} was made with other params or data; starting over")

    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step_fn: nn.Module = torch.compile(net) if cfg.compile else net

    tags = tracking.stage_tags(root, "train", variant, str(full.attrs.get("source", "")) or None,
                               str(full.attrs.get("source_sha256", "")) or None)
    tags["depthpipe.data.prepared_sha256"] = data_digest
    logged = {**flatten({"train": asdict(cfg), "model": model_params}),
              "prepare.input_size": list(full.attrs["input_size"]), "prepare.output_size": list(full.attrs["output_size"]),
              "data.train_frames": len(train_ds), "data.val_frames": len(val_ds), "device": str(device),
              "steps_per_epoch": steps_per_epoch, **eff}
    tcfg = params.get("tracking", {})
    run_ctx = (tracking.stage_run(root, tcfg.get("experiment", "depthpipe"), "train", variant, logged, tags,
                                  system_metrics=bool(tcfg.get("system_metrics", True)), run_id=run_id)
               if info.is_main else contextlib.nullcontext())
    images_per_s = 0.0
    with run_ctx as run:
        if run is not None and not run.resumed:
            run.log_dataset(train_h5, "nyu-prepared-train", data_digest, "training", full.n_total)
        loader = make_loader(train_ds, sampler, cfg.workers, pin_memory=device.type == "cuda")
        global_batch = cfg.batch_size * info.world_size
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            gen = torch.Generator().manual_seed(cfg.seed * 7_919 + epoch)
            model.train()
            loss_sum = torch.zeros((), device=device)
            seen, t0 = 0, time.perf_counter()
            bar = tqdm(loader, desc=f"train {variant} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                       disable=not (progress and info.is_main), leave=False)
            for i, batch in enumerate(bar):
                # Drawn for the whole global batch and sliced to this rank's part, so N processes with batch B
                # augment exactly as one process with batch N*B does (and every rank's draws stay in step).
                flip, perm = random_augment_params(global_batch, gen, cfg.hflip, cfg.channel_swap)
                part = slice(info.rank * cfg.batch_size, info.rank * cfg.batch_size + len(batch["rgb"]))
                flip, perm = flip[part], perm[part]
                b = augment_batch(_to_device(batch, device, cfg.channels_last), flip, perm)
                with _autocast(device, cfg.amp):
                    out = step_fn(b["rgb"])
                loss, _ = compute_loss(variant, {k: v.float() for k, v in out.items()}, b, cfg.loss, max_depth, min_depth)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.detach()
                seen += len(b["rgb"])
                if i % 10 == 9:  # a host sync only every 10 steps
                    bar.set_postfix(loss=f"{float(loss_sum) / (i + 1):.4f}",
                                    img_s=f"{seen * info.world_size / (time.perf_counter() - t0):.1f}")
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            images_per_s = seen * info.world_size / max(elapsed, 1e-9)
            train_loss = float(dd.all_reduce_mean(loss_sum / max(1, steps_per_epoch), info))
            row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "lr": float(sched.get_last_lr()[0])}
            if info.is_main:
                row.update(validate(model, val_ds, variant, cfg, device, max_depth, min_depth) if len(val_ds) else {})
                score = row.get("val_abs_rel", train_loss)
                score = train_loss if score != score else score
                if score < best["metric"]:
                    best = {"metric": float(score), "epoch": epoch + 1}
                    save_tensors(ckpt_dir / BEST, model.state_dict())
                history.append(row)
                save_tensors(last, {
                    "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "history": history, "best": best, "fingerprint": fp,
                    "mlflow_run_id": run.run_id if run is not None else "",
                })
                if run is not None:
                    run.log_metrics({k: v for k, v in row.items() if k != "epoch"} | {"images_per_s": images_per_s},
                                    step=epoch + 1)
                msg = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
                print(f"train {variant} epoch {epoch + 1}/{cfg.epochs}: {msg}, {images_per_s:.1f} img/s", flush=True)
            dd.barrier(info)

        summary: dict[str, Any] = {}
        if info.is_main:
            best_state = load_state_dict(ckpt_dir / BEST)
            config = {
                "variant": variant, "model": model_params,
                "input_size": list(full.attrs["input_size"]), "output_size": list(full.attrs["output_size"]),
                "min_depth": min_depth, "max_depth": max_depth,
                "best_epoch": best["epoch"], "epochs": cfg.epochs, **eff,
                "git_commit": tags["mlflow.source.git.commit"], "data_sha256": data_digest,
                "mlflow_run_id": run.run_id if run is not None else None,
                "mlflow_experiment": tcfg.get("experiment", "depthpipe"),
            }
            save_trained(out_dir, best_state, config)
            report_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(report_dir / "history.csv", _history_csv(history))
            from depthpipe.viz import plot_history

            plot_history(history, report_dir / "loss.png", title=f"{variant}")
            summary = {"best_epoch": best["epoch"], "best_val_abs_rel": best["metric"], "images_per_s": images_per_s,
                       **{f"final_{k}": v for k, v in history[-1].items() if k != "epoch"}}
            if run is not None:
                run.log_metrics({"best_epoch": best["epoch"], "best_val_abs_rel": best["metric"],
                                 "images_per_s": images_per_s})
                run.log_artifact(out_dir / "config.json")
                run.log_artifact(report_dir / "history.csv")
                run.log_artifact(report_dir / "loss.png")
    dd.barrier(info)
    dd.shutdown(info)
    return summary
