"""The arithmetic a step runs in (depthpipe.precision): bf16 only where the CPU's flags list native bf16."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depthpipe.training import precision
from depthpipe.training.precision import choose_precision, cpu_flags, native_bf16_cpu

CPU = torch.device("cpu")
EPYC = {"avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"}
XEON = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}  # AVX-512 but no bf16: oneDNN emulates it


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu sse avx512f avx512bw\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx512f", "avx512bw"}
    assert cpu_flags(tmp_path / "absent") == set()


@pytest.mark.parametrize(
    "flags, expected", [(EPYC, "bf16"), (XEON, "fp32"), (XEON | {"amx_bf16"}, "bf16"), (set(), "fp32")]
)
def test_auto_follows_the_flags_whatever_onednn_says(flags, expected, monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=precision.CPUINFO: flags)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)  # it says yes
    chosen = choose_precision("auto", CPU)
    assert chosen.dtype == expected
    assert chosen.reason.startswith("the CPU has native bf16" if expected == "bf16" else "the CPU has no native bf16")
    assert (native_bf16_cpu() is not None) == (expected == "bf16")


def test_explicit_settings_win_and_autocast_follows(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=precision.CPUINFO: XEON)
    assert choose_precision("bf16", CPU).dtype == "bf16" and choose_precision("fp32", CPU).dtype == "fp32"
    with choose_precision("bf16", CPU).autocast(CPU):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with choose_precision("auto", CPU).autocast(CPU):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.fixture
def tf32_flags():
    """PyTorch's TF32 switches as they were, restored after the test (choose_precision sets them process-wide)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@pytest.mark.usefixtures("tf32_flags")
def test_fp32_turns_tf32_off_for_cudnn_and_matmul() -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # both on, as they can be
    chosen = choose_precision("fp32", CPU)
    assert chosen.dtype == "fp32" and "TF32 off" in chosen.reason
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False
    assert torch.get_float32_matmul_precision() == "highest"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    choose_precision("bf16", CPU)  # bf16 leaves them as they are
    assert torch.backends.cuda.matmul.allow_tf32 is True and torch.backends.cudnn.allow_tf32 is True
