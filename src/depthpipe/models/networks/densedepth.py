"""DenseDepth (Alhashim & Wonka 2018, "High Quality Monocular Depth Estimation via Transfer Learning"): the
network and its builder (its loss: :mod:`depthpipe.models.losses.densedepth`).

Encoder: torchvision ``densenet169(...).features``, run child by child; the decoder's skips are
``relu0`` (64 ch, 1/2), ``pool0`` (64 ch, 1/4), ``transition1`` (128 ch, 1/8) and ``transition2``
(256 ch, 1/16); the bottleneck is ``norm5`` + ReLU (1664 ch, 1/32).

Decoder: a 1x1 conv to ``F = int(1664 * decoder_width)`` channels, then four :class:`UpBlock` s to
F/2, F/4, F/8, F/16 channels at 1/16, 1/8, 1/4, 1/2 of the input, and a 3x3 conv to one channel. With
``decoder_width=1.0`` (1664 -> 832 -> 416 -> 208 -> 104) the model has 42.6 M parameters, the paper's size.

``forward(x (N,3,H,W) RGB in [0,1]) -> {"depth": (N,1,H//2,W//2)}`` in reciprocal target space
(``max_depth / depth_m``); the head is linear, as in the paper. For H, W not multiples of 32 the 1/2-resolution
map is resized bilinearly to exactly (H//2, W//2).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import DenseNet169_Weights, densenet169

from depthpipe.models.layers import Normalize, UpBlock, resize_to
from depthpipe.models.pretrained import build_encoder

KEY = "models.densedepth"
BOTTLENECK_CHANNELS = 1664
SKIP_LAYERS: tuple[str, ...] = ("relu0", "pool0", "transition1", "transition2")
SKIP_CHANNELS: tuple[int, ...] = (64, 64, 128, 256)


class DenseDepth(nn.Module):
    """DenseNet-169 encoder + bilinear/concat decoder; see the module docstring."""

    def __init__(self, decoder_width: float, encoder_weights: str) -> None:
        super().__init__()
        self.normalize = Normalize()
        densenet: Any = build_encoder(
            densenet169, DenseNet169_Weights.IMAGENET1K_V1, encoder_weights, f"{KEY}.encoder_weights"
        )
        self.encoder: nn.Module = densenet.features
        width = int(BOTTLENECK_CHANNELS * decoder_width)
        self.conv2 = nn.Conv2d(BOTTLENECK_CHANNELS, width, kernel_size=1)
        # Deepest skip first: transition2 (1/16) ... relu0 (1/2).
        chans = [width, width // 2, width // 4, width // 8, width // 16]
        self.up = nn.ModuleList(UpBlock(chans[i], skip, chans[i + 1]) for i, skip in enumerate(reversed(SKIP_CHANNELS)))
        self.conv3 = nn.Conv2d(chans[-1], 1, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out_hw = (x.shape[-2] // 2, x.shape[-1] // 2)
        h = self.normalize(x)
        skips: dict[str, Tensor] = {}
        for name, layer in self.encoder.named_children():
            h = layer(h)
            if name in SKIP_LAYERS:
                skips[name] = h
        h = self.conv2(F.relu(h))
        for block, name in zip(self.up, reversed(SKIP_LAYERS)):
            h = block(h, skips[name])
        return {"depth": resize_to(self.conv3(h), out_hw)}


def densedepth(*, decoder_width: float, encoder_weights: str) -> DenseDepth:
    """A :class:`DenseDepth` (the typed keywords are params.yaml ``models.densedepth``)."""
    return DenseDepth(decoder_width=decoder_width, encoder_weights=encoder_weights)
