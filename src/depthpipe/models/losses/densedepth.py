"""DenseDepth's loss (Alhashim & Wonka 2018) on reciprocal targets: SSIM + gradient + L1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from depthpipe.models.losses.terms import check_shapes, joint_gradient_loss, masked_l1, ssim, working_precision


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

    def __init__(
        self, *, w_ssim: float, w_grad: float, w_l1: float, ssim_range: float, min_depth: float, max_depth: float
    ) -> None:
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
        return {
            "ssim": ((1.0 - s) * 0.5).clamp(0.0, 1.0),
            "grad": joint_gradient_loss(pred, target, mask),
            "l1": masked_l1(pred, target, mask),
        }

    def forward(self, out: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        parts = self.parts(out["depth"], batch["target"], batch["mask"])
        total = cast(Tensor, sum(self.weights[k] * v for k, v in parts.items()))
        return total, {k: v.detach() for k, v in parts.items()}
