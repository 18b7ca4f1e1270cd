"""Semantic booster (after Jiao et al., ECCV 2018, "Look Deeper into Depth: Monocular Depth Estimation with
Semantic Booster and Attention-Driven Loss"): the network and its builder (its loss:
:mod:`depthpipe.models.losses.semantic_booster`).

Two branches of identical architecture, one for depth and one for 40-class semantics, each:

1. a torchvision ResNet (``resnet18 | resnet34 | resnet50``) up to ``layer4``: (N, C4, H/32, W/32) with
   C4 = 512 (18/34) or 2048 (50);
2. bring-up: 1x1 conv C4 -> 512 + BN + ReLU, then bilinear x4 to (H//8, W//8);
3. four up-conv stages (``ConvTranspose2d`` + BN + ReLU) that alternate a same-size refinement
   (kernel 3, stride 1) with a x2 upsampling (kernel 4, stride 2); the channels below are
   ``decoder_width=1.0`` (the paper's), every decoder width (bring-up, up-convs, skips, head) scales with it:

   ====  ======================  ==========  ==========
   stage  ConvTranspose2d        resolution  channels
   ====  ======================  ==========  ==========
   up1    k3 s1 p1 (refine)      1/8         512 -> 256   -> LSU 1
   up2    k4 s2 p1 (x2)          1/4         256 -> 128   -> LSU 2
   up3    k3 s1 p1 (refine)      1/4         128 -> 64
   up4    k4 s2 p1 (x2)          1/2         64  -> 32
   ====  ======================  ==========  ==========

   so "brought up to 1/8, then four up-convs reaching half the input" holds with two x2 steps, and both
   lateral sharing units see equal-shaped depth/semantic maps;
4. semi-dense up-skips: the bring-up output and each up-conv output are projected by a 1x1 conv to 64
   channels, resized bilinearly to the output resolution (H//2, W//2) and summed (a 1x1 conv commutes with
   bilinear resizing, so projecting first is the same map at a fraction of the cost), then BN + ReLU;
5. head: conv3x3 64 -> 64 + BN + ReLU, conv3x3 -> 1 (depth) or ``num_classes`` (semantic logits).

Lateral sharing units (:class:`~depthpipe.models.layers.LateralSharingUnit`) mix the two branches after up1
and up2; with ``lsu: false`` there are none and the branches are fully independent (the ablation).

The depth head is ``1 + softplus(z)``: reciprocal target space (``max_depth / depth_m`` >= 1) is then always
reached with a non-zero gradient, which the depth-aware loss (computed in metres through a clamp at 1) needs;
at initialisation it predicts about 1.7 (~6 m).

``forward(x (N,3,H,W) RGB in [0,1]) -> {"depth": (N,1,H//2,W//2), "semantic": (N,num_classes,H//2,W//2)}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import (
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    resnet18,
    resnet34,
    resnet50,
)

from depthpipe.models.layers import LateralSharingUnit, Normalize, UpConv, resize_to
from depthpipe.models.pretrained import build_encoder

KEY = "models.semantic_booster"
BACKBONES: dict[str, tuple[Callable[..., nn.Module], Any, int]] = {
    "resnet18": (resnet18, ResNet18_Weights.IMAGENET1K_V1, 512),
    "resnet34": (resnet34, ResNet34_Weights.IMAGENET1K_V1, 512),
    "resnet50": (resnet50, ResNet50_Weights.IMAGENET1K_V1, 2048),
}
BRING_UP_CHANNELS = 512
UPCONV_CHANNELS: tuple[int, ...] = (256, 128, 64, 32)
UPCONV_UPSAMPLES: tuple[bool, ...] = (False, True, False, True)
SKIP_CHANNELS = 64
LSU_AFTER: tuple[int, ...] = (0, 1)  # after up-conv 1 and up-conv 2
LSU_CROSS_INIT = 0.1


def decoder_channels(decoder_width: float) -> tuple[tuple[int, ...], int]:
    """(bring-up + four up-conv output channels, skip/head channels) of one branch at ``decoder_width``."""
    chans = tuple(max(1, int(c * decoder_width)) for c in (BRING_UP_CHANNELS, *UPCONV_CHANNELS))
    return chans, max(1, int(SKIP_CHANNELS * decoder_width))


class Branch(nn.Module):
    """One branch: ResNet encoder, bring-up, four up-convs, up-skip fusion and a head with ``out_ch`` channels.

    The stages are exposed separately (:meth:`encode`, :attr:`upconvs`, :meth:`fuse`) so that the booster can
    interleave lateral sharing units between the two branches.
    """

    def __init__(self, backbone: str, encoder_weights: str, out_ch: int, decoder_width: float) -> None:
        super().__init__()
        factory, imagenet, c4 = BACKBONES[backbone]
        net: Any = build_encoder(factory, imagenet, encoder_weights, f"{KEY}.encoder_weights")
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        chans, skip = decoder_channels(decoder_width)
        self.bring_up = nn.Sequential(
            nn.Conv2d(c4, chans[0], kernel_size=1, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        )
        self.upconvs = nn.ModuleList(UpConv(chans[i], chans[i + 1], up) for i, up in enumerate(UPCONV_UPSAMPLES))
        self.skips = nn.ModuleList(nn.Conv2d(c, skip, kernel_size=1) for c in chans)
        self.fuse_act = nn.Sequential(nn.BatchNorm2d(skip), nn.ReLU(inplace=True))
        self.head = nn.Sequential(
            nn.Conv2d(skip, skip, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(skip),
            nn.ReLU(inplace=True),
            nn.Conv2d(skip, out_ch, kernel_size=3, padding=1),
        )

    def encode(self, x: Tensor) -> Tensor:
        """Normalised (N,3,H,W) -> bring-up output (N,512*decoder_width,H//8,W//8)."""
        h = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        h = self.bring_up(h)
        return resize_to(h, (max(1, x.shape[-2] // 8), max(1, x.shape[-1] // 8)))

    def fuse(self, feats: list[Tensor], out_hw: tuple[int, int]) -> Tensor:
        """Semi-dense up-skip: sum of the projected, resized ``feats`` (bring-up + 4 up-convs), then the head."""
        total = resize_to(self.skips[0](feats[0]), out_hw)
        for proj, f in zip(self.skips[1:], feats[1:]):
            total = total + resize_to(proj(f), out_hw)
        return self.head(self.fuse_act(total))


class SemanticBooster(nn.Module):
    """Depth + semantic branches with optional lateral sharing units; see the module docstring."""

    def __init__(self, backbone: str, encoder_weights: str, lsu: bool, num_classes: int, decoder_width: float) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.depth_branch = Branch(backbone, encoder_weights, 1, decoder_width)
        self.semantic_branch = Branch(backbone, encoder_weights, num_classes, decoder_width)
        chans, _ = decoder_channels(decoder_width)
        self.lsus = nn.ModuleList(LateralSharingUnit(chans[i + 1], LSU_CROSS_INIT) for i in LSU_AFTER) if lsu else None

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out_hw = (x.shape[-2] // 2, x.shape[-1] // 2)
        x = self.normalize(x)
        d = self.depth_branch.encode(x)
        s = self.semantic_branch.encode(x)
        feats_d, feats_s = [d], [s]
        for i, (up_d, up_s) in enumerate(zip(self.depth_branch.upconvs, self.semantic_branch.upconvs)):
            d, s = up_d(d), up_s(s)
            if self.lsus is not None and i in LSU_AFTER:
                d, s = self.lsus[LSU_AFTER.index(i)](d, s)
            feats_d.append(d)
            feats_s.append(s)
        depth = 1.0 + F.softplus(self.depth_branch.fuse(feats_d, out_hw))
        semantic = self.semantic_branch.fuse(feats_s, out_hw)
        return {"depth": depth, "semantic": semantic}


def semantic_booster(
    *, backbone: str, encoder_weights: str, lsu: bool, num_classes: int, decoder_width: float
) -> SemanticBooster:
    """A :class:`SemanticBooster` (the typed keywords are params.yaml ``models.semantic_booster``)."""
    return SemanticBooster(
        backbone=backbone,
        encoder_weights=encoder_weights,
        lsu=lsu,
        num_classes=num_classes,
        decoder_width=decoder_width,
    )
