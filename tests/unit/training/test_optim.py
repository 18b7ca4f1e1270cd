"""The optimiser and schedule of a training run (depthpipe.training.optim)."""

import math

import pytest
import torch
from torch import nn

from depthpipe.training.optim import BatchScaling, make_optimizer, make_schedule, scale_batch


def _model() -> nn.Module:
    # No BatchNorm: a bias before BN has a zero gradient up to rounding, which Adam scales up to full steps.
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 1, 1))


def _three_steps(*pairs: tuple[torch.nn.Module, torch.optim.Optimizer]) -> None:
    """Three steps of each (model, optimiser) pair on the same batch."""
    x = torch.randn(2, 3, 8, 8)
    for _ in range(3):
        for model, opt in pairs:
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_cpu_optimiser_is_fused_and_steps_like_the_default(name):
    fused_model, plain_model = _model(), _model()
    fused = make_optimizer(fused_model, name, lr=1e-2, weight_decay=1e-2)
    plain = (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(
        plain_model.parameters(), lr=1e-2, weight_decay=1e-2, foreach=True
    )
    assert fused.defaults["fused"] is True
    assert type(fused) is type(plain)
    _three_steps((fused_model, fused), (plain_model, plain))
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cosine_schedule_falls_to_zero_over_all_steps():
    opt = make_optimizer(_model(), "adamw", lr=1.0, weight_decay=0.0)
    schedule = make_schedule(opt, "cosine", epochs=2, steps_per_epoch=5, step_size=1, gamma=0.5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs[0] == 1.0 and lrs[5] == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0) and lrs == sorted(lrs, reverse=True)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_amsgrad_reaches_the_fused_optimiser_and_steps_like_torchs(name):
    """amsgrad (DenseDepth's Adam(amsgrad=True)) is passed on, and the fused step matches torch's reference one."""
    fused_model, plain_model = _model(), _model()
    fused = make_optimizer(fused_model, name, lr=1e-2, weight_decay=0.0, amsgrad=True)
    plain = (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(
        plain_model.parameters(), lr=1e-2, weight_decay=0.0, amsgrad=True, foreach=False
    )
    assert fused.defaults["amsgrad"] is True and fused.defaults["fused"] is True
    assert make_optimizer(_model(), name, lr=1e-2, weight_decay=0.0).defaults["amsgrad"] is False
    _three_steps((fused_model, fused), (plain_model, plain))
    for p in fused_model.parameters():
        assert "max_exp_avg_sq" in fused.state[p]
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_learning_rate_scales_with_the_effective_batch_under_the_linear_rule():
    assert scale_batch(1e-3, "none", 4, 8, 2) == BatchScaling(batch_size=8, lr=1e-3, world_size=2)
    linear = scale_batch(1e-3, "linear", 4, 8, 2 * 2)
    assert linear == BatchScaling(batch_size=16, lr=1e-3 * 16 / 8, world_size=4)
    # what config.json and the MLflow run record, in this order
    assert list(linear.record().items()) == [("effective_batch_size", 16), ("effective_lr", 2e-3), ("world_size", 4)]
