"""The loss terms (depthpipe.losses) and each variant's loss module: SSIM against skimage on real NYU frames,
masking, and the loss identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthpipe.errors import DepthpipeError
from depthpipe.models import build_loss, to_target
from depthpipe.models.losses.terms import depth_aware_loss, focal_loss, joint_gradient_loss, ssim
from helpers.nyu import real_test_frames

M, MIN = 10.0, 0.1  # the depth range every test here uses (metres)
DD_WEIGHTS = {"w_ssim": 1.0, "w_grad": 1.0, "w_l1": 0.1, "ssim_range": 10.0}
BOOSTER_WEIGHTS = {"w_depth": 1.0, "w_semantic": 1.0, "w_grad": 1.0, "focal_alpha": 0.25, "focal_gamma": 2.0}


def densedepth_loss(pred, target, mask):
    return build_loss("densedepth", DD_WEIGHTS, min_depth=MIN, max_depth=M)(
        {"depth": pred}, {"target": target, "mask": mask}
    )[0]


def booster_loss(out, target, mask, labels, **weights):
    loss = build_loss("semantic_booster", {**BOOSTER_WEIGHTS, **weights}, min_depth=MIN, max_depth=M)
    return loss(out, {"target": target, "mask": mask, "label": labels})


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def real_depth() -> np.ndarray:
    return real_test_frames()["depth_m"][:2].astype(np.float32)


def _smooth(n: int = 2, h: int = 24, w: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    depth = 2.0 + 1.5 * torch.sin(4 * xx + 3 * yy)[None, None].repeat(n, 1, 1, 1)
    pred = depth * (1 + 0.2 * torch.rand(depth.shape, generator=g))
    return to_target(pred, M, MIN), to_target(depth, M, MIN)


def test_ssim_matches_skimage_on_real_frames(real_depth: np.ndarray) -> None:
    from skimage.metrics import structural_similarity

    depth = torch.from_numpy(real_depth)[:, None]
    small = F.interpolate(depth, size=(240, 320), mode="bilinear", align_corners=False)
    target = to_target(small, M, MIN)  # reciprocal target, in [1, 100]
    data_range = 10.0
    pairs = [(target[0:1], target[1:2])]
    noisy = target[0:1] + 0.3 * torch.randn(target[0:1].shape, generator=torch.Generator().manual_seed(0))
    pairs.append((target[0:1], noisy))
    for a, b in pairs:
        ours = ssim(a.double(), b.double(), data_range=data_range, crop_border=True).item()
        ours32 = ssim(a, b, data_range=data_range, crop_border=True).item()
        ref = structural_similarity(
            a[0, 0].double().numpy(),
            b[0, 0].double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=data_range,
            K1=0.01,
            K2=0.03,
        )
        assert abs(ours - ref) < 1e-3, (ours, ref)
        assert abs(ours32 - ref) < 1e-3, (ours32, ref)
        assert ref < 0.999  # a real difference, not a trivial match


def test_ssim_identity_map_and_mask() -> None:
    a, _ = _smooth()
    assert ssim(a, a, data_range=100.0).item() == pytest.approx(1.0, abs=1e-6)
    smap = ssim(a, a * 1.1, data_range=100.0, return_map=True)
    assert smap.shape == a.shape
    empty = torch.zeros_like(a, dtype=torch.bool)
    assert ssim(a, a * 1.1, data_range=100.0, mask=empty).item() == 1.0


def test_gradient_loss_zero_for_identical_positive_otherwise() -> None:
    pred, target = _smooth()
    mask = torch.ones_like(pred, dtype=torch.bool)
    assert joint_gradient_loss(target, target, mask).item() == 0.0
    assert joint_gradient_loss(target + 3.0, target, mask).item() == pytest.approx(0.0, abs=1e-5)  # offset-free
    assert joint_gradient_loss(pred, target, mask).item() > 0.0


def test_gradient_loss_ignores_pairs_touching_invalid_pixels() -> None:
    target = torch.ones(1, 1, 4, 4)
    pred = target.clone()
    pred[0, 0, 1, 1] = 50.0
    mask = torch.ones_like(pred, dtype=torch.bool)
    assert joint_gradient_loss(pred, target, mask).item() > 0
    mask[0, 0, 1, 1] = False
    pred.requires_grad_(True)
    loss = joint_gradient_loss(pred, target, mask)
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad[~mask].abs().sum() == 0


def test_focal_equals_cross_entropy_with_gamma0_alpha1() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 40, 6, 7, generator=g)
    labels = torch.randint(0, 41, (2, 6, 7), generator=g)
    labels[0, 0, :] = 0
    ours = focal_loss(logits, labels, alpha=1.0, gamma=0.0)
    ref = F.cross_entropy(logits, labels - 1, ignore_index=-1)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6, abs=1e-6)
    focal = focal_loss(logits, labels)  # alpha 0.25, gamma 2 down-weights every pixel
    assert 0 < focal.item() < ref.item()
    assert focal_loss(logits, torch.zeros_like(labels)).item() == 0.0


def test_depth_aware_loss_finite_and_masked_gradient() -> None:
    target = torch.tensor([[[[1.0, 10.0, 100.0], [0.0, float("nan"), float("inf")]]]])  # 10 m, 1 m, 0.1 m, bad
    mask = torch.tensor([[[[True, True, True], [False, False, False]]]])
    pred = torch.tensor([[[[10.0, 10.001, 0.0], [0.0, 5.0, -3.0]]]], requires_grad=True)  # ~1 m, below range
    loss = depth_aware_loss(pred, target, mask, M, MIN)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[~mask] == 0).all()
    # Pred exactly equal to target at 1 m: zero contribution there.
    one_metre = torch.full((1, 1, 2, 2), 10.0)
    exact = depth_aware_loss(one_metre, one_metre.clone(), torch.ones(1, 1, 2, 2, dtype=torch.bool), M, MIN)
    assert exact.item() == 0.0


def test_depth_aware_loss_value_by_hand() -> None:
    # One valid pixel: GT 5 m (target 2), pred 2.5 m (target 4).
    pred, target = torch.tensor([[[[4.0]]]]), torch.tensor([[[[2.0]]]])
    mask = torch.ones_like(pred, dtype=torch.bool)
    alpha = 5.0 / 10.0
    lam = 1 - np.log1p(2.5) / np.log1p(5.0)
    assert depth_aware_loss(pred, target, mask, M, MIN).item() == pytest.approx((alpha + lam) * 2.5, rel=1e-6)


def test_all_masked_batch_gives_zero() -> None:
    pred, target = _smooth()
    pred.requires_grad_(True)
    none = torch.zeros_like(pred, dtype=torch.bool)
    labels = torch.zeros(pred.shape[0], *pred.shape[2:], dtype=torch.long)
    logits = torch.randn(pred.shape[0], 40, *pred.shape[2:], requires_grad=True)
    dd = densedepth_loss(pred, target, none)
    total, parts = booster_loss({"depth": pred, "semantic": logits}, target, none, labels)
    for value in (dd, total, depth_aware_loss(pred, target, none, M, MIN), joint_gradient_loss(pred, target, none)):
        assert torch.isfinite(value) and value.item() == 0.0
    assert all(v.item() == 0.0 for v in parts.values())
    (dd + total).backward()
    assert (pred.grad == 0).all()


def test_densedepth_loss_masked_pixels_get_zero_gradient() -> None:
    pred, target = _smooth()
    mask = torch.rand(pred.shape, generator=torch.Generator().manual_seed(1)) > 0.3
    target = torch.where(mask, target, torch.zeros_like(target))  # garbage where invalid
    pred.requires_grad_(True)
    loss = densedepth_loss(pred, target, mask)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert (pred.grad[~mask] == 0).all()
    assert pred.grad[mask].abs().sum() > 0


def test_densedepth_loss_zero_for_perfect_prediction() -> None:
    _, target = _smooth()
    mask = torch.ones_like(target, dtype=torch.bool)
    assert densedepth_loss(target, target, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_each_variant_builds_its_loss_module_with_its_weights() -> None:
    pred, target = _smooth()
    mask = torch.ones_like(pred, dtype=torch.bool)
    labels = torch.randint(0, 41, (pred.shape[0], *pred.shape[2:]), generator=torch.Generator().manual_seed(0))
    logits = torch.randn(pred.shape[0], 40, *pred.shape[2:])
    batch = {"target": target, "mask": mask, "label": labels}
    dd = build_loss("densedepth", DD_WEIGHTS, min_depth=MIN, max_depth=M)
    assert isinstance(dd, torch.nn.Module)
    total, p = dd({"depth": pred}, batch)
    assert set(p) == {"ssim", "grad", "l1"}
    assert total.item() == pytest.approx((p["ssim"] + p["grad"] + 0.1 * p["l1"]).item(), rel=1e-5)
    total, p = booster_loss({"depth": pred, "semantic": logits}, target, mask, labels, w_semantic=2.0)
    assert set(p) == {"depth", "grad", "semantic"}
    assert total.item() == pytest.approx((p["depth"] + p["grad"] + 2 * p["semantic"]).item(), rel=1e-5)
    with pytest.raises(TypeError, match="w_foo"):
        build_loss("semantic_booster", {**BOOSTER_WEIGHTS, "w_foo": 1.0}, min_depth=MIN, max_depth=M)
    with pytest.raises(DepthpipeError, match="unknown model variant 'unet'"):
        build_loss("unet", {}, min_depth=MIN, max_depth=M)


def test_ssim_range_steepens_the_densedepth_ssim_term() -> None:
    """A smaller SSIM data range means smaller constants C1, C2, so the same error costs more."""
    pred, target = _smooth()
    mask = torch.ones_like(pred, dtype=torch.bool)
    terms = [
        build_loss("densedepth", {**DD_WEIGHTS, "ssim_range": r}, min_depth=MIN, max_depth=M)(
            {"depth": pred}, {"target": target, "mask": mask}
        )[1]["ssim"].item()
        for r in (10.0, 100.0)
    ]
    assert terms[0] > terms[1] > 0
