"""Tests for depthpipe.models: registry, output convention, encoder weights, trainability, precision/layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from depthpipe.config import VARIANTS
from depthpipe.errors import DepthpipeError
from depthpipe.models import build_loss, build_model, count_parameters, to_metres, to_target
from depthpipe.models.layers import LateralSharingUnit, Normalize
from depthpipe.models.pretrained import cached_weights_path

DD = {"decoder_width": 0.5, "encoder_weights": "none"}
SB = {"backbone": "resnet18", "encoder_weights": "none", "lsu": True, "num_classes": 40, "decoder_width": 0.5}
PARAMS = {"densedepth": DD, "semantic_booster": SB}
LOSS = {
    "densedepth": {"w_ssim": 1.0, "w_grad": 1.0, "w_l1": 0.1, "ssim_range": 10.0},
    "semantic_booster": {"w_depth": 1.0, "w_semantic": 1.0, "w_grad": 1.0, "focal_alpha": 0.25, "focal_gamma": 2.0},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(n: int = 2, h: int = 64, w: int = 96, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A fixed-seed image batch and smooth half-resolution targets (reciprocal space), mask and labels."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h // 2), torch.linspace(0, 1, w // 2), indexing="ij")
    depth_m = 2.0 + 1.5 * torch.sin(3.0 * xx + 2.0 * yy)[None, None].repeat(n, 1, 1, 1)
    img = 0.5 + 0.1 * torch.rand(n, 3, h, w, generator=g)
    img = img + 0.3 * torch.nn.functional.interpolate(depth_m / 4.0, size=(h, w), mode="bilinear")
    mask = torch.ones_like(depth_m, dtype=torch.bool)
    mask[:, :, :3, :5] = False
    label = (1 + (depth_m[:, 0] > 2.0).long() * 3).clone()
    label[:, :2, :] = 0
    return img.clamp(0, 1), {"target": to_target(depth_m, 10.0, 0.1), "mask": mask, "label": label}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name, PARAMS[name]).eval() for name in VARIANTS}


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("hw", [(480, 640), (240, 320)])
def test_output_shapes(models: dict, name: str, hw: tuple[int, int]) -> None:
    with torch.no_grad():
        out = models[name](torch.rand(1, 3, *hw))
    h, w = hw[0] // 2, hw[1] // 2
    assert out["depth"].shape == (1, 1, h, w)
    assert torch.isfinite(out["depth"]).all()
    if name == "semantic_booster":
        assert set(out) == {"depth", "semantic"}
        assert out["semantic"].shape == (1, 40, h, w)
    else:
        assert set(out) == {"depth"}


@pytest.mark.parametrize("name", VARIANTS)
def test_output_shape_not_multiple_of_32(models: dict, name: str) -> None:
    with torch.no_grad():
        out = models[name](torch.rand(1, 3, 70, 101))
    assert out["depth"].shape == (1, 1, 35, 50)


def test_normalisation_is_first_op_and_buffers(models: dict) -> None:
    for model in models.values():
        assert isinstance(next(iter(model.children())), Normalize)
        buffers = dict(model.named_buffers())
        assert "normalize.mean" in buffers and "normalize.std" in buffers
        assert torch.allclose(buffers["normalize.mean"].flatten(), torch.tensor([0.485, 0.456, 0.406]))


def test_densedepth_param_counts() -> None:
    full = count_parameters(build_model("densedepth", {"decoder_width": 1.0, "encoder_weights": "none"}))
    half = count_parameters(build_model("densedepth", {"decoder_width": 0.5, "encoder_weights": "none"}))
    assert abs(full - 42.6e6) <= 0.1e6, full
    assert half < full


def test_booster_decoder_width_scales_the_decoder_only() -> None:
    full = build_model("semantic_booster", {**SB, "decoder_width": 1.0})
    half = build_model("semantic_booster", SB)
    encoder = lambda m: sum(p.numel() for n, p in m.named_parameters() if ".layer" in n or ".stem" in n)
    assert encoder(full) == encoder(half)
    assert full.depth_branch.bring_up[0].out_channels == 512 and half.depth_branch.bring_up[0].out_channels == 256
    out = half(torch.rand(1, 3, 64, 96))
    assert out["depth"].shape == (1, 1, 32, 48) and out["semantic"].shape == (1, 40, 32, 48)


def test_booster_without_lsu_has_no_lsu_params() -> None:
    with_lsu = build_model("semantic_booster", SB)
    without = build_model("semantic_booster", {**SB, "lsu": False})
    assert any(isinstance(m, LateralSharingUnit) for m in with_lsu.modules())
    assert not any(isinstance(m, LateralSharingUnit) for m in without.modules())
    assert not any("lsu" in n for n, _ in without.named_parameters())
    assert count_parameters(with_lsu) - count_parameters(without) == 4 * (128 + 64)  # decoder_width 0.5


def test_booster_without_lsu_branches_are_independent() -> None:
    torch.manual_seed(0)
    model = build_model("semantic_booster", {**SB, "lsu": False}).train()
    out = model(torch.rand(2, 3, 64, 96))
    out["depth"].sum().backward()
    assert all(p.grad is None for p in model.semantic_branch.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.depth_branch.parameters())
    model.zero_grad(set_to_none=True)
    out = model(torch.rand(2, 3, 64, 96))
    out["semantic"].sum().backward()
    assert all(p.grad is None for p in model.depth_branch.parameters())


def test_registry_errors() -> None:
    """Values are checked by the schema (tests/test_config.py); the registry names the variant or the keyword."""
    with pytest.raises(
        DepthpipeError, match="unknown model variant 'resnet' \\(one of densedepth, semantic_booster\\)"
    ):
        build_model("resnet", {})
    with pytest.raises(TypeError, match="decoder_widht"):
        build_model("densedepth", {"decoder_widht": 1.0, "encoder_weights": "none"})
    with pytest.raises(TypeError, match="lsu"):
        build_model("semantic_booster", {"backbone": "resnet18", "encoder_weights": "none", "num_classes": 40})


@pytest.mark.parametrize("name", VARIANTS)
def test_imagenet_without_cache_is_an_offline_error(monkeypatch, tmp_path: Path, name: str) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DepthpipeError) as exc:
        build_model(name, {**PARAMS[name], "encoder_weights": "imagenet"})
    msg = str(exc.value)
    assert str(tmp_path / "hub" / "checkpoints") in msg
    assert "offline" in msg and "encoder_weights" in msg
    assert "\n" not in msg


def test_imagenet_from_cache_loads_without_network(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    path = cached_weights_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    assert path.parent == tmp_path / "hub" / "checkpoints"
    path.parent.mkdir(parents=True)
    torch.save(reference, path)
    model = build_model("semantic_booster", {**SB, "encoder_weights": "imagenet"})
    assert torch.equal(model.depth_branch.stem[0].weight, reference["conv1.weight"])
    assert torch.equal(model.semantic_branch.layer4[1].bn2.running_var, reference["layer4.1.bn2.running_var"])


def test_state_dict_path_loads_booster(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    reference = {k: v for k, v in reference.items() if not k.startswith("fc.")}  # head may be absent
    path = tmp_path / "r18.pt"
    torch.save(reference, path)
    model = build_model("semantic_booster", {**SB, "encoder_weights": str(path)})
    assert torch.equal(model.depth_branch.layer1[0].conv1.weight, reference["layer1.0.conv1.weight"])
    assert torch.equal(model.semantic_branch.stem[0].weight, reference["conv1.weight"])


def test_state_dict_path_loads_densedepth_legacy_keys(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = torchvision.models.densenet169(weights=None).state_dict()
    # The published DenseNet checkpoints use "norm.1"-style keys; write the file that way.
    legacy = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in state.items()}
    path = tmp_path / "dn169.pth"
    torch.save(legacy, path)
    model = build_model("densedepth", {**DD, "encoder_weights": str(path)})
    key = "features.denseblock3.denselayer7.conv2.weight"
    assert torch.equal(model.encoder.denseblock3.denselayer7.conv2.weight, state[key])


def test_state_dict_path_missing_or_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(DepthpipeError, match="nope.pt"):
        build_model("semantic_booster", {**SB, "encoder_weights": str(missing)})
    wrong = tmp_path / "wrong.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(DepthpipeError, match="wrong.pt"):
        build_model("semantic_booster", {**SB, "encoder_weights": str(wrong)})


@pytest.mark.parametrize("name", VARIANTS)
def test_a_few_adam_steps_lower_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, PARAMS[name]).train()
    loss_fn = build_loss(name, LOSS[name], min_depth=0.1, max_depth=10.0)
    img, batch = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        total, parts = loss_fn(model(img), batch)
        assert math.isfinite(total.item()) and all(math.isfinite(v.item()) for v in parts.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    with torch.no_grad():
        final, _ = loss_fn(model(img), batch)
    assert final.item() < losses[0], (losses, final.item())


def test_lsu_weights_receive_gradients() -> None:
    torch.manual_seed(0)
    model = build_model("semantic_booster", SB).train()
    img, batch = _batch()
    loss_fn = build_loss("semantic_booster", LOSS["semantic_booster"], min_depth=0.1, max_depth=10.0)
    total, _ = loss_fn(model(img), batch)
    total.backward()
    lsu_params = [(n, p) for n, p in model.named_parameters() if n.startswith("lsus.")]
    assert len(lsu_params) == 8
    for n, p in lsu_params:
        assert p.grad is not None, n
        assert p.grad.abs().sum() > 0, n


def test_lsu_initial_weights() -> None:
    lsu = LateralSharingUnit(8, cross_init=0.1)
    d, s = torch.randn(2, 8, 3, 4), torch.randn(2, 8, 3, 4)
    d2, s2 = lsu(d, s)
    assert torch.allclose(d2, d + 0.1 * s) and torch.allclose(s2, s + 0.1 * d)


@pytest.mark.parametrize("name", VARIANTS)
def test_channels_last(models: dict, name: str) -> None:
    x = torch.rand(1, 3, 64, 96)
    model = models[name]
    with torch.no_grad():
        ref = model(x)["depth"]
        model.to(memory_format=torch.channels_last)
        try:
            out = model(x.contiguous(memory_format=torch.channels_last))["depth"]
        finally:
            model.to(memory_format=torch.contiguous_format)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", VARIANTS)
def test_bf16_autocast_cpu(models: dict, name: str) -> None:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = models[name](torch.rand(1, 3, 64, 96))
    for v in out.values():
        assert v.dtype in (torch.bfloat16, torch.float32)
        assert torch.isfinite(v.float()).all()


def test_to_metres_and_to_target_roundtrip() -> None:
    d = torch.tensor([0.05, 0.1, 1.0, 2.5, 10.0, 20.0])
    t = to_target(d, 10.0, 0.1)
    assert torch.allclose(t, torch.tensor([100.0, 100.0, 10.0, 4.0, 1.0, 1.0]))
    assert torch.allclose(to_metres(t, 10.0, 0.1), d.clamp(0.1, 10.0))
    assert torch.allclose(to_metres(torch.tensor([0.0, 0.5, 1000.0]), 10.0, 0.1), torch.tensor([10.0, 10.0, 0.1]))
    arr = np.array([1.0, 4.0, 200.0], dtype=np.float32)
    assert np.allclose(to_metres(arr, 10.0, 0.1), [10.0, 2.5, 0.1])
    assert np.allclose(to_target(np.array([2.5]), 10.0, 0.1), [4.0])
