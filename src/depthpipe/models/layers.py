"""Building blocks shared by the depth networks (the ``layers`` half of monodepth2's networks/layers split).

Nothing here knows about a particular variant:

- :class:`Normalize`: ImageNet mean/std as registered buffers, the first op of every model, so exported graphs
  take RGB in [0, 1] and carry their own normalisation;
- :class:`UpBlock`: DenseDepth's decoder block (bilinear up to the skip's size, concat, two 3x3 conv +
  LeakyReLU(0.2));
- :class:`UpConv`: an up-convolution stage (``ConvTranspose2d`` + BN + ReLU);
- :class:`LateralSharingUnit`: the per-channel learnable mixing of a depth and a semantic feature map;
- :func:`resize_to`: bilinear resize that is a no-op when the size already matches;
- :func:`build_encoder`: a torchvision classification model with ``encoder_weights`` (``none | imagenet |
  <path>``) applied, never touching the network.

Forward code here never moves tensors to a device or dtype of its own choosing: buffers and parameters are cast
to the activation's dtype where they meet it, so channels_last inputs and bf16 autocast work unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depthpipe.errors import DepthpipeError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Torchvision's DenseNet checkpoints use the legacy key names ``denselayer1.norm.1.weight``; the modules are
# now ``denselayer1.norm1``. Same rewrite as torchvision.models.densenet._load_state_dict.
_DENSENET_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
# Classification-head keys that an encoder does not need (absent or present, both fine).
_HEAD_PREFIXES: tuple[str, ...] = ("fc.", "classifier.")


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel with ImageNet statistics held as buffers.

    Input (N,3,H,W) RGB in [0, 1], any dtype / memory format; output the same shape, dtype and device.
    """

    def __init__(
        self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(dtype=x.dtype)) / self.std.to(dtype=x.dtype)


def resize_to(x: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
    """Bilinear resize of (N,C,h,w) to (N,C,*size); returns ``x`` itself when it already has that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


class UpBlock(nn.Module):
    """DenseDepth decoder block: up to the skip's size, concat, conv3x3, LeakyReLU(0.2), conv3x3, LeakyReLU(0.2).

    ``forward(x (N,in_ch,h,w), skip (N,skip_ch,H,W)) -> (N,out_ch,H,W)``. Upsampling is bilinear with
    ``align_corners=True`` as in the authors' PyTorch port.
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, align_corners: bool = True) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.conv_a = nn.Conv2d(in_ch + skip_ch, out_ch, kernel_size=3, padding=1)
        self.conv_b = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = resize_to(x, (skip.shape[-2], skip.shape[-1]), align_corners=self.align_corners)
        x = self.act(self.conv_a(torch.cat([x, skip], dim=1)))
        return self.act(self.conv_b(x))


class UpConv(nn.Module):
    """Up-convolution stage: ``ConvTranspose2d`` + BatchNorm + ReLU.

    ``upsample=True``: kernel 4, stride 2, padding 1, (N,in,h,w) -> (N,out,2h,2w).
    ``upsample=False``: kernel 3, stride 1, padding 1, a same-size refinement (N,in,h,w) -> (N,out,h,w).
    """

    def __init__(self, in_ch: int, out_ch: int, upsample: bool) -> None:
        super().__init__()
        k, s = (4, 2) if upsample else (3, 1)
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=k, stride=s, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class LateralSharingUnit(nn.Module):
    """Lateral sharing between a depth and a semantic feature map of equal shape (N,C,h,w).

    ``x_d' = a_dd * x_d + a_sd * x_s`` and ``x_s' = a_ss * x_s + a_ds * x_d``, every ``a_*`` a learnable
    per-channel vector of shape (C,) broadcast over (N,·,h,w). Self weights start at 1, cross weights at
    ``cross_init``, so at initialisation each branch is mostly itself.
    """

    def __init__(self, channels: int, cross_init: float = 0.1) -> None:
        super().__init__()
        self.a_dd = nn.Parameter(torch.ones(channels))
        self.a_ss = nn.Parameter(torch.ones(channels))
        self.a_sd = nn.Parameter(torch.full((channels,), float(cross_init)))
        self.a_ds = nn.Parameter(torch.full((channels,), float(cross_init)))

    @staticmethod
    def _w(a: Tensor, like: Tensor) -> Tensor:
        return a.to(dtype=like.dtype).view(1, -1, 1, 1)

    def forward(self, x_d: Tensor, x_s: Tensor) -> tuple[Tensor, Tensor]:
        d = self._w(self.a_dd, x_d) * x_d + self._w(self.a_sd, x_s) * x_s
        s = self._w(self.a_ss, x_s) * x_s + self._w(self.a_ds, x_d) * x_d
        return d, s


# --------------------------------------------------------------------------------------------- encoder weights


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
    needed = {
        k for k in model_state if not k.startswith(_HEAD_PREFIXES) and not k.endswith("num_batches_tracked")
    }
    missing = sorted(needed - set(renamed))
    unexpected = sorted(k for k in renamed if k not in model_state and not k.startswith(_HEAD_PREFIXES))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise DepthpipeError(
            f"params.yaml: {key}: {source} does not fit {type(model).__name__}: {', '.join(parts)}"
        )
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
