"""Where one training epoch's time goes, per variant, with the recipe in params.yaml and the real trainer.

    python benchmarks/profile_epoch.py [--variants densedepth semantic_booster] [--precision auto|bf16|fp32]
                                       [--prepared data/prepared] [--threads N]

Needs the prepared data of the recipe (``dvc repro prepare``). For each variant it builds the trainer exactly
as the train stage does and times, over one epoch of the training split (medians of the per-batch times,
scaled to the epoch):

- data: reading and collating the batches (the DataLoader alone);
- encoder: forward + backward of the encoder alone (DenseNet-169 features / both ResNet branches' encoders);
- network: forward + backward of the whole network (so decoder = network - encoder);
- loss: forward + backward of the loss alone, on fixed network outputs;
- optimiser: one optimiser + schedule step;
- validation: :meth:`Trainer.validate` on the held-out frames;
- checkpoint: :meth:`Trainer.end_epoch` (best + last checkpoint writes).

Run it alone: two torch processes on a 2-core machine slow each other down tenfold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from depthpipe.config import VARIANTS, load_config
from depthpipe.training.precision import cpu_flags, native_bf16_cpu
from depthpipe.training.trainer import Trainer, to_device


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _encoder_fwd_bwd(trainer: Trainer, x: torch.Tensor) -> None:
    model = trainer.model
    with trainer.precision.autocast(trainer.device):
        if trainer.variant == "densedepth":
            out = model.encoder(model.normalize(x))
        else:
            h = model.normalize(x)
            out = model.depth_branch.encode(h).sum() + model.semantic_branch.encode(h).sum()
    out.float().sum().backward()


def _network_fwd_bwd(trainer: Trainer, x: torch.Tensor) -> None:
    with trainer.precision.autocast(trainer.device):
        out = trainer.model(x)
    sum(v.float().sum() for v in out.values()).backward()


def profile(trainer: Trainer, repeats: int) -> dict[str, float]:
    """Seconds per epoch spent in each phase (see the module docstring)."""
    steps = len(trainer.sampler)
    trainer.sampler.set_epoch(0)
    t = time.perf_counter()
    batches = list(trainer.loader)
    data_s = time.perf_counter() - t
    b = to_device(batches[0], trainer.device, trainer.cfg.channels_last)
    x = b["rgb"]
    trainer.model.train()
    with trainer.precision.autocast(trainer.device):
        out = {k: v.float().detach() for k, v in trainer.model(x).items()}

    def loss_fwd_bwd() -> None:
        leaf = {k: v.clone().requires_grad_(True) for k, v in out.items()}
        trainer.loss_fn(leaf, b)[0].backward()

    def optimiser_step() -> None:
        trainer.optimizer.step()
        trainer.schedule.step()

    phases = {
        "data": data_s,
        "encoder": _median_s(lambda: _encoder_fwd_bwd(trainer, x), repeats) * steps,
        "network": _median_s(lambda: _network_fwd_bwd(trainer, x), repeats) * steps,
        "loss": _median_s(loss_fwd_bwd, repeats) * steps,
        "optimiser": _median_s(optimiser_step, repeats) * steps,
        "validation": _median_s(trainer.validate, max(1, repeats // 2)),
        "checkpoint": _median_s(lambda: trainer.end_epoch(0, {"train_loss": 1.0}, None), max(1, repeats // 2)),
    }
    trainer.optimizer.zero_grad(set_to_none=True)
    return phases


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="override train.<variant>.precision")
    p.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_config()
    print(
        f"recipe {params.recipe}; CPU native bf16: {native_bf16_cpu() or 'no'}; "
        f"{len(cpu_flags())} CPU flags; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for variant in args.variants:
        cfg = params.train_config(variant)
        if args.precision:
            cfg = cfg.model_copy(update={"precision": args.precision})
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(
                variant,
                cfg,
                params.model_config_of(variant),
                args.prepared,
                Path(tmp) / "m",
                Path(tmp) / "r",
                progress=False,
            )
            phases = profile(trainer, args.repeats)
        phases["decoder"] = max(0.0, phases["network"] - phases["encoder"])
        epoch = sum(phases[k] for k in ("data", "network", "loss", "optimiser", "validation", "checkpoint"))
        print(
            f"\n{variant}: {len(trainer.train_ds)} frames/epoch, batch {cfg.batch_size}, "
            f"{list(trainer.info.input_size)} input, {trainer.precision.dtype}, channels_last {cfg.channels_last}: "
            f"about {epoch:.1f} s per epoch, {len(trainer.train_ds) / epoch:.1f} img/s"
        )
        for name in ("data", "encoder", "decoder", "loss", "optimiser", "validation", "checkpoint"):
            print(f"  {name:11s} {phases[name]:7.2f} s  {100 * phases[name] / epoch:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
