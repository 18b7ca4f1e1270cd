"""The prepared-data format: one chunked HDF5 file per split, what it holds, and its one writer and reader.

``data/prepared/{train,test}.h5`` hold, for the N frames of the split in split-file order:

===========  =====================  ==========================================================
dataset      shape, dtype           meaning
===========  =====================  ==========================================================
rgb          (N, H, W, 3) uint8     the image at the model input size (area/bilinear resize)
depth        (N, h, w) float32      metres at the output size; 0 where invalid
target       (N, h, w) float32      reciprocal target ``m / clip(depth, min_depth, m)``; 0 where invalid
mask         (N, h, w) uint8        1 where the resized depth is valid (at least half its footprint valid)
label        (N, h, w) uint8        40-class ids (1..40), 0 = void (nearest-neighbour resize)
index        (N,) int32             1-based frame index in the source file
depth_full   (N, Hf, Wf) float32    test only: the full-resolution ground truth for evaluation (0 = invalid)
label_full   (N, Hf, Wf) uint8      test only: full-resolution 40-class labels
===========  =====================  ==========================================================

and the attributes of :class:`SplitInfo`. Chunks hold ``chunk_frames`` whole frames, so a batch is a few
large reads. :class:`SplitWriter` writes it (the prepare stage), :class:`PreparedSplit` reads it (training,
evaluation, export).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np

from depthpipe.errors import DepthpipeError

TRAIN, TEST = "train", "test"
FULL_RES_KEYS = ("depth_full", "label_full")


def split_path(prepared_dir: str | os.PathLike[str], split: str) -> Path:
    """``<prepared_dir>/<split>.h5``."""
    return Path(prepared_dir) / f"{split}.h5"


@dataclass(frozen=True)
class SplitInfo:
    """The attributes of a prepared split: sizes, depth range, classes, provenance and statistics."""

    split: str
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    full_size: tuple[int, int]
    min_depth: float
    max_depth: float
    class_names: tuple[str, ...]
    source: str
    source_sha256: str
    mean_depth: float = float("nan")  # metres, over the valid pixels at the output size

    def to_attrs(self) -> dict[str, object]:
        attrs = {k: v for k, v in asdict(self).items() if k != "class_names"}
        for key in ("input_size", "output_size", "full_size"):
            attrs[key] = np.asarray(attrs[key], np.int32)
        return attrs | {"class_names": json.dumps(list(self.class_names)), "num_classes": len(self.class_names)}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, object], where: Path) -> "SplitInfo":
        try:
            return cls(str(attrs["split"]), _pair(attrs["input_size"]), _pair(attrs["output_size"]),
                       _pair(attrs["full_size"]), float(attrs["min_depth"]), float(attrs["max_depth"]),
                       tuple(json.loads(str(attrs["class_names"]))), str(attrs["source"]),
                       str(attrs["source_sha256"]), float(attrs.get("mean_depth", np.nan)))
        except KeyError as exc:
            raise DepthpipeError(f"{where}: missing attribute {exc} (made by another version: rerun prepare)") from None


def _pair(value: object) -> tuple[int, int]:
    a, b = (int(v) for v in np.asarray(value).ravel())
    return a, b


class SplitWriter:
    """Buffered writer of one split file: frames are added in order and written a chunk at a time."""

    def __init__(self, path: Path, n: int, info: SplitInfo, chunk_frames: int, full_res: bool) -> None:
        self.f = h5py.File(path, "w", libver="earliest")
        self.pos, self.chunk = 0, max(1, min(chunk_frames, n))
        (H, W), (h, w) = info.input_size, info.output_size
        spec = {"rgb": ((n, H, W, 3), np.uint8), "depth": ((n, h, w), np.float32),
                "target": ((n, h, w), np.float32), "mask": ((n, h, w), np.uint8), "label": ((n, h, w), np.uint8)}
        if full_res:
            spec |= {"depth_full": ((n, *info.full_size), np.float32), "label_full": ((n, *info.full_size), np.uint8)}
        for key, (shape, dtype) in spec.items():
            self.f.create_dataset(key, shape=shape, dtype=dtype, chunks=(self.chunk, *shape[1:]), track_times=False)
        self.f.create_dataset("index", shape=(n,), dtype=np.int32, track_times=False)
        self.f.attrs.update(info.to_attrs())
        self.buf: dict[str, list[np.ndarray]] = {k: [] for k in (*spec, "index")}

    def add(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one frame's arrays (every dataset of the file, ``index`` included)."""
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

    def set_statistics(self, mean_depth: float) -> None:
        """Record the split's statistics (known only once every frame was added)."""
        self.f.attrs["mean_depth"] = mean_depth

    def close(self) -> None:
        self.flush()
        self.f.close()


class PreparedSplit:
    """Read access to one prepared split; picklable (each DataLoader worker opens its own handle)."""

    def __init__(self, path: str | os.PathLike[str], keys: Sequence[str] = ()) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DepthpipeError(f"{self.path}: prepared data not found (run `dvc repro prepare`)")
        with h5py.File(self.path, "r") as f:
            missing = [k for k in ("rgb", "index", *keys) if k not in f]
            if missing:
                raise DepthpipeError(f"{self.path}: missing dataset '{missing[0]}' (rerun `dvc repro prepare`)")
            self.n_frames = int(f["rgb"].shape[0])
            self.keys = tuple(f.keys())
            self.info = SplitInfo.from_attrs(dict(f.attrs), self.path)
        self._f: h5py.File | None = None

    def __len__(self) -> int:
        return self.n_frames

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_f": None}

    def _file(self) -> h5py.File:
        if self._f is None:
            self._f = h5py.File(self.path, "r")
        return self._f

    def read(self, key: str, positions: Sequence[int] | slice) -> np.ndarray:
        """Frames ``positions`` (any order, repeats allowed, or a slice) of dataset ``key``."""
        if isinstance(positions, slice):
            return self._file()[key][positions]
        pos = np.asarray(positions, dtype=np.int64)
        # h5py reads strictly increasing indices: read the unique positions in order, then restore the order asked
        unique, inverse = np.unique(pos, return_inverse=True)
        return self._file()[key][unique][inverse.reshape(-1)]

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
