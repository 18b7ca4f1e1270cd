"""Multi-process training with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

The train stage calls :func:`relaunch_with_torchrun` first: when ``nproc_per_node > 1`` (or ``nnodes > 1``)
and the process is not already a torchrun worker, it re-executes itself under ``torchrun``. Workers then call
:func:`init` which reads torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) and joins the
process group: ``nccl`` on CUDA, ``gloo`` on the CPU. Only rank 0 logs to MLflow and writes outputs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def under_torchrun() -> bool:
    """True inside a worker started by torchrun (it sets ``TORCHELASTIC_RUN_ID`` and ``WORLD_SIZE``)."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def torchrun_command(
    script_args: Sequence[str], nproc_per_node: int, nnodes: int, rdzv_endpoint: str, node_rank: int | None = None
) -> list[str]:
    """The ``torchrun`` command line that runs ``python <script_args>`` on ``nproc_per_node`` processes."""
    exe = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    launcher = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [*launcher, f"--nproc-per-node={nproc_per_node}", f"--nnodes={nnodes}"]
    if nnodes > 1:
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", "--rdzv-id=depthpipe"]
        if node_rank is not None:
            cmd.append(f"--node-rank={node_rank}")
    else:
        cmd += ["--standalone"]
    return [*cmd, *script_args]


def relaunch_with_torchrun(script_args: Sequence[str], nproc_per_node: int, nnodes: int, rdzv_endpoint: str) -> None:
    """Replace this process by torchrun when more than one process is asked for (never returns then)."""
    if (nproc_per_node <= 1 and nnodes <= 1) or under_torchrun():
        return
    cmd = torchrun_command(
        script_args,
        nproc_per_node,
        nnodes,
        rdzv_endpoint,
        node_rank=int(os.environ["NODE_RANK"]) if "NODE_RANK" in os.environ else None,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def init(device_type: str) -> DistInfo:
    """Join the process group if started by torchrun; a single-process ``DistInfo`` otherwise."""
    if not under_torchrun():
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``t`` over ranks (a no-op on one process)."""
    if not info.enabled:
        return t
    out = t.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
