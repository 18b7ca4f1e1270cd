"""Building blocks shared by the depth networks (the ``layers`` half of monodepth2's networks/layers split).

Nothing here knows about a particular variant:

- :class:`Normalize`: ImageNet mean/std as registered buffers, the first op of every model, so exported graphs
  take RGB in [0, 1] and carry their own normalisation;
- :class:`UpBlock`: DenseDepth's decoder block (bilinear up to the skip's size, concat, two 3x3 conv +
  LeakyReLU(0.2));
- :class:`UpConv`: an up-convolution stage (``ConvTranspose2d`` + BN + ReLU);
- :class:`LateralSharingUnit`: the per-channel learnable mixing of a depth and a semantic feature map;
- :func:`resize_to`: bilinear resize that is a no-op when the size already matches.

Encoders and their pretrained weights: :mod:`depthpipe.models.pretrained`.

Forward code here never moves tensors to a device or dtype of its own choosing: buffers and parameters are cast
to the activation's dtype where they meet it, so channels_last inputs and bf16 autocast work unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel with ImageNet statistics held as buffers.

    Input (N,3,H,W) RGB in [0, 1], any dtype / memory format; output the same shape, dtype and device.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
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
