"""Optimiser and learning-rate schedule of a training run, from the ``train.<variant>`` settings."""

from __future__ import annotations

import math

import torch
from torch import nn


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``adam`` or ``adamw`` over every parameter of ``model``."""
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=lr, weight_decay=weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, kind: str, epochs: int, steps_per_epoch: int, step_size: int,
                  gamma: float) -> torch.optim.lr_scheduler.LambdaLR:
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
