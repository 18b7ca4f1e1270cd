"""Helpers for tests that need a model with sensible (not saturated) outputs but no training."""

from __future__ import annotations

import torch
from torch import nn


def calibrate(model: nn.Module, head: nn.Conv2d, x: torch.Tensor, mean: float, std: float) -> None:
    """Make seeded random weights behave like trained ones on ``x``.

    BatchNorm running stats are set from ``x`` (without it activations decay into denormals through the deep
    encoder, which makes eager CPU convolutions 5-20x slower), then the last (linear) conv is rescaled so its
    output has the given mean/std (instead of saturating at the depth clamp).
    """
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the calibration batch
    with torch.no_grad():
        model.train()(x)
    seen: dict[str, torch.Tensor] = {}
    hook = head.register_forward_hook(lambda m, i, o: seen.setdefault("o", o.detach()))
    with torch.no_grad():
        model.eval()(x)
    hook.remove()
    mu, sd = seen["o"].mean(), seen["o"].std()
    with torch.no_grad():
        head.weight.mul_(std / sd)
        head.bias.copy_((head.bias - mu) * (std / sd) + mean)
