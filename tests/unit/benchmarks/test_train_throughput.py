"""benchmarks/train_throughput.py's modes: names read into a step's settings, each setting every switch it measures."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
import torch

from helpers.benchmarks import load_benchmark

Mode = load_benchmark("train_throughput").Mode


@pytest.fixture
def switches() -> Iterator[None]:
    """The process-wide switches a mode sets, put back afterwards (the worker runs other tests)."""
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved[:3]
    torch.use_deterministic_algorithms(saved[3], warn_only=saved[4])


def test_a_mode_name_is_arithmetic_then_flags_and_a_bad_one_says_the_grammar() -> None:
    mode = Mode.parse("bf16-cl-det-graphs")
    assert (mode.arithmetic, mode.channels_last, mode.deterministic, mode.compile) == (
        "bf16",
        True,
        True,
        "reduce-overhead",
    )
    assert Mode.parse("tf32-compile").compile == "default" and not Mode.parse("fp32").channels_last
    for bad in ("fp16", "fp32-fast", "bf16-cl-cl", "bf16-compile-graphs"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"mode '{bad}'"):
            Mode.parse(bad)


def test_each_mode_sets_every_switch_whatever_ran_before(switches: None) -> None:
    cpu = torch.device("cpu")
    Mode.parse("tf32-det").apply(cpu)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert torch.are_deterministic_algorithms_enabled()
    Mode.parse("fp32").apply(cpu)  # true float32, deterministic algorithms off again
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    Mode.parse("bf16-cl").apply(cpu)  # cuDNN's own default for the float32 work left under autocast
    assert not torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
