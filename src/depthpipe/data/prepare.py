"""The prepare stage: a NYU-layout labeled ``.mat`` -> one training-ready HDF5 per split, plus a manifest.

Frames are read, resized and turned into reciprocal targets one at a time (optionally in a pool of worker
processes) and written a chunk at a time in :mod:`depthpipe.data.prepared`'s format, so memory stays bounded
whatever the frame count. Outputs are byte-identical for the same inputs (no timestamps, deterministic
resampling), whatever the worker count. ``manifest.csv`` lists split, position, NYU index, scene and valid
fractions per frame.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
from pathlib import Path
from typing import Iterator

import numpy as np
from skimage.transform import resize
from tqdm import tqdm

from depthpipe.config import PrepareConfig
from depthpipe.data.meta import load_class_mapping, read_splits
from depthpipe.data.nyu_mat import NYULabeledFile
from depthpipe.data.prepared import TEST, TRAIN, SplitInfo, SplitWriter, split_path
from depthpipe.errors import DepthpipeError
from depthpipe.io import atomic_path, write_text_atomic



# -- pure per-frame maths -----------------------------------------------------------------------------
def valid_depth(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Where a ground-truth depth is usable for training: finite, > 0 and <= ``max_depth``. (H, W) -> bool."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > 0) & (depth <= max_depth)


def reciprocal_target(depth: np.ndarray, valid: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """``max_depth / clip(depth, min_depth, max_depth)`` on valid pixels, 0 elsewhere (never inf or NaN).

    (H, W) float32 metres -> (H, W) float32 in [1, max_depth / min_depth] (0 where invalid).
    """
    safe = np.where(valid, depth, max_depth).astype(np.float32)
    out = np.float32(max_depth) / np.clip(safe, np.float32(min_depth), np.float32(max_depth))
    return np.where(valid, out, np.float32(0)).astype(np.float32)


def _resample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area resampling for integer factors, anti-aliased bilinear otherwise. (H, W[, C]) float -> size."""
    h, w = img.shape[:2]
    if (h, w) == size:
        return img.astype(np.float32, copy=False)
    if h % size[0] == 0 and w % size[1] == 0:  # exact area average over fh x fw blocks
        fh, fw = h // size[0], w // size[1]
        blocks = img.astype(np.float32, copy=False).reshape(size[0], fh, size[1], fw, *img.shape[2:])
        return blocks.mean(axis=(1, 3), dtype=np.float32)
    return resize(img, size, order=1, mode="edge", anti_aliasing=True, preserve_range=True).astype(np.float32)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, area/bilinear."""
    if rgb.shape[:2] == size:
        return rgb
    return np.clip(np.rint(_resample(rgb.astype(np.float32), size)), 0, 255).astype(np.uint8)


def resize_depth(depth: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize depth using only valid pixels: ``resample(d * v) / resample(v)``.

    A pixel of the output is valid where at least half of its footprint was valid. Returns (depth, valid),
    (h, w) float32 metres (0 where invalid) and bool.
    """
    v = valid.astype(np.float32)
    num = _resample(np.where(valid, depth, 0).astype(np.float32), size)
    den = _resample(v, size)
    ok = den >= 0.5
    out = np.where(ok, num / np.maximum(den, 1e-6), 0).astype(np.float32)
    return out, ok


def resize_labels(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour label resize: (H, W) int -> (h, w) same dtype."""
    if label.shape == size:
        return label
    out = resize(label, size, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return out.astype(label.dtype)


def map_labels_40(label: np.ndarray, lut: np.ndarray, where: str) -> np.ndarray:
    """NYU ids (0..894) -> 40-class ids (0 void, 1..40) through the ``classMapping40`` lookup table."""
    top = int(label.max()) if label.size else 0
    if top >= lut.size:
        raise DepthpipeError(f"{where}: label {top} out of range 0..{lut.size - 1}")
    return lut[label]


# -- per-frame work (in this process or in a pool of workers) -------------------------------------------
def process_frame(nyu: NYULabeledFile, i: int, cfg: PrepareConfig, lut: np.ndarray, full_res: bool) -> tuple[dict, dict]:
    """Everything the split files hold for frame ``i`` (0-based), plus statistics for the summary."""
    fr = nyu.frame(i)
    valid = valid_depth(fr.depth, cfg.max_depth)
    depth_o, valid_o = resize_depth(fr.depth, valid, cfg.output_size)
    lab40 = map_labels_40(fr.label, lut, f"{nyu.path}: frame {i}")
    arrays = {
        "rgb": resize_rgb(fr.rgb, cfg.input_size),
        "depth": depth_o,
        "target": reciprocal_target(depth_o, valid_o, cfg.min_depth, cfg.max_depth),
        "mask": valid_o.astype(np.uint8),
        "label": resize_labels(lab40, cfg.output_size),
        "index": np.int32(i + 1),
    }
    if full_res:
        arrays["depth_full"] = np.where(valid, fr.depth, 0).astype(np.float32)
        arrays["label_full"] = lab40
    stats = {"depth_sum": float(depth_o[valid_o].astype(np.float64).sum()), "depth_count": int(valid_o.sum()),
             "valid_fraction": float(valid.mean()), "valid_fraction_out": float(valid_o.mean())}
    return arrays, stats


_worker_state: dict = {}  # per worker process: its own open file and settings (set by _init_worker)


def _init_worker(mat_path: str, cfg: PrepareConfig, lut: np.ndarray, full_res: bool) -> None:
    _worker_state.update(nyu=NYULabeledFile(mat_path), cfg=cfg, lut=lut, full_res=full_res)


def _work(i: int) -> tuple[int, dict, dict]:
    st = _worker_state
    return (i, *process_frame(st["nyu"], i, st["cfg"], st["lut"], st["full_res"]))


def _processed_frames(mat_path: Path, indices: np.ndarray, cfg: PrepareConfig, lut: np.ndarray, full_res: bool,
                      workers: int) -> Iterator[tuple[int, dict, dict]]:
    """``(i, arrays, stats)`` for each frame of ``indices``, in order; with ``workers > 1`` from a process pool."""
    order = [int(i) for i in indices]
    if workers <= 1:
        with NYULabeledFile(mat_path) as nyu:
            for i in order:
                yield (i, *process_frame(nyu, i, cfg, lut, full_res))
        return
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited HDF5 handles
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(mat_path), cfg, lut, full_res)) as pool:
        yield from pool.imap(_work, order, chunksize=4)


# -- the stage ------------------------------------------------------------------------------------------
def prepare_dataset(
    mat_path: Path,
    splits_path: Path,
    class_mapping_path: Path,
    out_dir: Path,
    cfg: PrepareConfig,
    source_sha256: str = "",
    source: str = "",
    progress: bool = True,
) -> dict:
    """Run the prepare stage; returns a summary (frames per split, sizes, mean depths).

    ``cfg.workers`` processes read and transform frames in order while this process writes (0 or 1: this
    process alone); the output bytes do not depend on it.
    """
    lut, names40, _ = load_class_mapping(class_mapping_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    summary: dict = {"input_size": list(cfg.input_size), "output_size": list(cfg.output_size)}
    with NYULabeledFile(mat_path) as nyu:
        train_idx, test_idx = read_splits(splits_path, nyu.n_frames)
        scenes = nyu.scenes()
        for split, indices in ((TRAIN, train_idx), (TEST, test_idx)):
            info = SplitInfo(split, cfg.input_size, cfg.output_size, (nyu.height, nyu.width), cfg.min_depth,
                             cfg.max_depth, tuple(names40), source, source_sha256)
            rows, mean_depth = _write_split(mat_path, indices, info, cfg, lut, split_path(out_dir, split), progress)
            manifest += [{**r, "scene": scenes[r["nyu_index"] - 1] if r["nyu_index"] <= len(scenes) else ""}
                         for r in rows]
            summary[f"{split}_frames"] = int(len(indices))
            summary[f"{split}_mean_depth"] = round(mean_depth, 6)
    columns = ["split", "position", "nyu_index", "scene", "valid_fraction", "valid_fraction_out"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(manifest)
    write_text_atomic(out_dir / "manifest.csv", buf.getvalue())
    return summary


def _write_split(mat_path: Path, indices: np.ndarray, info: SplitInfo, cfg: PrepareConfig, lut: np.ndarray,
                 final: Path, progress: bool) -> tuple[list[dict], float]:
    """Write one split file atomically; returns its manifest rows and mean depth."""
    full_res = info.split == TEST
    rows: list[dict] = []
    sums = {"depth_sum": 0.0, "depth_count": 0}
    with atomic_path(final) as tmp:
        writer = SplitWriter(tmp, len(indices), info, cfg.chunk_frames, full_res)
        try:
            frames = _processed_frames(mat_path, indices, cfg, lut, full_res, cfg.workers)
            for pos, (i, arrays, stats) in enumerate(tqdm(frames, total=len(indices), desc=f"prepare {info.split}",
                                                          unit="frame", disable=not progress)):
                writer.add(arrays)
                for key in sums:
                    sums[key] += stats[key]
                rows.append({"split": info.split, "position": pos, "nyu_index": i + 1,
                             "valid_fraction": f"{stats['valid_fraction']:.6f}",
                             "valid_fraction_out": f"{stats['valid_fraction_out']:.6f}"})
            mean_depth = sums["depth_sum"] / max(sums["depth_count"], 1)
            writer.set_statistics(mean_depth)
        finally:
            writer.close()
    return rows, mean_depth
