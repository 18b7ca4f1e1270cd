"""Model registry and the output convention every depth network follows.

Convention (what training, evaluation and export rely on):

- input: float32 RGB in [0, 1], shape (N,3,H,W); each model normalises internally (ImageNet mean/std as
  buffers, its first op), so exported graphs contain the normalisation;
- output: a dict with ``"depth"`` (N,1,H//2,W//2) in *reciprocal target space*
  ``target = max_depth / clip(depth_m, min_depth, max_depth)``, which lies in [1, max_depth/min_depth]
  (see :func:`to_target` / :func:`to_metres`); the semantic booster adds ``"semantic"``
  (N,num_classes,H//2,W//2) logits, channel k being the 40-class id k+1 (prepared labels: 0 = void, 1..40).

``build_model(name, params)`` takes ``name`` from :data:`MODEL_NAMES` and ``params``, the params.yaml section
``models.<name>``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

import numpy as np
from torch import Tensor, nn

from depthpipe.errors import DepthpipeError
from depthpipe.models import densedepth, semantic_booster

MODEL_NAMES: tuple[str, ...] = ("densedepth", "semantic_booster")
_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "densedepth": densedepth.build,
    "semantic_booster": semantic_booster.build,
}

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)


def build_model(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The network ``name`` (one of :data:`MODEL_NAMES`) built from params.yaml ``models.<name>``.

    Raises DepthpipeError naming the key for an unknown name, an unknown key or a bad value.
    """
    if name not in _BUILDERS:
        raise DepthpipeError(f"params.yaml: model must be one of {', '.join(MODEL_NAMES)} (got {name!r})")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise DepthpipeError(f"params.yaml: models.{name} must be a mapping (got {type(params).__name__})")
    return _BUILDERS[name](params)


def to_metres(pred: ArrayT, max_depth: float = 10.0, min_depth: float = 0.1) -> ArrayT:
    """Reciprocal target -> metres: ``max_depth / clip(pred, 1, max_depth / min_depth)``.

    ``pred`` any shape, torch or numpy; the result lies in [min_depth, max_depth].
    """
    hi = max_depth / min_depth
    if isinstance(pred, np.ndarray):
        return max_depth / np.clip(pred, 1.0, hi)
    return max_depth / pred.clamp(1.0, hi)


def to_target(depth_m: ArrayT, max_depth: float = 10.0, min_depth: float = 0.1) -> ArrayT:
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
    "MODEL_NAMES",
    "build_model",
    "count_parameters",
    "to_metres",
    "to_target",
]
