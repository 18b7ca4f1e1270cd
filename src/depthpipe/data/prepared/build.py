"""Building the prepared data: a frame source -> one training-ready HDF5 per split, plus a manifest.

Frames come from any :class:`~depthpipe.data.sources.base.FrameSource` (a labeled ``.mat`` with its split,
``nyu_data.zip``, the ``nyudepthv2`` tree), are read and transformed one at a time (optionally in a pool of
worker processes, with a bounded number in flight) and written a chunk at a time in
:mod:`depthpipe.data.prepared.hdf5`'s format, in the layout ``prepare.layout`` names: ``arrays`` (resized arrays
and targets) or ``encoded`` (the frames' JPEG/PNG bytes at full resolution; resizing and targets happen at
load time). Memory stays bounded whatever the frame count. Outputs are byte-identical for the same inputs
(no timestamps, deterministic resampling and encoders), whatever the worker count. ``manifest.csv`` lists
split, position, source index, scene and valid fractions per frame.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depthpipe.config import PrepareConfig
from depthpipe.data.codec import MM, depth_metres, depth_to_mm, encode_jpeg, encode_png
from depthpipe.data.prepared.hdf5 import (
    ARRAY_KEYS,
    ENCODED,
    FULL_RES_KEYS,
    TEST,
    TRAIN,
    SplitInfo,
    open_writer,
    split_path,
)
from depthpipe.data.prepared.transforms import (
    DEPTH_KEYS,
    frame_arrays,
    map_labels_40,
    valid_depth,
)
from depthpipe.data.sources.base import FrameSource, SourceFrame
from depthpipe.data.sources.metadata import load_class_mapping
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path, write_text_atomic

IN_FLIGHT_PER_WORKER = 16  # frames handed to the pool per worker before the writer catches up


# -- per-frame work (in this process or in a pool of workers) -------------------------------------------
def encode_frame(fr: SourceFrame, label40: np.ndarray | None, cfg: PrepareConfig) -> tuple[dict, np.ndarray]:
    """The encoded layout's entry for one frame, and its depth in metres as stored (what a reader gets back).

    The source's own bytes are kept as they are; decoded frames are encoded here (RGB as ``prepare.rgb_codec``,
    depth as a 16-bit millimetre PNG, labels as an 8-bit PNG).
    """
    if fr.encoded is not None:
        rgb_bytes, depth_bytes, scale, stored = fr.encoded.rgb, fr.encoded.depth, fr.encoded.depth_scale, fr.depth
    else:
        rgb_bytes = encode_jpeg(fr.rgb, cfg.jpeg_quality) if cfg.rgb_codec == "jpeg" else encode_png(fr.rgb)
        mm = depth_to_mm(fr.depth)
        depth_bytes, scale, stored = encode_png(mm), MM, depth_metres(mm, MM)
    item = {
        "rgb_bytes": rgb_bytes,
        "depth_bytes": depth_bytes,
        "depth_scale": float(scale),
        "label_bytes": encode_png(label40) if label40 is not None else b"",
        "index": np.int32(fr.index + 1),
    }
    return item, stored


def process_frame(
    source: FrameSource, i: int, cfg: PrepareConfig, lut: np.ndarray, full_res: bool, full_size: tuple[int, int]
) -> tuple[dict, dict]:
    """What the split file holds for frame ``i`` (0-based) in ``cfg.layout``, plus statistics for the summary."""
    fr = source.frame(i)
    if fr.rgb.shape[:2] != tuple(full_size) or fr.depth.shape != tuple(full_size):
        raise DepthpipeError(
            f"{fr.name}: frame is {fr.rgb.shape[0]}x{fr.rgb.shape[1]}, expected "
            f"{full_size[0]}x{full_size[1]} like the split's first frame"
        )
    lab40 = map_labels_40(fr.label, lut, fr.name) if fr.label is not None else None
    sizes = (cfg.input_size, cfg.output_size, cfg.min_depth, cfg.max_depth, cfg.target_resize)
    if cfg.layout == ENCODED:
        item, depth = encode_frame(fr, lab40, cfg)
        arrays = frame_arrays(None, depth, None, DEPTH_KEYS, *sizes)
    else:
        keys = ARRAY_KEYS[:-1] + (FULL_RES_KEYS if full_res else ())
        arrays = frame_arrays(fr.rgb, fr.depth, lab40, keys, *sizes)
        item = arrays | {"index": np.int32(i + 1)}
        depth = fr.depth
    valid_o = arrays["mask"].astype(bool)
    stats = {
        "depth_sum": float(arrays["depth"][valid_o].astype(np.float64).sum()),
        "depth_count": int(valid_o.sum()),
        "valid_fraction": float(valid_depth(depth, cfg.max_depth).mean()),
        "valid_fraction_out": float(valid_o.mean()),
    }
    return item, stats


_worker_state: dict = {}  # per worker process: its own copy of the source (handles reopen there) and settings


def _init_worker(
    source: FrameSource, cfg: PrepareConfig, lut: np.ndarray, full_res: bool, full_size: tuple[int, int]
) -> None:
    _worker_state.update(source=source, cfg=cfg, lut=lut, full_res=full_res, full_size=full_size)


def _work(i: int) -> tuple[int, dict, dict]:
    st = _worker_state
    return (i, *process_frame(st["source"], i, st["cfg"], st["lut"], st["full_res"], st["full_size"]))


def _processed_frames(
    source: FrameSource,
    indices: np.ndarray,
    cfg: PrepareConfig,
    lut: np.ndarray,
    full_res: bool,
    full_size: tuple[int, int],
) -> Iterator[tuple[int, dict, dict]]:
    """``(i, entry, stats)`` for each frame of ``indices``, in order; with ``cfg.workers > 1`` from a process
    pool, at most ``workers * IN_FLIGHT_PER_WORKER`` frames ahead of the writer (bounded memory)."""
    order = [int(i) for i in indices]
    if cfg.workers <= 1:
        for i in order:
            yield (i, *process_frame(source, i, cfg, lut, full_res, full_size))
        return
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited HDF5 or zip handles
    window = cfg.workers * IN_FLIGHT_PER_WORKER
    with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(source, cfg, lut, full_res, full_size)) as pool:
        for start in range(0, len(order), window):
            yield from pool.imap(_work, order[start : start + window], chunksize=4)


# -- a whole source ------------------------------------------------------------------------------------
def prepare_source(
    frames: FrameSource,
    class_mapping_path: Path,
    out_dir: Path,
    cfg: PrepareConfig,
    source_sha256: str = "",
    source: str = "",
    progress: bool = True,
) -> dict:
    """Prepare ``frames`` into ``out_dir``; returns a summary (frames per split, sizes, mean depths).

    ``cfg.workers`` processes read and transform frames in order while this process writes (0 or 1: this
    process alone); the output bytes do not depend on it. Every frame of a split must have the size of the
    split's first frame.
    """
    lut, names40, _ = load_class_mapping(class_mapping_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    summary: dict = {"input_size": list(cfg.input_size), "output_size": list(cfg.output_size), "layout": cfg.layout}
    for split, indices in zip((TRAIN, TEST), frames.split_indices()):
        if not len(indices):
            raise DepthpipeError(f"{frames.path}: the {split} split has no frames")
        info = SplitInfo(
            split,
            cfg.input_size,
            cfg.output_size,
            frames.full_size(int(indices[0])),
            cfg.min_depth,
            cfg.max_depth,
            tuple(names40),
            source,
            source_sha256,
            has_labels=frames.has_labels,
            layout=cfg.layout,
            target_resize=cfg.target_resize,
        )
        rows, mean_depth = _write_split(frames, indices, info, cfg, lut, split_path(out_dir, split), progress)
        manifest += [{**r, "scene": frames.scene(r["nyu_index"] - 1)} for r in rows]
        summary[f"{split}_frames"] = int(len(indices))
        summary[f"{split}_mean_depth"] = round(mean_depth, 6)
    columns = ["split", "position", "nyu_index", "scene", "valid_fraction", "valid_fraction_out"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(manifest)
    write_text_atomic(out_dir / "manifest.csv", buf.getvalue())
    return summary


def _write_split(
    frames: FrameSource,
    indices: np.ndarray,
    info: SplitInfo,
    cfg: PrepareConfig,
    lut: np.ndarray,
    final: Path,
    progress: bool,
) -> tuple[list[dict], float]:
    """Write one split file atomically; returns its manifest rows and mean depth."""
    full_res = info.split == TEST
    rows: list[dict] = []
    sums = {"depth_sum": 0.0, "depth_count": 0}
    with atomic_path(final) as tmp:
        writer = open_writer(tmp, len(indices), info, cfg.chunk_frames, full_res)
        try:
            done = _processed_frames(frames, indices, cfg, lut, full_res, info.full_size)
            for pos, (i, entry, stats) in enumerate(
                tqdm(done, total=len(indices), desc=f"prepare {info.split}", unit="frame", disable=not progress)
            ):
                writer.add(entry)
                for key in sums:
                    sums[key] += stats[key]
                rows.append(
                    {
                        "split": info.split,
                        "position": pos,
                        "nyu_index": i + 1,
                        "valid_fraction": f"{stats['valid_fraction']:.6f}",
                        "valid_fraction_out": f"{stats['valid_fraction_out']:.6f}",
                    }
                )
            mean_depth = sums["depth_sum"] / max(sums["depth_count"], 1)
            writer.set_statistics(mean_depth)
        finally:
            writer.close()
    return rows, mean_depth
