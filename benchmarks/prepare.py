"""Benchmark the prepare stage against a bare h5py read of the same arrays, and its peak memory.

    python benchmarks/prepare.py [--frames 1449] [--runs 3] [--input-size 480 640] [--workdir /tmp/depthpipe-bench]

Generates (once, cached in --workdir) a full-size synthetic NYU-layout file, then for each run, in fresh
child processes: (1) a bare read of every frame's images, depths and labels with h5py, (2) the prepare stage
on the same file. Prints frames/s of both, their ratio (prepare time / bare-read time) and prepare's peak
RSS, with the median over runs. Targets: peak RSS under 1 GiB whatever the frame count (the largest process: the writer or one worker); ratio <= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, mat, splits, out, h, w = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
t0 = time.perf_counter()
if mode == "bare":
    import h5py, numpy as np
    with h5py.File(mat, "r") as f:
        n = f["images"].shape[0]
        for i in range(n):
            f["images"][i]; f["depths"][i]; f["labels"][i]
else:
    from depthpipe.data.prepare import prepare_dataset
    params = {"input_size": [h, w], "output_scale": 0.5, "min_depth": 0.1, "max_depth": 10.0, "chunk_frames": 8,
              "workers": int(sys.argv[8])}
    s = prepare_dataset(Path(mat), Path(splits), Path(sys.argv[7]), Path(out), params, progress=False)
    n = s["train_frames"] + s["test_frames"]
dt = time.perf_counter() - t0
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": dt, "frames": n, "peak_rss_mib": rss / 1024}))
"""


def child(mode: str, mat: Path, splits: Path, out: Path, size: tuple[int, int], workers: int = 1) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(mat), str(splits), str(out), str(size[0]), str(size[1]),
                          str(ROOT / "data" / "classMapping40.mat"), str(workers)], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1449)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--input-size", type=int, nargs=2, default=[480, 640])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for generating the file")
    ap.add_argument("--prepare-workers", type=int, default=2, help="prepare.workers (the stage default is 2)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/depthpipe-bench"))
    args = ap.parse_args()

    from depthpipe.data.synthetic import write_synthetic

    args.workdir.mkdir(parents=True, exist_ok=True)
    mat, splits = args.workdir / f"synthetic-{args.frames}.mat", args.workdir / f"splits-{args.frames}.mat"
    if not mat.exists():
        t = time.perf_counter()
        write_synthetic(mat, splits, args.frames, 0, 0.45, ROOT / "data" / "classMapping40.mat", workers=args.workers)
        print(f"generated {args.frames} frames in {time.perf_counter() - t:.0f} s -> {mat} "
              f"({mat.stat().st_size / 2**30:.2f} GiB)")
    size = tuple(args.input_size)
    rows = []
    for r in range(args.runs):
        bare = child("bare", mat, splits, args.workdir / "unused", size)
        prep = child("prepare", mat, splits, args.workdir / "prepared", size, args.prepare_workers)
        ratio = prep["seconds"] / bare["seconds"]
        rows.append((bare, prep, ratio))
        print(f"run {r + 1}: bare read {bare['frames'] / bare['seconds']:.1f} frames/s, prepare "
              f"{prep['frames'] / prep['seconds']:.1f} frames/s, ratio {ratio:.2f}x, prepare peak RSS "
              f"{prep['peak_rss_mib']:.0f} MiB", flush=True)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"\nmedian of {args.runs} runs, {args.frames} frames, input {size[0]}x{size[1]}:")
    print(f"  bare h5py read   {med([b['frames'] / b['seconds'] for b, _, _ in rows]):8.1f} frames/s")
    print(f"  prepare          {med([p['frames'] / p['seconds'] for _, p, _ in rows]):8.1f} frames/s")
    print(f"  ratio            {med([x for _, _, x in rows]):8.2f}x   (target <= 2)")
    print(f"  prepare peak RSS {med([p['peak_rss_mib'] for _, p, _ in rows]):8.0f} MiB (target < 1024)")


if __name__ == "__main__":
    main()
