"""DenseDepth (Alhashim & Wonka 2018, "High Quality Monocular Depth Estimation via Transfer Learning"): the
network, its loss and its builder.

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

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import DenseNet169_Weights, densenet169

from depthpipe.losses import check_shapes, joint_gradient_loss, masked_l1, ssim, working_precision
from depthpipe.models.layers import Normalize, UpBlock, build_encoder, resize_to

KEY = "models.densedepth"
BOTTLENECK_CHANNELS = 1664
SKIP_LAYERS: tuple[str, ...] = ("relu0", "pool0", "transition1", "transition2")
SKIP_CHANNELS: tuple[int, ...] = (64, 64, 128, 256)


class DenseDepth(nn.Module):
    """DenseNet-169 encoder + bilinear/concat decoder; see the module docstring."""

    def __init__(self, decoder_width: float, encoder_weights: str) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.encoder = build_encoder(
            densenet169, DenseNet169_Weights.IMAGENET1K_V1, encoder_weights, f"{KEY}.encoder_weights"
        ).features
        width = int(BOTTLENECK_CHANNELS * decoder_width)
        self.conv2 = nn.Conv2d(BOTTLENECK_CHANNELS, width, kernel_size=1)
        # Deepest skip first: transition2 (1/16) ... relu0 (1/2).
        chans = [width, width // 2, width // 4, width // 8, width // 16]
        self.up = nn.ModuleList(
            UpBlock(chans[i], skip, chans[i + 1]) for i, skip in enumerate(reversed(SKIP_CHANNELS))
        )
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


class DenseDepthLoss(nn.Module):
    """DenseDepth's loss on reciprocal targets: ``w_ssim * L_ssim + w_grad * L_grad + w_l1 * L_l1``.

    ``L_ssim = clip((1 - SSIM)/2, 0, 1)`` with SSIM averaged over valid pixels and data range ``ssim_range``
    (DenseDepth's code uses ``maxDepth / minDepth`` = 100 on these targets; smaller ranges make the SSIM
    constants smaller and the term steeper); invalid pixels of the prediction are replaced by the target there,
    so they get zero gradient and read as a perfect local match. ``L_grad``: :func:`joint_gradient_loss`;
    ``L_l1``: :func:`masked_l1`.

    ``forward(out, batch) -> (total, parts)``: ``out["depth"]`` (N,1,h,w), ``batch["target"]`` (N,1,h,w),
    ``batch["mask"]`` (N,1,h,w) bool; ``parts`` are the unweighted terms ``ssim``, ``grad``, ``l1``, detached.
    """

    def __init__(self, *, w_ssim: float, w_grad: float, w_l1: float, ssim_range: float, min_depth: float,
                 max_depth: float) -> None:
        super().__init__()
        self.weights = {"ssim": w_ssim, "grad": w_grad, "l1": w_l1}
        self.ssim_range, self.min_depth, self.max_depth = ssim_range, min_depth, max_depth

    def parts(self, pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """The three unweighted terms, attached to the graph."""
        check_shapes(pred, target, mask)
        pred, target = working_precision(pred), working_precision(target)
        mask = mask.to(torch.bool)
        # Invalid targets (NaN, 0...) become a finite in-range value before they enter any window.
        safe_target = torch.where(mask & torch.isfinite(target), target, torch.ones_like(target))
        safe_target = safe_target.clamp(1.0, self.max_depth / self.min_depth)
        filled = torch.where(mask, pred, safe_target)
        s = ssim(filled, safe_target, data_range=self.ssim_range, mask=mask)
        return {"ssim": ((1.0 - s) * 0.5).clamp(0.0, 1.0), "grad": joint_gradient_loss(pred, target, mask),
                "l1": masked_l1(pred, target, mask)}

    def forward(self, out: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        parts = self.parts(out["depth"], batch["target"], batch["mask"])
        total = sum(self.weights[k] * v for k, v in parts.items())
        return total, {k: v.detach() for k, v in parts.items()}


def densedepth(*, decoder_width: float, encoder_weights: str) -> DenseDepth:
    """A :class:`DenseDepth` (the typed keywords are params.yaml ``models.densedepth``)."""
    return DenseDepth(decoder_width=decoder_width, encoder_weights=encoder_weights)
