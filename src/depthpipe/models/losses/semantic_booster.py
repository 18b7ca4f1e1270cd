"""The semantic booster's loss (after Jiao et al., ECCV 2018): depth-aware + joint gradient + semantic focal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from depthpipe.models.losses.terms import (
    check_shapes,
    depth_aware_loss,
    focal_loss,
    joint_gradient_loss,
    safe_metres,
    working_precision,
)


class SemanticBoosterLoss(nn.Module):
    """The booster's loss: ``w_depth * depth_aware + w_grad * joint_gradient (metres) + w_semantic * focal``.

    ``forward(out, batch) -> (total, parts)``: ``out`` {"depth": (N,1,h,w), "semantic": (N,C,h,w)};
    ``batch`` {"target": (N,1,h,w), "mask": (N,1,h,w) bool, "label": (N,h,w) int64, 0 = void}; ``parts`` are
    the unweighted terms ``depth``, ``grad``, ``semantic``, detached.
    """

    def __init__(
        self,
        *,
        w_depth: float,
        w_semantic: float,
        w_grad: float,
        focal_alpha: float,
        focal_gamma: float,
        min_depth: float,
        max_depth: float,
    ) -> None:
        super().__init__()
        self.weights = {"depth": w_depth, "grad": w_grad, "semantic": w_semantic}
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.min_depth, self.max_depth = min_depth, max_depth

    def parts(self, out: Mapping[str, Tensor], target: Tensor, mask: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """The three unweighted terms, attached to the graph."""
        pred = out["depth"]
        check_shapes(pred, target, mask)
        mask = mask.to(torch.bool)
        lo, hi = self.min_depth, self.max_depth
        d = safe_metres(working_precision(pred), mask, hi, lo)
        d_gt = safe_metres(working_precision(target), mask, hi, lo)
        return {
            "depth": depth_aware_loss(pred, target, mask, max_depth=hi, min_depth=lo),
            "grad": joint_gradient_loss(d, d_gt, mask),
            "semantic": focal_loss(out["semantic"], labels, alpha=self.focal_alpha, gamma=self.focal_gamma),
        }

    def forward(self, out: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        parts = self.parts(out, batch["target"], batch["mask"], batch["label"])
        total = cast(Tensor, sum(self.weights[k] * v for k, v in parts.items()))
        return total, {k: v.detach() for k, v in parts.items()}
