"""Which arithmetic a training or inference step runs in: bf16 autocast only where the hardware has it.

``train.<variant>.precision``:

- ``auto``: bf16 autocast on a CUDA GPU that supports it and on a CPU whose flags list native bf16
  instructions (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``); float32 everywhere else. oneDNN
  (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) also says yes on CPUs that only emulate bf16 with
  AVX512, where bf16 is no faster and at times much slower, so the flags decide, not oneDNN.
- ``bf16``: bf16 autocast whatever the hardware (emulated where it is not native: slow, for comparisons).
- ``fp32``: no autocast, and no TF32: choosing it turns TF32 off for cuDNN and for matrix products
  (``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32``, process-wide), which
  PyTorch otherwise allows on Ampere and later GPUs for convolutions (10-bit mantissa), so float32 is float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    """The precision chosen for a device, and why (printed, logged to MLflow, written to config.json)."""

    dtype: str  # "bf16" | "fp32"
    reason: str

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to bf16 on ``device`` when :attr:`dtype` is bf16, else a no-op."""
        if self.dtype == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The instruction-set flags of the first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native_bf16_cpu(flags: set[str] | None = None) -> str | None:
    """The native bf16 flag this CPU has (``avx512_bf16`` / ``amx_bf16``), or None."""
    flags = cpu_flags() if flags is None else flags
    return next((f for f in NATIVE_BF16_FLAGS if f in flags), None)


def strict_float32() -> None:
    """Turn TF32 off for cuDNN and for matrix products, process-wide: float32 convolutions and matmuls round
    to float32, not to TF32's 10-bit mantissa (no effect on a CPU or a GPU without TF32)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def choose_precision(setting: str, device: torch.device, flags: set[str] | None = None) -> Precision:
    """The :class:`Precision` for ``train.<variant>.precision`` (``auto`` | ``bf16`` | ``fp32``) on ``device``;
    ``fp32`` also turns TF32 off (:func:`strict_float32`)."""
    if setting == "fp32":
        strict_float32()
        return Precision("fp32", "precision: fp32 in params.yaml (TF32 off)")
    if setting == "bf16":
        return Precision("bf16", "precision: bf16 in params.yaml (emulated where the hardware lacks bf16)")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", f"{torch.cuda.get_device_name(device)} supports bf16")
        return Precision("fp32", f"{torch.cuda.get_device_name(device)} has no bf16")
    native = native_bf16_cpu(flags)
    if native:
        return Precision("bf16", f"the CPU has native bf16 ({native})")
    return Precision("fp32", f"the CPU has no native bf16 ({' or '.join(NATIVE_BF16_FLAGS)} not in its flags)")
