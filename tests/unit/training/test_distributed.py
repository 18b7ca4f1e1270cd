"""Multi-process training: the torchrun relaunch, DDP gradient equivalence, and a real 2-process CPU (gloo) run.

- Unit: the torchrun command line and when the stage relaunches itself.
- Gradient equivalence: 2 gloo processes, each on its half of a batch, wrapped in DistributedDataParallel,
  end the first backward with the same (averaged) gradients as 1 process on the whole batch.
- End to end (slow): ``python pipeline/train.py densedepth`` with ``nproc_per_node: 2`` in a tiny project folder
  relaunches itself under torchrun, trains on 2 processes and writes its outputs and one MLflow run once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp_mp
from torch import nn

from depthpipe.config.composition import compose_params
from depthpipe.files import sha256_file
from depthpipe.models import build_loss, build_model
from depthpipe.training import distributed as dd
from helpers.paths import REPO

MODEL_PARAMS = {
    "densedepth": {"decoder_width": 0.25, "encoder_weights": "none"},
    "semantic_booster": {
        "backbone": "resnet18",
        "encoder_weights": "none",
        "lsu": True,
        "num_classes": 40,
        "decoder_width": 0.5,
    },
}
LOSS_WEIGHTS = {
    "densedepth": {"w_ssim": 1.0, "w_grad": 1.0, "w_l1": 0.1, "ssim_range": 10.0},
    "semantic_booster": {"w_depth": 1.0, "w_semantic": 1.0, "w_grad": 1.0, "focal_alpha": 0.25, "focal_gamma": 2.0},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------- unit
def test_torchrun_command_single_and_multi_node() -> None:
    cmd = dd.torchrun_command(["pipeline/train.py", "densedepth"], 2, 1, "10.0.0.1:29500")
    assert Path(cmd[0]).name == "torchrun" or cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=2" in cmd and "--nnodes=1" in cmd and "--standalone" in cmd
    assert cmd[-2:] == ["pipeline/train.py", "densedepth"]
    assert not any(c.startswith("--rdzv") for c in cmd)
    multi = dd.torchrun_command(["x.py"], 4, 2, "10.0.0.1:29500", node_rank=1)
    assert "--standalone" not in multi and "--nnodes=2" in multi
    assert {"--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.1:29500", "--node-rank=1"} <= set(multi)
    assert multi[-1] == "x.py"


def test_relaunch_only_when_asked_and_not_already_a_worker(monkeypatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(dd.os, "execv", lambda path, argv: calls.append([path, *argv]))
    for k in ("WORLD_SIZE", "LOCAL_RANK", "RANK", "NODE_RANK"):
        monkeypatch.delenv(k, raising=False)
    dd.relaunch_with_torchrun(["t.py", "densedepth"], 1, 1, "127.0.0.1:29500")
    assert calls == []  # one process: nothing to do
    dd.relaunch_with_torchrun(["t.py", "densedepth"], 2, 1, "127.0.0.1:29500")
    assert len(calls) == 1 and "--nproc-per-node=2" in calls[0] and calls[0][-2:] == ["t.py", "densedepth"]
    assert calls[0][0] == calls[0][1]  # execv(path, [path, ...])
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert dd.under_torchrun()
    dd.relaunch_with_torchrun(["t.py", "densedepth"], 2, 1, "127.0.0.1:29500")
    assert len(calls) == 1  # a torchrun worker never relaunches


def test_single_process_helpers(monkeypatch) -> None:
    for k in ("WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(k, raising=False)
    info = dd.init("cpu")
    assert info == dd.DistInfo() and info.is_main and not info.enabled
    t = torch.tensor([1.0, 3.0])
    assert dd.all_reduce_mean(t, info) is t
    assert dd.broadcast_object({"a": 1}, info) == {"a": 1}
    dd.barrier(info)
    dd.shutdown(info)
    assert dd.DistInfo(rank=1, world_size=2).enabled and not dd.DistInfo(rank=1, world_size=2).is_main


# -------------------------------------------------------------------------------------- gradient equivalence
def _bn_eval(model: nn.Module) -> nn.Module:
    """Training mode, except BatchNorm layers use their running statistics.

    In training mode each process normalises with the statistics of its own half batch, which differ from the
    whole batch's; the exact remedy, SyncBatchNorm, is CUDA-only (the trainer enables it on GPUs). With BN in
    eval mode the networks are the same function of each sample on every process, so the DDP average of the
    half-batch gradients must equal the whole-batch gradient.
    """
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _batch(n: int) -> dict[str, torch.Tensor]:
    """All-valid masks and non-void labels: every sample has the same number of loss terms, so the mean over the
    whole batch is the mean of the two halves' means."""
    g = torch.Generator().manual_seed(1)
    return {
        "rgb": torch.rand(n, 3, 64, 96, generator=g),
        "target": 1.2 + 7.8 * torch.rand(n, 1, 32, 48, generator=g),
        "mask": torch.ones(n, 1, 32, 48, dtype=torch.bool),
        "label": torch.randint(1, 41, (n, 32, 48), generator=g),
    }


def _grads(variant: str, batch: dict[str, torch.Tensor], wrap=None) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = _bn_eval(build_model(variant, MODEL_PARAMS[variant]))
    net = wrap(model) if wrap else model
    loss, _ = build_loss(variant, LOSS_WEIGHTS[variant], min_depth=0.1, max_depth=10.0)(net(batch["rgb"]), batch)
    loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _ddp_worker(rank: int, world: int, port: int, per_rank: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        batch = _batch(per_rank * world)
        part = {k: v[rank * per_rank : (rank + 1) * per_rank] for k, v in batch.items()}
        grads = {v: _grads(v, part, wrap=nn.parallel.DistributedDataParallel) for v in MODEL_PARAMS}
        torch.save(grads, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def test_ddp_gradients_equal_single_process_gradients(tmp_path) -> None:
    per_rank, world = 2, 2
    tmp_mp.spawn(_ddp_worker, args=(world, _free_port(), per_rank, str(tmp_path)), nprocs=world, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = _batch(per_rank * world)
        for variant in MODEL_PARAMS:
            single = _grads(variant, whole)
            assert ranks[0][variant].keys() == ranks[1][variant].keys() == single.keys()
            worst = {}
            for name, g in single.items():
                assert torch.equal(ranks[0][variant][name], ranks[1][variant][name]), f"{variant}.{name}: ranks differ"
                worst[name] = _rel_err(ranks[0][variant][name], g)
                torch.testing.assert_close(
                    ranks[0][variant][name],
                    g,
                    rtol=1e-3,
                    atol=1e-5 * float(g.abs().max()) + 1e-10,
                    msg=f"{variant}.{name}",
                )
            name = max(worst, key=worst.get)
            assert worst[name] < 1e-5, f"{variant}.{name}: relative gradient error {worst[name]:.2e}"
    finally:
        torch.set_num_threads(threads)


# -------------------------------------------------------------------------------- real torchrun, 2 processes
@pytest.mark.slow
def test_pipeline_train_stage_under_torchrun_with_two_cpu_processes(tmp_path, tiny_data, _mlflow_template) -> None:
    proj = tmp_path / "proj"
    (proj / "data" / "prepared").mkdir(parents=True)
    for name in ("train.h5", "test.h5"):
        shutil.copyfile(tiny_data.prepared / name, proj / "data" / "prepared" / name)
    compose_params(
        REPO,
        [
            "recipe=tiny",
            "prepare.input_size=[64,96]",
            "models.densedepth.decoder_width=0.25",
            *(
                f"train.densedepth.{kv}"
                for kv in (
                    "epochs=2",
                    "batch_size=2",
                    "nproc_per_node=2",
                    "device=cpu",
                    "workers=0",
                    "lr=1.0e-3",
                    "lr_scaling=linear",
                    "base_batch_size=8",
                )
            ),
        ],
        out=proj / "params.yaml",
    )
    shutil.copyfile(_mlflow_template, proj / "mlflow.db")

    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "WORLD_SIZE",
            "LOCAL_RANK",
            "RANK",
            "NODE_RANK",
            "MASTER_ADDR",
            "MASTER_PORT",
            "TORCHELASTIC_RUN_ID",
            "MLFLOW_TRACKING_URI",
        )
    }
    env.update(DEPTHPIPE_PIPELINE_RUN="ddp-test", OMP_NUM_THREADS="1", DEPTHPIPE_TRACEBACK="1")
    env.pop("DVC_ROOT", None)
    cmd = [sys.executable, str(REPO / "pipeline" / "train.py"), "densedepth"]
    res = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, timeout=480)
    log = f"--- stdout\n{res.stdout[-4000:]}\n--- stderr\n{res.stderr[-6000:]}"
    assert res.returncode == 0, log

    # rank 0 alone reports and writes
    assert res.stdout.count("train densedepth epoch 1/2:") == 1, log
    assert res.stdout.count("train densedepth epoch 2/2:") == 1, log
    assert res.stdout.count("train densedepth: best_epoch") == 1, log
    model_dir = proj / "models" / "densedepth"
    report_dir = proj / "reports" / "train" / "densedepth"
    assert not list(proj.rglob("*.tmp-*"))
    config = json.loads((model_dir / "config.json").read_text())
    assert config["world_size"] == 2 and config["effective_batch_size"] == 4
    assert config["effective_lr"] == pytest.approx(1e-3 * 4 / 8)
    state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    assert state.keys() == build_model("densedepth", MODEL_PARAMS["densedepth"]).state_dict().keys()
    assert not any(k.startswith("module.") for k in state)  # the unwrapped model, not the DDP wrapper
    last = torch.load(model_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1
    assert len((report_dir / "history.csv").read_text().strip().splitlines()) == 3
    assert (report_dir / "loss.png").is_file()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{proj / 'mlflow.db'}")
    exp = client.get_experiment_by_name("depthpipe")
    runs = client.search_runs([exp.experiment_id])
    stages = sorted(r.data.tags["depthpipe.stage"] for r in runs)
    assert stages == ["pipeline", "train"], [r.data.tags for r in runs]  # one train run under its pipeline run
    run = next(r for r in runs if r.data.tags["depthpipe.stage"] == "train")
    assert run.data.tags["depthpipe.model_sha256"] == sha256_file(proj / "models" / "densedepth" / "model.pt")
    assert run.info.status == "FINISHED"
    assert run.data.tags["depthpipe.stage"] == "train" and run.data.tags["depthpipe.pipeline_run"] == "ddp-test"
    p = run.data.params
    assert p["effective_batch_size"] == "4" and p["world_size"] == "2"
    assert float(p["effective_lr"]) == pytest.approx(5e-4)
    assert p["steps_per_epoch"] == "2" and p["data.train_frames"] == "11"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1, 2]
