"""Loss terms shared by the depth networks: pure functions of tensors, masked by validity.

Shapes: ``pred`` / ``target`` (N,1,h,w) float in reciprocal target space (``max_depth / depth_m``, see
:func:`depthpipe.models.to_target`), ``mask`` (N,1,h,w) bool (True = valid ground truth), ``labels`` (N,h,w)
int64 with 0 = void and classes 1..C (logit channel = id - 1).

Every masked loss is a sum over valid pixels divided by ``max(count, 1)``, computed on inputs whose invalid
pixels have been replaced (``torch.where``) by finite values, so:

- an all-masked batch gives exactly 0 (finite, still attached to the graph);
- invalid pixels receive exactly zero gradient, whatever garbage (0, inf, NaN) the target holds there.

Losses run in at least float32 (bf16 network outputs are upcast here, not in the model).

Each variant combines these terms in its own loss module, beside its network:
:class:`depthpipe.models.losses.densedepth.DenseDepthLoss` and
:class:`depthpipe.models.losses.semantic_booster.SemanticBoosterLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from depthpipe.errors import DepthpipeError


def working_precision(x: Tensor) -> Tensor:
    """``x`` in at least float32 (float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """``sum(values[mask]) / max(count, 1)``; ``values`` must be finite (0 for an empty mask)."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def check_shapes(pred: Tensor, target: Tensor, mask: Tensor) -> None:
    """Raise unless ``pred``, ``target`` and ``mask`` share one shape."""
    if pred.shape != target.shape or pred.shape != mask.shape:
        raise DepthpipeError(
            f"loss: pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} "
            "must have the same shape (N,1,h,w)"
        )


# ------------------------------------------------------------------------------------------------------ SSIM


def _gaussian_kernel(window: int, sigma: float, like: Tensor) -> Tensor:
    """Normalised 1-D Gaussian of ``window`` taps (centre at ``window // 2``), on ``like``'s device/dtype."""
    x = torch.arange(window, device=like.device, dtype=like.dtype) - (window - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, window: int, sigma: float) -> Tensor:
    """Separable Gaussian filter of (N,C,H,W), reflect-padded so the output keeps (H,W)."""
    c = x.shape[1]
    pad = window // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    x = F.pad(x, (pad, pad, pad, pad), mode=mode)
    g = _gaussian_kernel(window, sigma, x)
    x = F.conv2d(x, g.view(1, 1, 1, window).expand(c, 1, 1, window), groups=c)
    return F.conv2d(x, g.view(1, 1, window, 1).expand(c, 1, window, 1), groups=c)


def ssim(
    a: Tensor,
    b: Tensor,
    data_range: float,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    mask: Tensor | None = None,
    crop_border: bool = False,
    return_map: bool = False,
) -> Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, population (co)variances.

    ``SSIM = (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))`` with
    ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``, ``L = data_range``; local statistics from an ``window``-tap Gaussian
    of std ``sigma`` (11 / 1.5: the same window as skimage's ``gaussian_weights=True, sigma=1.5``).

    a, b: (N,C,H,W). The map is computed at full size with reflect padding. Returns the mean of the map as a
    0-d tensor, or with ``return_map`` the (N,C,H,W) map. ``crop_border`` averages only the interior
    ``[r:-r, r:-r]`` with ``r = (window - 1) // 2``, which is exactly what skimage's
    ``structural_similarity`` reports. ``mask`` (N,C,H,W) bool averages only over True pixels (an empty mask
    gives 1, "no evidence of dissimilarity").
    """
    if a.shape != b.shape or a.dim() != 4:
        raise DepthpipeError(f"ssim: a {tuple(a.shape)} and b {tuple(b.shape)} must both be (N,C,H,W)")
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    n_ch = a.shape[1]
    stats = _blur(torch.cat([a, b, a * a, b * b, a * b], dim=1), window, sigma)
    mu_a, mu_b, e_aa, e_bb, e_ab = torch.split(stats, n_ch, dim=1)
    var_a = e_aa - mu_a * mu_a
    var_b = e_bb - mu_b * mu_b
    cov = e_ab - mu_a * mu_b
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    if return_map:
        return smap
    weight = torch.ones_like(smap, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if crop_border:
        r = (window - 1) // 2
        weight = weight.clone()
        weight[..., :r, :] = False
        weight[..., -r:, :] = False
        weight[..., :, :r] = False
        weight[..., :, -r:] = False
    w = weight.to(smap.dtype)
    count = w.sum()
    return torch.where(count > 0, (smap * w).sum() / count.clamp_min(1.0), torch.ones_like(count))


# --------------------------------------------------------------------------------------- shared depth terms


def joint_gradient_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Gradient-matching loss ``mean_x |dx(d) - dx(d*)| + mean_y |dy(d) - dy(d*)|``.

    ``dx`` / ``dy`` are forward differences along width / height; each mean runs over the pixel pairs whose
    two pixels are both valid (0 when there are none). Equals ``mean |grad(pred - target)|`` of DenseDepth.
    pred, target (N,1,h,w) float, mask (N,1,h,w) bool -> 0-d tensor.
    """
    check_shapes(pred, target, mask)
    pred, target = working_precision(pred), working_precision(target)
    mask = mask.to(torch.bool)
    zero = torch.zeros_like(pred)
    diff = torch.where(mask, pred, zero) - torch.where(mask, target, zero)
    pair_x = mask[..., :, 1:] & mask[..., :, :-1]
    pair_y = mask[..., 1:, :] & mask[..., :-1, :]
    gx = (diff[..., :, 1:] - diff[..., :, :-1]).abs()
    gy = (diff[..., 1:, :] - diff[..., :-1, :]).abs()
    return masked_mean(gx, pair_x) + masked_mean(gy, pair_y)


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """``mean over valid |pred - target|`` (0 when nothing is valid). Shapes (N,1,h,w)."""
    check_shapes(pred, target, mask)
    pred, target = working_precision(pred), working_precision(target)
    mask = mask.to(torch.bool)
    zero = torch.zeros_like(pred)
    diff = torch.where(mask, pred, zero) - torch.where(mask, target, zero)
    return masked_mean(diff.abs(), mask)


# ------------------------------------------------------------------------------- depth-aware and focal terms


def safe_metres(x: Tensor, mask: Tensor, max_depth: float, min_depth: float) -> Tensor:
    """Reciprocal target -> metres in [min_depth, max_depth]; invalid pixels read as 1 m (finite, no grad)."""
    hi = max_depth / min_depth
    safe = torch.where(mask & torch.isfinite(x), x, torch.full_like(x, max_depth))  # max_depth / 1 m
    return max_depth / safe.clamp(1.0, hi)


def depth_aware_loss(pred: Tensor, target: Tensor, mask: Tensor, max_depth: float, min_depth: float) -> Tensor:
    """Depth-aware L1 (Jiao et al. 2018): ``mean over valid of (alpha_D + lambda_D) * |d - d*|`` in metres.

    ``d = max_depth / clip(pred, 1, max_depth/min_depth)``, ``d*`` likewise from ``target``, both in
    [min_depth, max_depth] metres;
    ``alpha_D = d* / max_depth`` (GT depth normalised to (0, 1]: far pixels weigh more);
    ``lambda_D = 1 - min(log(1+d), log(1+d*)) / max(log(1+d), log(1+d*))`` in [0, 1): the paper's ratio of
    logs, taken of ``1 + d`` so it is finite and sign-stable around d = 1 m (log d changes sign there);
    since d >= min_depth > 0 the denominator is > 0.
    The weights are detached (``alpha`` depends on GT only; ``lambda`` acts as a per-pixel weight, so the
    gradient is that of a weighted L1). Invalid pixels are replaced before any arithmetic, so they contribute
    exactly 0 and receive exactly zero gradient; no valid pixel gives 0.

    pred, target (N,1,h,w) reciprocal target space, mask (N,1,h,w) bool -> 0-d tensor.
    """
    check_shapes(pred, target, mask)
    pred, target = working_precision(pred), working_precision(target)
    mask = mask.to(torch.bool)
    d = safe_metres(pred, mask, max_depth, min_depth)
    d_gt = safe_metres(target, mask, max_depth, min_depth)
    with torch.no_grad():
        alpha = d_gt / max_depth
        la, lb = torch.log1p(d), torch.log1p(d_gt)
        lam = 1.0 - torch.minimum(la, lb) / torch.maximum(la, lb)
    return masked_mean((alpha + lam) * (d - d_gt).abs(), mask)


def focal_loss(
    logits: Tensor, labels: Tensor, alpha: float = 0.25, gamma: float = 2.0, ignore_index: int = 0
) -> Tensor:
    """Softmax focal loss (Lin et al. 2017): ``mean over non-void of -alpha (1 - p_t)^gamma log p_t``.

    logits (N,C,h,w); labels (N,h,w) int64 with ``ignore_index`` (0) = void and class ids 1..C, channel
    ``id - 1``; ``p_t`` the softmax probability of the true class. With ``gamma=0, alpha=1`` this is
    ``F.cross_entropy(logits, labels - 1, ignore_index=-1)``. No non-void pixel gives 0.
    """
    if logits.dim() != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise DepthpipeError(
            f"focal_loss: logits {tuple(logits.shape)} must be (N,C,h,w) and labels {tuple(labels.shape)} (N,h,w)"
        )
    logp = F.log_softmax(working_precision(logits), dim=1)
    valid = labels != ignore_index
    index = torch.where(valid, labels - 1, torch.zeros_like(labels)).clamp(0, logits.shape[1] - 1)
    logp_t = logp.gather(1, index.unsqueeze(1)).squeeze(1)
    if gamma == 0:
        term = -alpha * logp_t
    else:
        p_t = logp_t.exp()
        term = -alpha * (1.0 - p_t).clamp_min(0.0).pow(gamma) * logp_t
    term = torch.where(valid, term, torch.zeros_like(term))
    return masked_mean(term, valid)
