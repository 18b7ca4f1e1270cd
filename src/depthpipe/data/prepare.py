"""The prepare stage: NYU labeled ``.mat`` -> one training-ready HDF5 per split.

``data/prepared/{train,test}.h5`` hold, for the N frames of the split in split-file order:

===========  =====================  ==========================================================
dataset      shape, dtype           meaning
===========  =====================  ==========================================================
rgb          (N, H, W, 3) uint8     the image at the model input size (area/bilinear resize)
depth        (N, h, w) float32      metres at the output size; 0 where invalid
target       (N, h, w) float32      reciprocal target ``m / clip(depth, min_depth, m)``; 0 where invalid
mask         (N, h, w) uint8        1 where depth is valid (finite, > 0, <= m)
label        (N, h, w) uint8        40-class ids (1..40), 0 = void (nearest-neighbour resize)
index        (N,) int32             1-based frame index in the labeled file
depth_full   (N, 480, 640) float32  test only: the full-resolution ground truth for evaluation
label_full   (N, 480, 640) uint8    test only: full-resolution 40-class labels
===========  =====================  ==========================================================

plus a ``manifest.csv`` (split, position, nyu_index, scene, valid fractions). Frames are read and written
one chunk at a time, so memory stays bounded whatever the frame count, and outputs are byte-identical for
the same inputs (no timestamps; deterministic resampling).
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import h5py
import numpy as np
from skimage.transform import resize
from tqdm import tqdm

from depthpipe.data.meta import load_class_mapping, read_splits
from depthpipe.data.nyu_mat import NYULabeledFile
from depthpipe.errors import DepthpipeError
from depthpipe.io import atomic_path, write_text_atomic
from depthpipe.config import PrepareConfig

SPLITS = ("train", "test")


# -- pure per-frame maths -----------------------------------------------------------------------------
def valid_mask(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Valid depth: finite, > 0 and <= ``max_depth``. (H, W) float -> (H, W) bool."""
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
    valid = valid_mask(fr.depth, cfg.max_depth)
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
class _SplitWriter:
    """Buffered, chunked writer of one split file."""

    def __init__(self, path: Path, n: int, cfg: PrepareConfig, full_hw: tuple[int, int] | None, attrs: Mapping) -> None:
        self.f = h5py.File(path, "w", libver="earliest")
        self.cfg, self.n, self.pos = cfg, n, 0
        H, W = cfg.input_size
        h, w = cfg.output_size
        c = max(1, min(cfg.chunk_frames, n))
        spec = {
            "rgb": ((n, H, W, 3), np.uint8),
            "depth": ((n, h, w), np.float32),
            "target": ((n, h, w), np.float32),
            "mask": ((n, h, w), np.uint8),
            "label": ((n, h, w), np.uint8),
        }
        if full_hw is not None:
            spec["depth_full"] = ((n, *full_hw), np.float32)
            spec["label_full"] = ((n, *full_hw), np.uint8)
        for key, (shape, dtype) in spec.items():
            self.f.create_dataset(key, shape=shape, dtype=dtype, chunks=(c, *shape[1:]), track_times=False)
        self.f.create_dataset("index", shape=(n,), dtype=np.int32, track_times=False)
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.buf: dict[str, list[np.ndarray]] = {k: [] for k in (*spec, "index")}
        self.chunk = c

    def add(self, arrays: Mapping[str, np.ndarray]) -> None:
        for k, v in arrays.items():
            self.buf[k].append(v)
        if len(self.buf["index"]) == self.chunk:
            self.flush()

    def flush(self) -> None:
        k = len(self.buf["index"])
        if not k:
            return
        for key, items in self.buf.items():
            self.f[key][self.pos : self.pos + k] = np.stack(items)
            items.clear()
        self.pos += k

    def close(self) -> None:
        self.flush()
        self.f.close()


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
    """Run the prepare stage; returns a summary (frames per split, sizes, train mean depth).

    ``cfg.workers`` processes read and transform frames in order while this process writes (0 or 1: this
    process alone); the output bytes do not depend on it.
    """
    workers = cfg.workers
    lut, names40, _ = load_class_mapping(class_mapping_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    summary: dict = {"input_size": list(cfg.input_size), "output_size": list(cfg.output_size)}
    with NYULabeledFile(mat_path) as nyu:
        train_idx, test_idx = read_splits(splits_path, nyu.n_frames)
        scenes = nyu.scenes()
        full_hw = (nyu.height, nyu.width)
        for split, indices in (("train", train_idx), ("test", test_idx)):
            attrs = {
                "split": split,
                "input_size": np.asarray(cfg.input_size, np.int32),
                "output_size": np.asarray(cfg.output_size, np.int32),
                "full_size": np.asarray(full_hw, np.int32),
                "min_depth": cfg.min_depth,
                "max_depth": cfg.max_depth,
                "num_classes": len(names40),
                "class_names": json.dumps(names40),
                "source_sha256": source_sha256,
                "source": source,
            }
            depth_sum, depth_count = 0.0, 0
            final = out_dir / f"{split}.h5"
            with atomic_path(final) as tmp:
                writer = _SplitWriter(tmp, len(indices), cfg, full_hw if split == "test" else None, attrs)
                try:
                    frames = _processed_frames(mat_path, indices, cfg, lut, split == "test", workers)
                    for pos, (i, arrays, stats) in enumerate(tqdm(frames, total=len(indices), desc=f"prepare {split}",
                                                                  unit="frame", disable=not progress)):
                        writer.add(arrays)
                        depth_sum += stats["depth_sum"]
                        depth_count += stats["depth_count"]
                        manifest.append({
                            "split": split, "position": pos, "nyu_index": i + 1,
                            "scene": scenes[i] if i < len(scenes) else "",
                            "valid_fraction": f"{stats['valid_fraction']:.6f}",
                            "valid_fraction_out": f"{stats['valid_fraction_out']:.6f}",
                        })
                    mean_depth = depth_sum / max(depth_count, 1)
                    writer.f.attrs["mean_depth"] = mean_depth
                finally:
                    writer.close()
            summary[f"{split}_frames"] = int(len(indices))
            summary[f"{split}_mean_depth"] = round(mean_depth, 6)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(manifest[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(manifest)
    write_text_atomic(out_dir / "manifest.csv", buf.getvalue())
    return summary


def read_prepared(path: str | os.PathLike[str], keys: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Load datasets ``keys`` (default all but the full-resolution ones) and the attributes of a prepared split."""
    p = Path(path)
    if not p.exists():
        raise DepthpipeError(f"{p}: prepared data not found (run `dvc repro prepare`)")
    with h5py.File(p, "r") as f:
        want = keys or [k for k in f if not k.endswith("_full")]
        missing = [k for k in want if k not in f]
        if missing:
            raise DepthpipeError(f"{p}: missing key '{missing[0]}'")
        arrays = {k: f[k][()] for k in want}
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    return arrays, attrs
