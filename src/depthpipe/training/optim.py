"""Optimiser, learning rate (scaled to the effective batch) and schedule of a training run, from ``train.<variant>``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

FUSED_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class BatchScaling:
    """The batch one optimiser step averages over (every process's) and the learning rate it is given."""

    batch_size: int
    lr: float
    world_size: int

    def record(self) -> dict[str, float]:
        """The three as ``config.json`` and the MLflow run record them."""
        return {"effective_batch_size": self.batch_size, "effective_lr": self.lr, "world_size": self.world_size}


def scale_batch(
    lr: float, rule: Literal["none", "linear"], batch_size: int, base_batch_size: int, world_size: int
) -> BatchScaling:
    """``batch_size`` per process over ``world_size`` processes, and ``lr`` under ``train.lr_scaling``: ``none``
    keeps it, ``linear`` scales it by the effective batch over ``base_batch_size``."""
    batch = batch_size * world_size
    return BatchScaling(batch, lr * batch / base_batch_size if rule == "linear" else lr, world_size)


def make_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, amsgrad: bool = False
) -> torch.optim.Optimizer:
    """``adam`` or ``adamw`` over every parameter of ``model`` (the AMSGrad variant with ``amsgrad``: steps scaled
    by the running maximum of the second-moment estimate, as DenseDepth's Keras ``Adam(amsgrad=True)``), fused
    where every parameter allows it.

    The fused kernel updates all tensors in one pass: on a 2-core CPU an AdamW step over DenseNet-169's 526
    tensors takes about 13 ms against 45 ms for the default multi-tensor one (``benchmarks/train_throughput.py``
    times whole steps).
    """
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    params = list(model.parameters())
    fused = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return cls(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, fused=fused or None)


def make_schedule(
    optimizer: torch.optim.Optimizer, kind: str, epochs: int, steps_per_epoch: int, step_size: int, gamma: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule: ``none`` (constant), ``cosine`` (to 0 over all steps) or ``step`` (x ``gamma``
    every ``step_size`` epochs)."""
    total = max(1, epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if kind == "step":
            return gamma ** ((step // max(1, steps_per_epoch)) // step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
