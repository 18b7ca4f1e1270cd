"""The model variants: their builders (the registry) and the output convention every depth network follows.

Convention (what training, evaluation and export rely on):

- input: float32 RGB in [0, 1], shape (N,3,H,W); each model normalises internally (ImageNet mean/std as
  buffers, its first op), so exported graphs contain the normalisation;
- output: a dict with ``"depth"`` (N,1,H//2,W//2) in *reciprocal target space*
  ``target = max_depth / clip(depth_m, min_depth, max_depth)``, which lies in [1, max_depth/min_depth]
  (see :func:`to_target` / :func:`to_metres`); the semantic booster adds ``"semantic"``
  (N,num_classes,H//2,W//2) logits, channel k being the 40-class id k+1 (prepared labels: 0 = void, 1..40).

Adding a variant means a network module in ``networks/`` (with its builder, whose typed keywords are the
``models.<variant>`` section), a loss module in ``losses/`` and one :data:`REGISTRY` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel
from torch import Tensor, nn

from depthpipe.config import VARIANTS
from depthpipe.errors import DepthpipeError
from depthpipe.models.losses.densedepth import DenseDepthLoss
from depthpipe.models.losses.semantic_booster import SemanticBoosterLoss
from depthpipe.models.networks.densedepth import densedepth
from depthpipe.models.networks.semantic_booster import semantic_booster


@dataclass(frozen=True)
class Variant:
    """One registry entry: the network builder (keywords = ``models.<name>``) and its loss module
    (keywords = ``train.<name>.loss`` plus the depth range of the prepared data)."""

    build: Callable[..., nn.Module]
    loss: Callable[..., nn.Module]


REGISTRY: dict[str, Variant] = {
    "densedepth": Variant(densedepth, DenseDepthLoss),
    "semantic_booster": Variant(semantic_booster, SemanticBoosterLoss),
}
assert tuple(REGISTRY) == VARIANTS, "config.VARIANTS and the registry must list the same variants"

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)


def _entry(name: str) -> Variant:
    if name not in REGISTRY:
        raise DepthpipeError(f"unknown model variant {name!r} (one of {', '.join(REGISTRY)})")
    return REGISTRY[name]


def _keywords(cfg: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return cfg.model_dump() if isinstance(cfg, BaseModel) else dict(cfg)


def build_model(name: str, cfg: BaseModel | dict[str, Any]) -> nn.Module:
    """The network ``name`` built from its ``models.<name>`` section (a typed section or its keywords)."""
    return _entry(name).build(**_keywords(cfg))


def build_loss(name: str, weights: BaseModel | dict[str, Any], *, min_depth: float, max_depth: float) -> nn.Module:
    """The loss module of ``name`` from ``train.<name>.loss`` and the depth range of the prepared data."""
    return _entry(name).loss(**_keywords(weights), min_depth=min_depth, max_depth=max_depth)


def to_metres(pred: ArrayT, max_depth: float, min_depth: float) -> ArrayT:
    """Reciprocal target -> metres: ``max_depth / clip(pred, 1, max_depth / min_depth)``.

    ``pred`` any shape, torch or numpy; the result lies in [min_depth, max_depth].
    """
    hi = max_depth / min_depth
    if isinstance(pred, np.ndarray):
        return max_depth / np.clip(pred, 1.0, hi)
    return max_depth / pred.clamp(1.0, hi)


def to_target(depth_m: ArrayT, max_depth: float, min_depth: float) -> ArrayT:
    """Metres -> reciprocal target: ``max_depth / clip(depth_m, min_depth, max_depth)``, in [1, max/min].

    ``depth_m`` any shape, torch or numpy. Invalid depths (0, NaN) must be masked by the caller: 0 maps to
    ``max_depth / min_depth``; NaN stays NaN.
    """
    if isinstance(depth_m, np.ndarray):
        return max_depth / np.clip(depth_m, min_depth, max_depth)
    return max_depth / depth_m.clamp(min_depth, max_depth)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (buffers excluded); ``trainable_only`` counts requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "REGISTRY",
    "build_loss",
    "build_model",
    "count_parameters",
    "to_metres",
    "to_target",
]
