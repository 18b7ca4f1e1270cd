"""Helpers for tests that need a model with sensible (not saturated) outputs but no training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from depthpipe.export.exporter import images_to_tensor
from depthpipe.models import build_model
from depthpipe.models.trained import save_trained


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


def save_calibrated(
    path: Path,
    variant: str,
    params: dict[str, Any],
    frames: np.ndarray,
    head: Callable[[Any], nn.Conv2d],
    mean: float,
    std: float,
    data_sha256: str = "0" * 64,
) -> Path:
    """A ``variant`` with seeded weights, :func:`calibrate`-d on ``frames`` (uint8 NHWC at the input size) through
    ``head(model)``, saved as a trained model folder at ``path`` (0.1-10 m, output at half the input size)."""
    torch.manual_seed(0)
    model = build_model(variant, params)
    calibrate(model, head(model), images_to_tensor(frames[:4]), mean=mean, std=std)
    h, w = (int(v) for v in frames.shape[1:3])
    config = {
        "variant": variant,
        "model": params,
        "input_size": [h, w],
        "output_size": [h // 2, w // 2],
        "min_depth": 0.1,
        "max_depth": 10.0,
        "data_sha256": data_sha256,
    }
    save_trained(path, model.state_dict(), config)
    return path
