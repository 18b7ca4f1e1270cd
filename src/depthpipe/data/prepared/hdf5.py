"""The prepared-data format: one HDF5 file per split in one of two layouts, its writers and its one reader.

``data/prepared/{train,test}.h5``, layout ``arrays`` (``prepare.layout``; the default), hold, for the N
frames of the split in split order:

===========  =====================  ==========================================================
dataset      shape, dtype           meaning
===========  =====================  ==========================================================
rgb          (N, H, W, 3) uint8     the image at the model input size (area/bilinear resize)
depth        (N, h, w) float32      metres at the output size; 0 where invalid
target       (N, h, w) float32      reciprocal target ``m / clip(depth, min_depth, m)``; 0 where invalid
mask         (N, h, w) uint8        1 where the resized depth is valid (at least half its footprint valid)
label        (N, h, w) uint8        40-class ids (1..40), 0 = void (nearest-neighbour resize); all 0 for a
                                    source without labels
index        (N,) int32             1-based frame index in the source
depth_full   (N, Hf, Wf) float32    test only: the full-resolution ground truth for evaluation (0 = invalid)
label_full   (N, Hf, Wf) uint8      test only, and only for a source with labels: full-resolution labels
===========  =====================  ==========================================================

Layout ``encoded`` (for 50K frames at 480x640, where the arrays would take 46 GB) keeps every frame at full
resolution as encoded bytes and leaves resizing and the targets to load time:

==================  ================  ============================================================
rgb_bytes           (B,) uint8        every frame's JPEG or PNG, one after another (64 KiB chunks)
rgb_offsets         (N+1,) int64      frame i is ``rgb_bytes[rgb_offsets[i]:rgb_offsets[i+1]]``
depth_bytes, _offs  likewise          grayscale PNG, 8- or 16-bit (its header says which)
depth_scale         (N,) float64      metres per depth-PNG unit (0.001: millimetres; 10/255: 8-bit)
label_bytes, _offs  likewise          8-bit PNG of the 40-class ids; no bytes for a frame without labels
index               (N,) int32        as above
==================  ================  ============================================================

Frames the source holds encoded (``nyu_data.zip``) are stored as they are; decoded ones (``.mat``, ``.h5``)
are encoded by prepare (RGB as ``prepare.rgb_codec``, depth as 16-bit millimetres). Both layouts carry the
attributes of :class:`SplitInfo`. :class:`SplitWriter` / :class:`EncodedSplitWriter` write them (the prepare
stage); :class:`PreparedSplit` reads either and returns the same arrays: for the encoded layout it decodes
(``torchvision.io``) and resizes each frame with :func:`depthpipe.data.prepared.transforms.frame_arrays` when read, so
in training that work happens in the DataLoader workers. Trainer, evaluate and export see no difference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from depthpipe.data.codec import decode_gray_png, decode_rgb, depth_metres
from depthpipe.data.prepared.transforms import DEPTH_KEYS, TARGET_RESIZES, frame_arrays
from depthpipe.errors import DepthpipeError

TRAIN, TEST = "train", "test"
ARRAYS, ENCODED = "arrays", "encoded"
ARRAY_KEYS = ("rgb", "depth", "target", "mask", "label", "index")
FULL_RES_KEYS = ("depth_full", "label_full")
STREAMS = ("rgb", "depth", "label")  # the encoded layout's byte streams
BLOB_CHUNK = 1 << 16


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
    has_labels: bool = True  # False: a source without semantic labels (the raw-derived sets)
    layout: str = ARRAYS
    target_resize: str = "area"  # prepare.target_resize: how the encoded layout's reader makes the targets

    def to_attrs(self) -> dict[str, object]:
        """The HDF5 attributes; ``has_labels``, ``layout`` and ``target_resize`` only where not the default, so
        files of the labeled sources in the arrays layout keep their bytes."""
        optional = ("class_names", "has_labels", "layout", "target_resize")
        attrs = {k: v for k, v in asdict(self).items() if k not in optional}
        for key in ("input_size", "output_size", "full_size"):
            attrs[key] = np.asarray(attrs[key], np.int32)
        extra = ({} if self.has_labels else {"has_labels": 0}) | (
            {} if self.layout == ARRAYS else {"layout": self.layout}
        )
        if self.target_resize != "area":
            extra["target_resize"] = self.target_resize
        return attrs | {"class_names": json.dumps(list(self.class_names)), "num_classes": len(self.class_names)} | extra

    def keys(self) -> tuple[str, ...]:
        """The datasets :meth:`PreparedSplit.read` serves for this split."""
        full = ("depth_full", "label_full") if self.has_labels else ("depth_full",)
        return ARRAY_KEYS + (full if self.split == TEST else ())

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], where: Path) -> SplitInfo:
        target_resize = str(attrs.get("target_resize", "area"))
        if target_resize not in TARGET_RESIZES:
            raise DepthpipeError(f"{where}: target_resize '{target_resize}' is not one of {', '.join(TARGET_RESIZES)}")
        try:
            return cls(
                str(attrs["split"]),
                _pair(attrs["input_size"]),
                _pair(attrs["output_size"]),
                _pair(attrs["full_size"]),
                float(attrs["min_depth"]),
                float(attrs["max_depth"]),
                tuple(json.loads(str(attrs["class_names"]))),
                str(attrs["source"]),
                str(attrs["source_sha256"]),
                float(attrs.get("mean_depth", np.nan)),
                bool(attrs.get("has_labels", 1)),
                str(attrs.get("layout", ARRAYS)),
                target_resize,
            )
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
        spec = {
            "rgb": ((n, H, W, 3), np.uint8),
            "depth": ((n, h, w), np.float32),
            "target": ((n, h, w), np.float32),
            "mask": ((n, h, w), np.uint8),
            "label": ((n, h, w), np.uint8),
        }
        if full_res:
            spec |= {"depth_full": ((n, *info.full_size), np.float32)}
            if info.has_labels:
                spec |= {"label_full": ((n, *info.full_size), np.uint8)}
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


class EncodedSplitWriter:
    """Buffered writer of the encoded layout: each frame's bytes appended, a chunk of frames at a time."""

    def __init__(self, path: Path, n: int, info: SplitInfo, chunk_frames: int) -> None:
        self.f = h5py.File(path, "w", libver="earliest")
        self.pos, self.chunk = 0, max(1, min(chunk_frames, n))
        for stream in STREAMS:
            self.f.create_dataset(
                f"{stream}_bytes", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(BLOB_CHUNK,), track_times=False
            )
            self.f.create_dataset(f"{stream}_offsets", shape=(n + 1,), dtype=np.int64, track_times=False)
        self.f.create_dataset("depth_scale", shape=(n,), dtype=np.float64, track_times=False)
        self.f.create_dataset("index", shape=(n,), dtype=np.int32, track_times=False)
        self.f.attrs.update(info.to_attrs())
        self.buf: list[Mapping[str, Any]] = []

    def add(self, item: Mapping[str, object]) -> None:
        """Append one frame: ``rgb_bytes``, ``depth_bytes``, ``label_bytes`` (``b""``: no labels),
        ``depth_scale`` and ``index``."""
        self.buf.append(item)
        if len(self.buf) == self.chunk:
            self.flush()

    def flush(self) -> None:
        k = len(self.buf)
        if not k:
            return
        for stream in STREAMS:
            blobs = [np.frombuffer(item[f"{stream}_bytes"], np.uint8) for item in self.buf]
            data, start = self.f[f"{stream}_bytes"], self.f[f"{stream}_bytes"].shape[0]
            ends = start + np.cumsum([b.size for b in blobs], dtype=np.int64)
            if ends[-1] > start:
                data.resize((int(ends[-1]),))
                data[start:] = np.concatenate(blobs)
            self.f[f"{stream}_offsets"][self.pos + 1 : self.pos + k + 1] = ends
        self.f["depth_scale"][self.pos : self.pos + k] = [item["depth_scale"] for item in self.buf]
        self.f["index"][self.pos : self.pos + k] = [item["index"] for item in self.buf]
        self.pos += k
        self.buf.clear()

    def set_statistics(self, mean_depth: float) -> None:
        """Record the split's statistics (known only once every frame was added)."""
        self.f.attrs["mean_depth"] = mean_depth

    def close(self) -> None:
        self.flush()
        self.f.close()


def open_writer(
    path: Path, n: int, info: SplitInfo, chunk_frames: int, full_res: bool
) -> SplitWriter | EncodedSplitWriter:
    """The writer of ``info.layout`` (the encoded layout always keeps full resolution)."""
    if info.layout == ENCODED:
        return EncodedSplitWriter(path, n, info, chunk_frames)
    return SplitWriter(path, n, info, chunk_frames, full_res)


class PreparedSplit:
    """Read access to one prepared split in either layout; picklable (each DataLoader worker opens its own
    handle)."""

    def __init__(self, path: str | os.PathLike[str], keys: Sequence[str] = ()) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DepthpipeError(f"{self.path}: prepared data not found (run `dvc repro prepare`)")
        with self._open() as f:
            self.info = SplitInfo.from_attrs(dict(f.attrs), self.path)
            self.keys = tuple(f.keys()) if self.info.layout == ARRAYS else self.info.keys()
            missing = [k for k in ("rgb", "index", *keys) if k not in self.keys]
            if missing:
                raise DepthpipeError(f"{self.path}: missing dataset '{missing[0]}' (rerun `dvc repro prepare`)")
            self.n_frames = int(f["index"].shape[0])
        self._f: h5py.File | None = None
        self._tables: dict[str, np.ndarray] = {}  # encoded layout: offsets and depth scales, read once

    def __len__(self) -> int:
        return self.n_frames

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_f": None, "_tables": {}}

    def _open(self) -> h5py.File:
        """The file, read-only; one that HDF5 cannot open (truncated, not HDF5) is a one-line error naming it."""
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DepthpipeError(
                f"{self.path}: not a readable HDF5 file ({' '.join(str(exc).split())}); remake it with "
                f"`dvc repro prepare` (then `dvc repro` runs what depends on it again)"
            ) from None

    def _file(self) -> h5py.File:
        if self._f is None:
            self._f = self._open()
        return self._f

    def read(self, key: str, positions: Sequence[int] | np.ndarray | slice) -> np.ndarray:
        """Frames ``positions`` (any order, repeats allowed, or a slice) of dataset ``key``."""
        return self.read_many((key,), positions)[key]

    def read_many(self, keys: Sequence[str], positions: Sequence[int] | np.ndarray | slice) -> dict[str, np.ndarray]:
        """Several datasets of the same frames; the encoded layout decodes each frame once for all of them."""
        unknown = [k for k in keys if k not in self.keys]
        if unknown:
            raise DepthpipeError(f"{self.path}: no dataset '{unknown[0]}' (has: {', '.join(self.keys)})")
        if self.info.layout == ARRAYS or all(k == "index" for k in keys):
            return {k: self._stored(k, positions) for k in keys}
        pos = np.arange(self.n_frames)[positions] if isinstance(positions, slice) else np.asarray(positions)
        frames = [self._decode(int(p), keys) for p in pos.astype(np.int64).ravel()]
        out = {k: np.stack([fr[k] for fr in frames]) for k in keys if k != "index"}
        return {k: self._stored(k, pos) if k == "index" else out[k] for k in keys}

    def _stored(self, key: str, positions: Sequence[int] | np.ndarray | slice) -> np.ndarray:
        if isinstance(positions, slice):
            return self._file()[key][positions]
        pos = np.asarray(positions, dtype=np.int64)
        # h5py reads strictly increasing indices: read the unique positions in order, then restore the order asked
        unique, inverse = np.unique(pos, return_inverse=True)
        return self._file()[key][unique][inverse.reshape(-1)]

    def _bytes(self, stream: str, i: int) -> np.ndarray:
        offsets = self._table(f"{stream}_offsets")
        return self._file()[f"{stream}_bytes"][offsets[i] : offsets[i + 1]]

    def _table(self, name: str) -> np.ndarray:
        if name not in self._tables:
            self._tables[name] = self._file()[name][()]
        return self._tables[name]

    def _decode(self, i: int, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays ``keys`` of frame ``i`` of the encoded layout, exactly as the arrays layout holds them."""
        where, info = f"{self.path}: frame {i}", self.info
        rgb = decode_rgb(self._bytes("rgb", i), where) if "rgb" in keys else None
        depth = label40 = None
        if any(k in keys for k in (*DEPTH_KEYS, "depth_full")):
            depth = depth_metres(decode_gray_png(self._bytes("depth", i), where)[0], self._table("depth_scale")[i])
        if any(k in keys for k in ("label", "label_full")):
            blob = self._bytes("label", i)
            label40 = decode_gray_png(blob, where)[0] if blob.size else None
        return frame_arrays(
            rgb,
            depth,
            label40,
            [k for k in keys if k != "index"],
            info.input_size,
            info.output_size,
            info.min_depth,
            info.max_depth,
            info.target_resize,
        )

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
