"""Encoders with pretrained weights: a torchvision classification network with ``encoder_weights`` applied.

``models.<variant>.encoder_weights`` is ``none`` (random init), ``imagenet`` (torchvision's ImageNet file, which
must already sit in the torch hub cache: nothing is downloaded, and the error says exactly where to put it) or a
path to a local state dict (torchvision's key layout, with or without the classification head, read with
``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from depthpipe.errors import DepthpipeError

# Torchvision's DenseNet checkpoints use the legacy key names ``denselayer1.norm.1.weight``; the modules are
# now ``denselayer1.norm1``. Same rewrite as torchvision.models.densenet._load_state_dict.
_DENSENET_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
# Classification-head keys that an encoder does not need (absent or present, both fine).
_HEAD_PREFIXES: tuple[str, ...] = ("fc.", "classifier.")


def cached_weights_path(weights: Any) -> Path:
    """Where ``torch.hub`` keeps the file of a torchvision ``WeightsEnum`` member:
    ``torch.hub.get_dir()/checkpoints/<basename of weights.url>``."""
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _load_file(path: Path, key: str) -> Mapping[str, Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise DepthpipeError(f"params.yaml: {key}: cannot read state dict {path} ({type(exc).__name__})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise DepthpipeError(f"params.yaml: {key}: {path} is not a state dict (a mapping of names to tensors)")
    return obj


def _match_keys(state: Mapping[str, Tensor], model_keys: set[str]) -> dict[str, Tensor]:
    """Rename ``state``'s keys to the model's: legacy DenseNet names, a DDP ``module.`` prefix, or keys saved
    from the encoder submodule (``features.`` missing) are all accepted; the best-matching reading wins."""
    fixed: dict[str, Tensor] = {}
    for k, v in state.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        m = _DENSENET_LEGACY_KEY.match(k)
        fixed[m.group(1) + m.group(2) if m else k] = v
    candidates = [fixed, {"features." + k: v for k, v in fixed.items()}]
    return max(candidates, key=lambda c: len(model_keys.intersection(c)))


def load_state_into(model: nn.Module, state: Mapping[str, Tensor], source: str, key: str) -> None:
    """Load ``state`` into a torchvision classification ``model``.

    Only classification-head keys and BN ``num_batches_tracked`` may be absent, only head keys extra; any other
    mismatch (missing/unexpected key, wrong shape) raises DepthpipeError naming ``source`` and ``key``.
    """
    model_state = model.state_dict()
    renamed = _match_keys(state, set(model_state))
    # Old checkpoints (torchvision's ImageNet files included) predate BN's num_batches_tracked: optional.
    needed = {k for k in model_state if not k.startswith(_HEAD_PREFIXES) and not k.endswith("num_batches_tracked")}
    missing = sorted(needed - set(renamed))
    unexpected = sorted(k for k in renamed if k not in model_state and not k.startswith(_HEAD_PREFIXES))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise DepthpipeError(f"params.yaml: {key}: {source} does not fit {type(model).__name__}: {', '.join(parts)}")
    bad = [k for k in needed if tuple(renamed[k].shape) != tuple(model_state[k].shape)]
    if bad:
        k = sorted(bad)[0]
        raise DepthpipeError(
            f"params.yaml: {key}: {source}: {k} has shape {tuple(renamed[k].shape)}, "
            f"expected {tuple(model_state[k].shape)}"
        )
    usable = {k: v for k, v in renamed.items() if k in model_state}
    model.load_state_dict(usable, strict=False)


def build_encoder(factory: Callable[..., nn.Module], imagenet: Any, spec: Any, key: str) -> nn.Module:
    """``factory(weights=None)`` (a torchvision model constructor) with the weights ``spec`` names loaded.

    ``spec``: ``"none"`` (or None) random init; ``"imagenet"`` the file of the ``imagenet`` WeightsEnum member,
    which must already sit in the torch hub cache (nothing is downloaded); any other string a local state-dict
    file (torchvision's key layout, with or without the classification head) read with
    ``torch.load(path, map_location="cpu", weights_only=True)``. ``key`` is the params key for messages, e.g.
    ``models.densedepth.encoder_weights``.
    """
    model = factory(weights=None)
    if spec is None or spec == "none":
        return model
    if spec == "imagenet":
        path = cached_weights_path(imagenet)
        if not path.is_file():
            raise DepthpipeError(
                f"params.yaml: {key}=imagenet but this machine is offline and there is no cached file {path}; "
                f"copy {path.name} (from {imagenet.url}) to exactly that path, "
                f"or set {key} to a local state-dict path (or none)"
            )
        load_state_into(model, _load_file(path, key), str(path), key)
        return model
    path = Path(str(spec)).expanduser()
    if not path.is_file():
        raise DepthpipeError(f"params.yaml: {key}: state-dict file not found: {path}")
    load_state_into(model, _load_file(path, key), str(path), key)
    return model
