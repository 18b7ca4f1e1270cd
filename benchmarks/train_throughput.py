"""Training-step throughput of each variant: images/s, FLOPs per image, achieved TFLOP/s, data wait.

    python benchmarks/train_throughput.py [--sizes 240x320 480x640] [--batch 8] [--steps 10] [--repeats 3]
                                          [--modes eager-fp32 bf16-cl bf16-cl-compile] [--prepared data/prepared/train.h5]

For each variant, input size and mode it times full training steps (forward, loss, backward, AdamW step)
after warm-up, repeats the measurement and reports medians. FLOPs per image come from
``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward (the model's math, counted once).
Modes: ``eager-fp32``; ``bf16-cl`` (bf16 autocast + channels_last, CUDA only); ``bf16-cl-compile`` (plus
``torch.compile``). With ``--prepared`` the batches come from the prepared HDF5 through the training
DataLoader (uint8 to the device, normalisation on the device) and the time spent waiting for data is
reported as a fraction of the step; otherwise batches are random tensors already on the device.
``--peak-tflops`` sets the device's dense bf16 peak (default: known GPUs by name; none on the CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from depthpipe.losses import compute_loss
from depthpipe.models import MODEL_NAMES, build_model

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}  # dense, no sparsity
MODEL_PARAMS = {
    "densedepth": {"decoder_width": 1.0, "encoder_weights": "none"},
    "semantic_booster": {"backbone": "resnet50", "encoder_weights": "none", "lsu": True, "num_classes": 40},
}


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def fake_batch(b: int, h: int, w: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8).to(device),
        "target": (1 + 9 * torch.rand(b, 1, h // 2, w // 2, generator=g)).to(device),
        "mask": torch.ones(b, 1, h // 2, w // 2, dtype=torch.bool).to(device),
        "label": torch.randint(0, 41, (b, h // 2, w // 2), generator=g).to(device),
    }


def flops_per_image(name: str, params: dict, h: int, w: int, device: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(name, params).to(device)
    batch = fake_batch(2, h, w, device)
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(batch["rgb"].float() / 255)
        loss, _ = compute_loss(name, out, batch, {}, 10.0, 0.1)
        loss.backward()
    return counter.get_total_flops() / 2


def measure(name: str, params: dict, h: int, w: int, batch_size: int, steps: int, mode: str,
            device: torch.device, prepared: Path | None) -> tuple[float, float]:
    """(images/s, data-wait fraction) for ``steps`` timed training steps after warm-up."""
    torch.manual_seed(0)
    model = build_model(name, params).to(device)
    bf16 = mode.startswith("bf16") and device.type == "cuda"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fwd = torch.compile(model) if mode.endswith("compile") else model
    if prepared is not None:
        from depthpipe.data.loader import EpochBatchSampler, PreparedBatches, make_loader

        ds = PreparedBatches(prepared)
        loader = make_loader(ds, EpochBatchSampler(len(ds), batch_size, 0), workers=4, pin_memory=device.type == "cuda")
        source = iter(_cycle(loader))
    else:
        fixed = fake_batch(batch_size, h, w, device)
        source = iter(_repeat(fixed))

    def step() -> float:
        t = time.perf_counter()
        b = next(source)
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        waited = time.perf_counter() - t
        x = b["rgb"].float().div_(255)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
        with ctx:
            out = fwd(x)
        loss, _ = compute_loss(name, {k: v.float() for k, v in out.items()}, b, {}, 10.0, 0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return waited

    for _ in range(3):
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


def _repeat(batch):
    while True:
        yield batch


def _cycle(loader):
    while True:
        yield from loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--sizes", nargs="+", default=["240x320", "480x640"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=None, help="default: eager-fp32 (CPU); all three on CUDA")
    ap.add_argument("--prepared", type=Path, default=None, help="a prepared train.h5 to measure the data wait")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--decoder-width", type=float, default=None, help="override densedepth decoder_width")
    ap.add_argument("--backbone", default=None, help="override the booster backbone")
    args = ap.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modes = args.modes or (["eager-fp32", "bf16-cl", "bf16-cl-compile"] if device.type == "cuda" else ["eager-fp32"])
    peak = peak_tflops(device, args.peak_tflops)
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {dev_name}; torch {torch.__version__}; batch {args.batch}; {args.steps} steps x {args.repeats} repeats")
    print(f"{'variant':18s} {'size':>8s} {'mode':>16s} {'img/s':>8s} {'GFLOP/img':>10s} {'TFLOP/s':>8s} "
          f"{'% peak':>7s} {'data wait':>9s}")
    for name in args.variants:
        params = dict(MODEL_PARAMS[name])
        if name == "densedepth" and args.decoder_width is not None:
            params["decoder_width"] = args.decoder_width
        if name == "semantic_booster" and args.backbone:
            params["backbone"] = args.backbone
        for size in args.sizes:
            h, w = (int(v) for v in size.split("x"))
            flops = flops_per_image(name, params, h, w, device)
            for mode in modes:
                runs = [measure(name, params, h, w, args.batch, args.steps, mode, device, args.prepared)
                        for _ in range(args.repeats)]
                ips = statistics.median(r[0] for r in runs)
                wait = statistics.median(r[1] for r in runs)
                tflops = ips * flops / 1e12
                pct = f"{100 * tflops / peak:6.1f}%" if peak else "    n/a"
                print(f"{name:18s} {size:>8s} {mode:>16s} {ips:8.2f} {flops / 1e9:10.1f} {tflops:8.3f} {pct:>7s} "
                      f"{100 * wait:8.1f}%", flush=True)


if __name__ == "__main__":
    main()
