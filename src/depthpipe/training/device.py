"""Where training runs: the device, the CPU threads, the seeds and deterministic kernels, and batches moved there."""

from __future__ import annotations

import os

import numpy as np
import torch

from depthpipe.errors import DepthpipeError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DepthpipeError("params.yaml: train.<variant>.device is cuda but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_cpu_threads(device: torch.device, workers: int) -> int:
    """Torch's intra-op threads for training on the CPU: the usable cores minus one per DataLoader worker (at
    least one), so the loader processes do not oversubscribe the cores; ``OMP_NUM_THREADS`` (torchrun sets
    it per process) wins. Returns the thread count."""
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, usable_cores() - workers))
    return torch.get_num_threads()


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch and ask for deterministic kernels (strict on the CPU, best effort on CUDA)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def to_device(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """A loader batch on ``device``, RGB as float in [0, 1] (channels_last when asked)."""
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    rgb = out["rgb"].float().div_(255.0)
    out["rgb"] = rgb.contiguous(memory_format=torch.channels_last) if channels_last else rgb
    return out
