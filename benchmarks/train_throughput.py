"""Training-step throughput per variant and mode: images/s, FLOPs per image, TFLOP/s, data wait.

    python benchmarks/train_throughput.py                        # the params.yaml recipe, CPU modes
    python benchmarks/train_throughput.py --paper --sizes 480x640 --batch 8 --modes fp32 fp32-det bf16-cl bf16-cl-graphs
                                          [--prepared data/prepared/train.h5 --workers 4 8] [--steps 10] [--repeats 3]

Models: by default the ``models.<variant>`` settings, input size and batch of ``params.yaml`` (the recipe
``make repro`` trains); ``--paper`` uses the paper sizes (DenseDepth width 1.0, booster ResNet-50).
Modes: ``<arithmetic>[-cl][-det][-compile|-graphs]``. Arithmetic: ``fp32`` (true float32: TF32 off for cuDNN and
matrix products, as ``precision: fp32`` trains), ``tf32`` (float32 weights, TF32 tensor-core arithmetic) or ``bf16``
(bf16 autocast, as ``precision: bf16``). ``-cl``: channels_last. ``-det``: the kernels the train stage asks for
(:func:`depthpipe.training.device.seed_everything`: deterministic algorithms, on CUDA best effort with cuDNN's
autotuner off); without it, deterministic algorithms are off and, on CUDA, cuDNN's autotuner is on.
``-compile``: ``torch.compile``; ``-graphs``: ``torch.compile(mode="reduce-overhead")``, whose CUDA graphs replay
the step's kernels without launching each. Each mode times full training steps (forward, the variant's own
loss, backward, the trainer's fused AdamW step) after warm-up; the figure is the median of ``--repeats``
measurements, and every mode's ratio to ``fp32`` is measured in the same run; ``paper h`` is the hours
the ``paper`` recipe's 20 epochs of 50,688 images would train at that rate. FLOPs per image:
``torch.utils.flop_counter`` over one forward + backward. With ``--prepared`` batches come from the prepared
HDF5 through the training DataLoader (once per ``--workers`` count) and the data wait is reported as a fraction of the
step; otherwise batches are fixed tensors on the device. ``benchmarks/gpu_check.sh`` runs it on a GPU.
Run it alone: two torch processes on a 2-core machine slow each other down tenfold.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from depthpipe.config import VARIANTS, load_config
from depthpipe.models import build_loss, build_model
from depthpipe.training.device import seed_everything
from depthpipe.training.optim import make_optimizer
from depthpipe.training.precision import native_bf16_cpu, strict_float32

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}  # dense, no sparsity
PAPER_MODELS = {
    "densedepth": {"decoder_width": 1.0, "encoder_weights": "none"},
    "semantic_booster": {
        "backbone": "resnet50",
        "encoder_weights": "none",
        "lsu": True,
        "num_classes": 40,
        "decoder_width": 1.0,
    },
}
PAPER_IMAGES = 50_688 * 20  # the paper recipe's training images: nyu50k's train frames x its 20 epochs
CPU_MODES = ("fp32", "fp32-cl", "bf16", "bf16-cl")
GPU_MODES = ("fp32", "bf16-cl", "bf16-cl-compile")


@dataclass(frozen=True)
class Mode:
    """A training step's settings, read from a mode's name (the module's docstring)."""

    name: str
    arithmetic: str  # fp32 | tf32 | bf16
    channels_last: bool
    deterministic: bool
    compile: str | None  # None, "default" or "reduce-overhead"

    @classmethod
    def parse(cls, name: str) -> Mode:
        arithmetic, *flags = name.split("-")
        known = ("cl", "det", "compile", "graphs")
        if (
            arithmetic not in ("fp32", "tf32", "bf16")
            or any(f not in known for f in flags)
            or len(set(flags)) < len(flags)
        ):
            raise argparse.ArgumentTypeError(f"mode {name!r}: <fp32|tf32|bf16>[-cl][-det][-compile|-graphs]")
        if "compile" in flags and "graphs" in flags:
            raise argparse.ArgumentTypeError(f"mode {name!r}: -compile or -graphs, not both")
        compiled = "reduce-overhead" if "graphs" in flags else "default" if "compile" in flags else None
        return cls(name, arithmetic, "cl" in flags, "det" in flags, compiled)

    def apply(self, device: torch.device) -> None:
        """Set the process-wide switches this mode measures (each mode sets all of them, whatever ran before)."""
        if self.arithmetic == "fp32":
            strict_float32()  # as precision: fp32 trains
        else:
            torch.backends.cuda.matmul.allow_tf32 = self.arithmetic == "tf32"
            torch.backends.cudnn.allow_tf32 = True  # bf16: cuDNN's default for what autocast leaves in float32
        if self.deterministic:
            seed_everything(0, device)
        else:
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.benchmark = device.type == "cuda"


def fake_batch(b: int, h: int, w: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8).to(device),
        "target": (1 + 9 * torch.rand(b, 1, h // 2, w // 2, generator=g)).to(device),
        "mask": torch.ones(b, 1, h // 2, w // 2, dtype=torch.bool).to(device),
        "label": torch.randint(0, 41, (b, h // 2, w // 2), generator=g).to(device),
    }


def flops_per_image(name: str, model_cfg: dict, loss_cfg: dict, h: int, w: int, device: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model, loss_fn = build_model(name, model_cfg).to(device), build_loss(name, loss_cfg, min_depth=0.1, max_depth=10.0)
    batch = fake_batch(2, h, w, device)
    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model(batch["rgb"].float() / 255), batch)[0].backward()
    return counter.get_total_flops() / 2


def _batches(
    prepared: Path | None, batch_size: int, h: int, w: int, device: torch.device, workers: int = 4
) -> Iterator[dict]:
    if prepared is None:
        fixed = fake_batch(batch_size, h, w, device)
        while True:
            yield fixed
    from depthpipe.training.loader import EpochBatchSampler, PreparedBatches, make_loader

    ds = PreparedBatches(prepared)
    loader = make_loader(
        ds, EpochBatchSampler(len(ds), batch_size, 0), workers=workers, pin_memory=device.type == "cuda"
    )
    while True:
        yield from loader


def measure(
    name: str,
    model_cfg: dict,
    loss_cfg: dict,
    hw: tuple[int, int],
    batch_size: int,
    steps: int,
    mode: Mode,
    device: torch.device,
    prepared: Path | None,
    workers: int = 4,
    warmup: int = 3,
) -> tuple[float, float]:
    """(images/s, data-wait fraction) over ``steps`` timed training steps after ``warmup`` warm-up steps."""
    mode.apply(device)
    torch.manual_seed(0)
    channels_last = mode.channels_last
    model = build_model(name, model_cfg).to(device)
    model = model.to(memory_format=torch.channels_last) if channels_last else model
    loss_fn = build_loss(name, loss_cfg, min_depth=0.1, max_depth=10.0)
    opt = make_optimizer(model, "adamw", lr=1e-4, weight_decay=0.0)
    # dynamic=False: a fixed-size training run compiles for its one input size; without it, Dynamo's automatic
    # dynamic shapes (its state is kept per code object for the whole process) would compile the second size this
    # process measures with symbolic H and W, and time that instead
    net = torch.compile(model, dynamic=False, mode=mode.compile) if mode.compile else model
    source = _batches(prepared, batch_size, *hw, device, workers)

    def step() -> float:
        t = time.perf_counter()
        b = {k: v.to(device, non_blocking=True) for k, v in next(source).items()}
        waited = time.perf_counter() - t
        x = b["rgb"].float().div_(255)
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        if mode.compile == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are no longer read
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode.arithmetic == "bf16"):
            out = net(x)
        loss, _ = loss_fn({k: v.float() for k, v in out.items()}, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return waited

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, waited = time.perf_counter(), 0.0
    for _ in range(steps):
        waited += step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return steps * batch_size / dt, waited / dt


def _settings(args: argparse.Namespace) -> tuple[dict, dict, list[tuple[int, int]], int]:
    params = load_config()
    losses = {v: params.train_config(v).loss.model_dump() for v in VARIANTS}
    if args.paper:
        return PAPER_MODELS, losses, args.sizes or [(480, 640)], args.batch or 8
    models = {v: params.model_config_of(v).model_dump() for v in VARIANTS}
    return models, losses, args.sizes or [params.prepare.input_size], args.batch or params.train.densedepth.batch_size


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--paper", action="store_true", help="paper-size models instead of params.yaml's")
    p.add_argument("--sizes", nargs="+", type=_size, help="HxW input sizes (default: the recipe's)")
    p.add_argument("--batch", type=int, help="batch size (default: the recipe's)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--modes",
        nargs="+",
        type=Mode.parse,
        help=f"default on the CPU: {' '.join(CPU_MODES)}; on CUDA: {' '.join(GPU_MODES)}",
    )
    p.add_argument("--prepared", type=Path, help="a prepared train.h5 to feed from (reports data wait)")
    p.add_argument("--workers", nargs="+", type=int, default=[4], help="DataLoader workers with --prepared (4)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each measurement (default 3)")
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: known GPUs)")
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models, losses, sizes, batch = _settings(args)
    modes = args.modes or [Mode.parse(m) for m in (CPU_MODES if device.type == "cpu" else GPU_MODES)]
    peak = args.peak_tflops or (
        next((v for k, v in PEAK_BF16_TFLOPS.items() if k in torch.cuda.get_device_name()), None)
        if device.type == "cuda"
        else None
    )
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU (native bf16: {native_bf16_cpu() or 'no'})"
    print(
        f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, "
        f"medians of {args.repeats} x {args.steps} steps"
    )
    print("| variant | input | mode | img/s | vs fp32 | GFLOP/img | TFLOP/s | % bf16 peak | data wait | paper h |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant in args.variants:
        for hw in sizes:
            gflop = flops_per_image(variant, models[variant], losses[variant], *hw, device) / 1e9
            base = None
            for mode, workers in ((m, w) for w in (args.workers if args.prepared else [0]) for m in modes):
                runs = [
                    measure(
                        variant,
                        models[variant],
                        losses[variant],
                        hw,
                        batch,
                        args.steps,
                        mode,
                        device,
                        args.prepared,
                        workers,
                        args.warmup,
                    )
                    for _ in range(args.repeats)
                ]
                ips = statistics.median(r[0] for r in runs)
                wait = statistics.median(r[1] for r in runs)
                base = ips if mode.name == "fp32" else base
                tflops = ips * gflop / 1e3
                pct = f"{100 * tflops / peak:.1f}" if peak else "-"
                ratio = f"{ips / base:.2f}x" if base else "-"
                waits = f"{100 * wait:.1f} % ({workers} workers)" if args.prepared else "-"
                print(
                    f"| {variant} | {hw[0]}x{hw[1]} | {mode.name} | {ips:.2f} | {ratio} | {gflop:.1f} | {tflops:.3f} | "
                    f"{pct} | {waits} | {PAPER_IMAGES / ips / 3600:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
