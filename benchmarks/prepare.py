"""Benchmark the prepare stage (speed, peak memory, output size) and, for the 50K-style source, the loader.

    python benchmarks/prepare.py                                   # labeled .mat, 1449 frames, arrays layout
    python benchmarks/prepare.py --source nyu50k --frames 1000 2500 5000 [--runs 1]

``--source mat`` (the default) generates (once, cached in --workdir) a full-size synthetic NYU-layout file and
compares, in fresh child processes, a bare h5py read of every frame with the prepare stage on it. Targets:
ratio (prepare time / bare read) <= 2, peak RSS under 1 GiB.

``--source nyu50k`` generates (once, cached) a synthetic DenseDepth-style ``nyu_data.zip`` of the largest
``--frames`` count (rendered 480x640 synthetic scenes; train: JPEG q90 + 8-bit depth PNG, test 1.3%: PNG +
16-bit millimetre PNG, as in the real 51,342-frame archive) and, for each count, a zip of its first frames.
For each count, in fresh child processes: a bare read of every member's bytes, then prepare in the
``encoded`` layout. It prints frames/s, peak RSS (the largest process: writer or worker), prepared bytes /
archive bytes, and the least-squares slope of time and of peak RSS over the frame count, so the figures can
be read off for 51,342 frames. Then the loader: decode + resize + targets (+ flip/channel-swap augmentation)
of training batches of 8 at 480x640 on one CPU core, and the DataLoader worker count that feeds 150 img/s.
Targets: prepared size <= 1.3x the archive, peak RSS < 2 GiB whatever the frame count.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "data" / "classMapping40.mat"
TEST_SHARE = 654 / 51342  # the real archive's test share
FEED_TARGET = 150.0  # img/s at 480x640 that the DataLoader workers must feed

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
a = json.loads(sys.argv[1])
t0 = time.perf_counter()
if a["mode"] == "bare_mat":
    import h5py
    with h5py.File(a["path"], "r") as f:
        n = f["images"].shape[0]
        for i in range(n):
            f["images"][i]; f["depths"][i]; f["labels"][i]
elif a["mode"] == "bare_zip":
    import zipfile
    with zipfile.ZipFile(a["path"]) as z:
        names = [n for n in z.namelist() if not n.endswith(".csv")]
        for name in names:
            z.read(name)
    n = len(names) // 2
elif a["mode"] == "prepare":
    from depthpipe.config import PrepareConfig
    from depthpipe.data.sources.nyu_mat import MatFrames
    from depthpipe.data.sources.raw_folder import open_raw
    from depthpipe.data.prepared.build import prepare_source
    cfg = PrepareConfig(**a["cfg"])
    src = MatFrames(a["path"], a["splits"]) if a["splits"] else open_raw(Path(a["path"]).parent, "nyu50k")
    s = prepare_source(src, Path(a["mapping"]), Path(a["out"]), cfg, progress=False)
    n = s["train_frames"] + s["test_frames"]
dt = time.perf_counter() - t0
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": dt, "frames": n, "peak_rss_mib": rss / 1024}))
"""

THROUGHPUT = r"""
import json, sys, time
import torch
from depthpipe.training.loader import (
    EpochBatchSampler, PreparedBatches, augment_batch, make_loader, random_augment_params)
a = json.loads(sys.argv[1])
torch.set_num_threads(1)
ds = PreparedBatches(a["train_h5"])
sampler = EpochBatchSampler(len(ds), 8, seed=0)
gen = torch.Generator().manual_seed(0)
loader = make_loader(ds, sampler, a["workers"], pin_memory=False)
seen, t0 = 0, None
for step, batch in enumerate(loader):
    if step == 2:  # after the workers have started
        t0, seen = time.perf_counter(), 0
    flip, perm = random_augment_params(len(batch["rgb"]), gen, 0.5, 0.5, "basic_policy")  # the paper recipe's
    augment_batch(batch, flip, perm)
    seen += len(batch["rgb"])
    if step == a["batches"] + 1:
        break
print(json.dumps({"img_per_s": seen / (time.perf_counter() - t0), "shape": list(batch["rgb"].shape)}))
"""


def child(code: str, **args: object) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args, default=str)], capture_output=True, text=True, env=env
    )
    if res.returncode:
        raise SystemExit(f"benchmark child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def prepare_cfg(size: tuple[int, int], workers: int, layout: str) -> dict:
    return {
        "input_size": list(size),
        "output_scale": 0.5,
        "min_depth": 0.1,
        "max_depth": 10.0,
        "chunk_frames": 8,
        "workers": workers,
        "layout": layout,
        "rgb_codec": "jpeg",
        "jpeg_quality": 95,
        "target_resize": "area",
    }


# -- the synthetic 50K-style archive ---------------------------------------------------------------------------
def _encoded_frame(args: tuple[int, bool]) -> tuple[bytes, bytes]:
    """Render synthetic frame ``index`` at 480x640 and encode it as the archive stores a train or test frame."""
    import numpy as np

    from depthpipe.data.codec import encode_jpeg, encode_png
    from depthpipe.data.synthetic import label_ids, render_frame

    index, test = args
    frame = render_frame(0, index, label_ids(MAPPING))
    if test:
        return encode_png(frame.rgb), encode_png(np.rint(frame.depth * 1000).astype(np.uint16))
    return encode_jpeg(frame.rgb, 90), encode_png(np.clip(np.rint(frame.depth / 10 * 255), 0, 255).astype(np.uint8))


def _write_zip(path: Path, frames: list[tuple[str, bytes, bytes]], n_test: int) -> None:
    """``frames`` (kind, rgb bytes, depth bytes) as a DenseDepth-style archive, the last ``n_test`` the test."""
    rows: dict[str, list[str]] = {"train": [], "test": []}
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for i, (_, rgb, depth) in enumerate(frames):
            if i < len(frames) - n_test:
                stem, ext = f"data/nyu2_train/synthetic_{i // 300:04d}_out/{i}", ".jpg"
                rgb_name, depth_name, split = stem + ext, stem + ".png", "train"
            else:
                stem = f"data/nyu2_test/{i - (len(frames) - n_test):05d}"
                rgb_name, depth_name, split = stem + "_colors.png", stem + "_depth.png", "test"
            zf.writestr(zipfile.ZipInfo(rgb_name, (1980, 1, 1, 0, 0, 0)), rgb)
            zf.writestr(zipfile.ZipInfo(depth_name, (1980, 1, 1, 0, 0, 0)), depth)
            rows[split].append(f"{rgb_name},{depth_name}")
        for split, lines in rows.items():
            zf.writestr(f"data/nyu2_{split}.csv", "\n".join(lines) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    os.replace(tmp, path)


def synthetic_zips(workdir: Path, counts: list[int], workers: int) -> dict[int, Path]:
    """``{count: workdir/nyu50k-<count>/nyu_data.zip}``: the largest rendered once, the others its first frames."""
    largest = max(counts)
    n_test = {n: max(10, round(n * TEST_SHARE)) for n in counts}
    paths = {n: workdir / f"nyu50k-{n}" / "nyu_data.zip" for n in counts}
    if all(p.exists() for p in paths.values()):
        return paths
    t = time.perf_counter()
    jobs = [(i, i >= largest - n_test[largest]) for i in range(largest)]
    with mp.get_context("spawn").Pool(workers) as pool:
        encoded = pool.map(_encoded_frame, jobs, chunksize=16)
    print(f"rendered and encoded {largest} frames in {time.perf_counter() - t:.0f} s", flush=True)
    for n, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        train = [("train", *encoded[i]) for i in range(n - n_test[n])]
        test = [("test", *encoded[i]) for i in range(largest - n_test[n], largest)]  # within the largest's test
        _write_zip(path, train + test, n_test[n])
    return paths


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with one point)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


# -- the runs --------------------------------------------------------------------------------------------------
def run_mat(args: argparse.Namespace) -> None:
    """The labeled-.mat benchmark: prepare (arrays layout) vs a bare h5py read, ratio and peak RSS."""
    from depthpipe.data.synthetic import write_synthetic

    frames = args.frames[0]
    mat, splits = args.workdir / f"synthetic-{frames}.mat", args.workdir / f"splits-{frames}.mat"
    if not mat.exists():
        write_synthetic(mat, splits, frames, 0, 0.45, MAPPING, workers=args.workers)
    cfg = prepare_cfg(tuple(args.input_size), args.prepare_workers, "arrays")
    rows = []
    for r in range(args.runs):
        bare = child(CHILD, mode="bare_mat", path=mat)
        prep = child(
            CHILD, mode="prepare", path=mat, splits=splits, out=args.workdir / "prepared", cfg=cfg, mapping=MAPPING
        )
        rows.append((bare, prep, prep["seconds"] / bare["seconds"]))
        print(
            f"run {r + 1}: bare read {bare['frames'] / bare['seconds']:.1f} frames/s, prepare "
            f"{prep['frames'] / prep['seconds']:.1f} frames/s, ratio {rows[-1][2]:.2f}x, peak RSS "
            f"{prep['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    med = statistics.median
    print(f"\nmedian of {args.runs} runs, {frames} frames, input {args.input_size[0]}x{args.input_size[1]}:")
    print(
        f"  ratio {med([x for _, _, x in rows]):.2f}x (target <= 2), prepare peak RSS "
        f"{med([p['peak_rss_mib'] for _, p, _ in rows]):.0f} MiB (target < 1024)"
    )


def run_nyu50k(args: argparse.Namespace) -> None:
    """The 50K-style benchmark: prepare (encoded layout) at each frame count, slopes, then the loader."""
    zips = synthetic_zips(args.workdir, sorted(args.frames), args.workers)
    cfg = prepare_cfg(tuple(args.input_size), args.prepare_workers, "encoded")
    table = []
    for n, path in sorted(zips.items()):
        out = path.parent / "prepared"
        runs = [
            (
                child(CHILD, mode="bare_zip", path=path),
                child(CHILD, mode="prepare", path=path, splits=None, out=out, cfg=cfg, mapping=MAPPING),
            )
            for _ in range(args.runs)
        ]
        bare, prep = (min((r[k] for r in runs), key=lambda x: x["seconds"]) for k in (0, 1))
        size = sum((out / f"{s}.h5").stat().st_size for s in ("train", "test")) / path.stat().st_size
        table.append((n, prep["seconds"], prep["peak_rss_mib"], size))
        print(
            f"{n:6d} frames: bare zip read {n / bare['seconds']:7.1f} frames/s, prepare {n / prep['seconds']:6.1f} "
            f"frames/s ({prep['seconds']:.1f} s), peak RSS {prep['peak_rss_mib']:.0f} MiB, prepared/archive "
            f"{size:.3f}x ({path.stat().st_size / 2**20:.0f} MiB)",
            flush=True,
        )
    ns = [float(n) for n, *_ in table]
    s_time, s_rss = slope(ns, [t for _, t, _, _ in table]), slope(ns, [r for _, _, r, _ in table])
    print(
        f"slopes: {1000 * s_time:.2f} s per 1000 frames ({1 / s_time if s_time > 0 else math.inf:.1f} frames/s "
        f"marginal, {args.prepare_workers} workers), peak RSS {1000 * s_rss:+.2f} MiB per 1000 frames; "
        f"extrapolated to 51,342 frames: {(table[-1][1] + s_time * (51342 - table[-1][0])) / 60:.0f} min, "
        f"{table[-1][2] + s_rss * (51342 - table[-1][0]):.0f} MiB"
    )
    loader_throughput(zips[max(zips)].parent / "prepared" / "train.h5", args)


def loader_throughput(train_h5: Path, args: argparse.Namespace) -> None:
    """Decode + resize + targets + augmentation, batches of 8: in-process on one core, and with DataLoader workers."""
    one = child(THROUGHPUT, train_h5=train_h5, workers=0, batches=args.batches)
    print(
        f"loader, one CPU core (decode JPEG + 8-bit PNG, area-resize depth, targets, flip + channel swap), "
        f"batches {one['shape']}: {one['img_per_s']:.1f} img/s per core -> {math.ceil(FEED_TARGET / one['img_per_s'])} "
        f"DataLoader workers (one core each) feed {FEED_TARGET:.0f} img/s at 480x640"
    )
    for workers in sorted(set(args.loader_workers)):
        got = child(THROUGHPUT, train_h5=train_h5, workers=workers, batches=args.batches)
        print(
            f"loader, {workers} DataLoader workers on this {os.cpu_count()}-CPU machine: {got['img_per_s']:.1f} img/s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=["mat", "nyu50k"], default="mat")
    ap.add_argument("--frames", type=int, nargs="+", default=None, help="mat: 1449; nyu50k: 1000 2500 5000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--input-size", type=int, nargs=2, default=[480, 640])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating the data")
    ap.add_argument("--prepare-workers", type=int, default=2, help="prepare.workers (the stage default is 2)")
    ap.add_argument("--batches", type=int, default=40, help="loader benchmark: batches of 8 timed")
    ap.add_argument("--loader-workers", type=int, nargs="*", default=[2], help="loader benchmark: worker counts")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/depthpipe-bench"))
    args = ap.parse_args()
    args.frames = args.frames or ([1449] if args.source == "mat" else [1000, 2500, 5000])
    args.workdir.mkdir(parents=True, exist_ok=True)
    run_mat(args) if args.source == "mat" else run_nyu50k(args)


if __name__ == "__main__":
    main()
