"""Synthetic NYU frames prepared in the ``encoded`` layout, one train.h5 per input size: what
``benchmarks/gpu_check.sh`` feeds the training DataLoader to measure its wait.

    python benchmarks/gpu_check_data.py OUT --frames 96 --full 480x640 --sizes 256x320 480x640 [--workers 16]

Renders ``--frames`` synthetic indoor scenes at ``--full`` (the embedded default's generator: textured rooms,
so JPEG decoding costs what it costs on photographs) into ``OUT/labeled.mat`` and prepares them for each input
size into ``OUT/<H>x<W>/train.h5`` (RGB as JPEG q95, depth as 16-bit PNG, labels as PNG, decoded and resized
at load time in the DataLoader workers, as the paper recipe's 50K frames are). Prints one line per file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from depthpipe.config import PrepareConfig
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.sources.nyu_mat import MatFrames
from depthpipe.data.synthetic import write_synthetic

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "data" / "classMapping40.mat"


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--full", type=_size, default=(480, 640), help="rendered frame size HxW (default 480x640)")
    p.add_argument(
        "--sizes", nargs="+", type=_size, default=[(256, 320), (480, 640)], help="input sizes HxW (multiples of 32)"
    )
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mat, splits = args.out / "labeled.mat", args.out / "splits.mat"
    t0 = time.perf_counter()
    h, w = args.full
    write_synthetic(mat, splits, args.frames, 0, 0.1, MAPPING, workers=args.workers, height=h, width=w, progress=False)
    print(f"gpu_check_data: {args.frames} synthetic {h}x{w} frames in {time.perf_counter() - t0:.1f} s", flush=True)
    for size in args.sizes:
        cfg = PrepareConfig(
            input_size=size,
            output_scale=0.5,
            min_depth=0.1,
            max_depth=10.0,
            chunk_frames=8,
            workers=args.workers,
            layout="encoded",
            rgb_codec="jpeg",
            jpeg_quality=95,
            target_resize="area",
        )
        t0 = time.perf_counter()
        out = args.out / f"{size[0]}x{size[1]}"
        with MatFrames(mat, splits) as source:
            prepare_source(source, MAPPING, out, cfg, source="synthetic", progress=False)
        print(f"gpu_check_data: {out / 'train.h5'} (encoded) in {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
