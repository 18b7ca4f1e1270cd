"""The NYU Depth v2 labeled file (``nyu_depth_v2_labeled.mat``, MATLAB v7.3 = HDF5): its reader and writer,
and the frame source over it with its ``splits.mat``.

h5py sees MATLAB's dimensions reversed, so on disk (for N frames of 480x640):

=============  ======================  =====================================================
key            h5py shape, dtype       meaning
=============  ======================  =====================================================
images         (N, 3, 640, 480) uint8  RGB; ``images[i].transpose(2, 1, 0)`` is (480, 640, 3)
depths         (N, 640, 480) float32   metres, hole-filled; ``depths[i].T`` is (480, 640)
rawDepths      (N, 640, 480) float32   metres, 0 where the Kinect measured nothing
labels         (N, 640, 480) uint16    0 = unlabeled, 1..894 = 1-based position in ``names``
instances      (N, 640, 480) uint8     instance ids within a label
accelData      (4, N) float32          accelerometer
names          (1, 894) object refs    MATLAB cell array of label names (uint16 char arrays in ``#refs#``)
scenes         (1, N) object refs      the scene of each frame, e.g. ``kitchen_0028``
=============  ======================  =====================================================

The real download and the synthetic default are written in this same layout, so everything downstream
goes through :class:`NYULabeledFile`; :class:`MatFrames` is that file as a
:class:`~depthpipe.data.sources.base.FrameSource`. Frames are read one at a time (bounded memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from depthpipe.data.sources.base import FrameSource, SourceFrame
from depthpipe.data.sources.metadata import read_splits, split_membership
from depthpipe.errors import DepthpipeError

REQUIRED_KEYS = ("images", "depths", "labels")
MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: depthpipe HDF5 schema 1.00 ."
USERBLOCK = 512


@dataclass(frozen=True)
class Frame:
    """One labeled frame in image orientation (H=480 rows, W=640 columns)."""

    index: int  # 0-based position in the file
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres (hole-filled ``depths``)
    label: np.ndarray  # (H, W) uint16, 0 = unlabeled, 1..894 NYU ids
    raw_depth: np.ndarray | None = None  # (H, W) float32 metres, 0 = missing


def _decode_matlab_string(f: h5py.File, ref: h5py.Reference) -> str:
    arr = np.asarray(f[ref][()])
    if arr.dtype.kind in "ui":
        return "".join(chr(int(c)) for c in arr.ravel(order="F") if int(c) != 0)
    return ""  # an empty MATLAB cell holds a uint64 (2,) placeholder


class NYULabeledFile:
    """Reader for a NYU-layout labeled ``.mat``. Use as a context manager.

    Opening checks that the file is HDF5, that ``images``, ``depths`` and ``labels`` exist and that their
    shapes agree; every failure is a :class:`DepthpipeError` naming the file and key.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DepthpipeError(f"{self.path}: file not found")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            reason = str(exc).split("(")[0].strip() or "unreadable"
            raise DepthpipeError(
                f"{self.path}: not a readable MATLAB v7.3 (HDF5) file, truncated or corrupt ({reason})"
            ) from None
        try:
            self._check_layout()
        except BaseException:
            self._f.close()
            raise

    def _check_layout(self) -> None:
        f = self._f
        for key in REQUIRED_KEYS:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise DepthpipeError(
                    f"{self.path}: missing key '{key}' (a NYU labeled .mat needs {', '.join(REQUIRED_KEYS)})"
                )
        images, depths, labels = f["images"], f["depths"], f["labels"]
        if images.ndim != 4 or images.shape[1] != 3:
            raise DepthpipeError(f"{self.path}: key 'images' has shape {images.shape}, expected (N, 3, W, H)")
        n, _, w, h = images.shape
        for key in ("depths", "labels", "rawDepths"):
            if key in f and f[key].shape != (n, w, h):
                raise DepthpipeError(
                    f"{self.path}: key '{key}' has shape {f[key].shape}, expected {(n, w, h)} to match 'images'"
                )
        if images.dtype != np.uint8:
            raise DepthpipeError(f"{self.path}: key 'images' has dtype {images.dtype}, expected uint8")
        if depths.dtype.kind != "f":
            raise DepthpipeError(f"{self.path}: key 'depths' has dtype {depths.dtype}, expected float")
        if labels.dtype.kind not in "ui":
            raise DepthpipeError(f"{self.path}: key 'labels' has dtype {labels.dtype}, expected integer")
        self.n_frames, self.width, self.height = int(n), int(w), int(h)

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> NYULabeledFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def __len__(self) -> int:
        return self.n_frames

    @property
    def has_raw_depth(self) -> bool:
        return "rawDepths" in self._f

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, key: str, i: int) -> np.ndarray:
        try:
            return np.asarray(self._f[key][i])
        except (OSError, RuntimeError, ValueError) as exc:
            raise DepthpipeError(f"{self.path}: frame {i}: cannot read '{key}' ({str(exc).splitlines()[0]})") from None

    def frame(self, i: int, raw_depth: bool = False) -> Frame:
        """Frame ``i`` (0-based) in image orientation."""
        if not 0 <= i < self.n_frames:
            raise DepthpipeError(f"{self.path}: frame {i} out of range 0..{self.n_frames - 1}")
        rgb = np.ascontiguousarray(self._read("images", i).transpose(2, 1, 0))
        depth = np.ascontiguousarray(self._read("depths", i).T.astype(np.float32, copy=False))
        label = np.ascontiguousarray(self._read("labels", i).T.astype(np.uint16, copy=False))
        raw = None
        if raw_depth and self.has_raw_depth:
            raw = np.ascontiguousarray(self._read("rawDepths", i).T.astype(np.float32, copy=False))
        return Frame(index=i, rgb=rgb, depth=depth, label=label, raw_depth=raw)

    def frames(self, indices: Sequence[int] | None = None, raw_depth: bool = False) -> Iterator[Frame]:
        """Yield frames one at a time (all of them, or ``indices`` in the order given)."""
        for i in range(self.n_frames) if indices is None else indices:
            yield self.frame(int(i), raw_depth=raw_depth)

    def _cell_strings(self, key: str) -> list[str]:
        if key not in self._f:
            return []
        refs = np.asarray(self._f[key][()]).ravel()
        return [_decode_matlab_string(self._f, r) for r in refs]

    def names(self) -> list[str]:
        """The label names; label id ``k`` (1-based) is ``names()[k - 1]``."""
        return self._cell_strings("names")

    def scenes(self) -> list[str]:
        """The scene name of each frame."""
        return self._cell_strings("scenes")


class NYULabeledWriter:
    """Writes a NYU-layout labeled ``.mat`` (MATLAB v7.3 header, HDF5 body) frame by frame.

    Deterministic: the same frames give the same bytes (no timestamps in the header or the datasets).
    Frames are gzip-compressed one chunk per frame, as MATLAB does for v7.3 files. The caller owns
    atomicity (write to a temporary path, then rename: see :func:`depthpipe.files.atomic_path`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_frames: int,
        names: Sequence[str],
        height: int = 480,
        width: int = 640,
        compression_level: int = 1,
    ) -> None:
        self.path = Path(path)
        self.n_frames, self.height, self.width = int(n_frames), int(height), int(width)
        self._scenes: list[str] = [""] * self.n_frames
        self._written = np.zeros(self.n_frames, dtype=bool)
        self._f = h5py.File(self.path, "w", userblock_size=USERBLOCK, libver="earliest")
        self._nrefs = 0
        n, w, h = self.n_frames, self.width, self.height
        gz = dict(compression="gzip", compression_opts=compression_level, shuffle=True, track_times=False)

        def make(key: str, shape: tuple[int, ...], dtype: str, mclass: str) -> None:
            ds = self._f.create_dataset(key, shape=shape, dtype=dtype, chunks=(1, *shape[1:]), fillvalue=0, **gz)
            ds.attrs["MATLAB_class"] = np.bytes_(mclass)

        make("images", (n, 3, w, h), "uint8", "uint8")
        make("depths", (n, w, h), "float32", "single")
        make("rawDepths", (n, w, h), "float32", "single")
        make("labels", (n, w, h), "uint16", "uint16")
        make("instances", (n, w, h), "uint8", "uint8")
        accel = self._f.create_dataset("accelData", data=np.zeros((4, n), np.float32), track_times=False)
        accel.attrs["MATLAB_class"] = np.bytes_("single")
        self._write_cell("names", list(names))

    def _string_ref(self, text: str) -> h5py.Reference:
        refs = self._f.require_group("#refs#")
        key = f"s{self._nrefs:06d}"
        self._nrefs += 1
        codes = np.array([ord(c) for c in text] or [0], dtype=np.uint16).reshape(-1, 1)
        ds = refs.create_dataset(key, data=codes, track_times=False)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
        return ds.ref

    def _write_cell(self, key: str, strings: Sequence[str]) -> None:
        refs = [self._string_ref(s) for s in strings]
        ds = self._f.create_dataset(key, shape=(1, len(refs)), dtype=h5py.ref_dtype, track_times=False)
        ds[0, :] = refs
        ds.attrs["MATLAB_class"] = np.bytes_("cell")

    def write(
        self,
        i: int,
        rgb: np.ndarray,
        depth: np.ndarray,
        label: np.ndarray,
        raw_depth: np.ndarray | None = None,
        instance: np.ndarray | None = None,
        scene: str = "",
    ) -> None:
        """Write frame ``i`` given in image orientation: rgb (H,W,3) uint8, depth/raw (H,W) metres, label (H,W)."""
        hw = (self.height, self.width)
        for name, arr, shape in (("rgb", rgb, (*hw, 3)), ("depth", depth, hw), ("label", label, hw)):
            if arr.shape != shape:
                raise DepthpipeError(f"{self.path}: frame {i}: {name} has shape {arr.shape}, expected {shape}")
        self._f["images"][i] = np.asarray(rgb, np.uint8).transpose(2, 1, 0)
        self._f["depths"][i] = np.asarray(depth, np.float32).T
        self._f["rawDepths"][i] = np.asarray(depth if raw_depth is None else raw_depth, np.float32).T
        self._f["labels"][i] = np.asarray(label, np.uint16).T
        if instance is not None:
            self._f["instances"][i] = np.asarray(instance, np.uint8).T
        self._scenes[i] = scene
        self._written[i] = True

    def close(self) -> None:
        """Write the per-frame cell arrays and the MATLAB header, then close the file."""
        if not self._f:
            return
        missing = np.flatnonzero(~self._written)
        if missing.size:
            self._f.close()
            raise DepthpipeError(f"{self.path}: frames {missing[:5].tolist()}... were never written")
        self._write_cell("scenes", self._scenes)
        self._write_cell("sceneTypes", [s.rsplit("_", 1)[0] for s in self._scenes])
        self._f.close()
        with open(self.path, "r+b") as fh:
            header = MATLAB_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
            fh.write(header.ljust(USERBLOCK, b"\x00"))

    def __enter__(self) -> NYULabeledWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif self._f:
            self._f.close()


class MatFrames(FrameSource):
    """A NYU-layout labeled ``.mat`` (:class:`NYULabeledFile`) with its ``splits.mat``."""

    kind, has_labels, handles = "nyu_mat", True, ("_nyu",)

    def __init__(self, mat_path: str | os.PathLike[str], splits_path: str | os.PathLike[str]) -> None:
        super().__init__(mat_path)
        self.splits_path = Path(splits_path)
        self._nyu: NYULabeledFile | None = None
        self.n_frames = len(self._file())
        self._scenes: list[str] | None = None

    def _file(self) -> NYULabeledFile:
        if self._nyu is None:
            self._nyu = NYULabeledFile(self.path)
        return self._nyu

    def __len__(self) -> int:
        return self.n_frames

    def membership(self) -> list[str]:
        return split_membership(self.splits_path, self.n_frames)

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        return read_splits(self.splits_path, self.n_frames)  # strict: a frame in both splits is an error

    def full_size(self, i: int) -> tuple[int, int]:
        return self._file().height, self._file().width

    def scene(self, i: int) -> str:
        if self._scenes is None:
            self._scenes = self._file().scenes()
        return self._scenes[i] if i < len(self._scenes) else ""

    def frame(self, i: int) -> SourceFrame:
        fr = self._file().frame(i)
        return SourceFrame(fr.index, f"{self.path}: frame {i}", fr.rgb, fr.depth, fr.label)

    def close(self) -> None:
        if self._nyu is not None:
            self._nyu.close()
            self._nyu = None
