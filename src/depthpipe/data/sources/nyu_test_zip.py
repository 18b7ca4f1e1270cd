"""DenseDepth's ``nyu_test.zip`` read in place, and ``nyu_data.zip`` with its test split taken from it.

``nyu_test.zip`` is the test set DenseDepth's ``evaluate.py`` scores (``data.nyu_test``): three NumPy arrays,
``eigen_test_rgb.npy`` (654, 480, 640, 3) uint8, ``eigen_test_depth.npy`` (654, 480, 640) float32 metres and
``eigen_test_crop.npy`` (the crop its evaluation applies: first and last row, first and last column, inclusive;
it must be :data:`DENSEDEPTH_CROP`, the ``densedepth`` protocol's, or reading the file is a one-line error).
:class:`NyuTestZip` reads one frame at a time from the two large members (their ``.npy`` headers give the
offset of frame ``i``), never the 1.4 GB whole; a missing member, a header that is not a C-ordered array of the
right dtype and shape, or a member cut short is a one-line error naming the member.
:class:`Nyu50kWithTestZip` is what ``data.nyu_test.use`` makes of ``data/raw``: ``nyu_data.zip``'s train frames,
then ``nyu_test.zip``'s frames as the test split (in place of the zip's own 654 test PNGs).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from typing import IO

import numpy as np

from depthpipe.data.sources.base import TEST, TRAIN, FrameSource, SourceFrame
from depthpipe.data.sources.nyu50k import Nyu50kZip, open_zip
from depthpipe.errors import DepthpipeError

RGB_MEMBER, DEPTH_MEMBER, CROP_MEMBER = "eigen_test_rgb.npy", "eigen_test_depth.npy", "eigen_test_crop.npy"
MEMBERS = (RGB_MEMBER, DEPTH_MEMBER, CROP_MEMBER)
# The densedepth protocol's crop (depthpipe.metrics.depth.CROPS_480x640, rows 20:460, cols 24:616 half-open) as
# eigen_test_crop.npy holds it: first row, last row, first column, last column, inclusive.
DENSEDEPTH_CROP = (20, 459, 24, 615)


@dataclasses.dataclass(frozen=True)
class NpyLayout:
    """Where the frames of a ``.npy`` member lie: the data offset, the array's shape and dtype."""

    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def frame_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize


def read_npy_layout(stream: IO[bytes], where: str) -> NpyLayout:
    """The header of the ``.npy`` file ``stream`` is at the start of (left just past it)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DepthpipeError(f"{where}: not a readable .npy array ({str(exc).splitlines()[0]})") from None
    if fortran:
        raise DepthpipeError(f"{where}: a Fortran-ordered array; expected C order (as numpy.save writes it)")
    return NpyLayout(stream.tell(), tuple(int(v) for v in shape), np.dtype(dtype))


class NyuTestZip(FrameSource):
    """The frames of a ``nyu_test.zip``, all in the test split; see the module docstring."""

    kind, has_labels, handles = "nyu_test_zip", False, ("_zip", "_streams")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._zip: zipfile.ZipFile | None = None
        self._streams: dict[str, IO[bytes]] | None = None
        try:
            self._check()
        finally:
            self.close()  # reopened on first use (and a pickled copy reopens its own)

    def _check(self) -> None:
        """The three members there, the two arrays' headers of the right dtype and shape, the crop read."""
        names = set(self._archive().namelist())
        for member in MEMBERS:
            if member not in names:
                raise DepthpipeError(
                    f"{self.path}: missing member '{member}' (DenseDepth's nyu_test.zip holds {', '.join(MEMBERS)})"
                )
        self.rgb_layout = self._layout(RGB_MEMBER)
        self.depth_layout = self._layout(DEPTH_MEMBER)
        rgb, depth = self.rgb_layout, self.depth_layout
        if len(rgb.shape) != 4 or rgb.shape[3] != 3 or rgb.dtype != np.uint8:
            raise DepthpipeError(f"{self.path}: {RGB_MEMBER}: expected uint8 (N, H, W, 3), got {rgb.dtype} {rgb.shape}")
        if depth.shape != rgb.shape[:3] or depth.dtype != np.float32:
            raise DepthpipeError(
                f"{self.path}: {DEPTH_MEMBER}: expected float32 metres {rgb.shape[:3]} (the (N, H, W) of "
                f"{RGB_MEMBER}), got {depth.dtype} {depth.shape}"
            )
        self.crop = self._read_crop()

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = open_zip(self.path)
        return self._zip

    def _stream(self, member: str) -> IO[bytes]:
        if self._streams is None:
            self._streams = {}
        if member not in self._streams:
            try:
                self._streams[member] = self._archive().open(member)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DepthpipeError(f"{self.path}: {member}: unreadable member ({exc})") from None
        return self._streams[member]

    def _layout(self, member: str) -> NpyLayout:
        stream = self._stream(member)
        stream.seek(0)
        return read_npy_layout(stream, f"{self.path}: {member}")

    def _read_crop(self) -> tuple[int, int, int, int]:
        """``eigen_test_crop``: (first row, last row, first column, last column), inclusive, as DenseDepth's
        evaluate.py indexes ``[crop[0]:crop[1] + 1, crop[2]:crop[3] + 1]``; anything but :data:`DENSEDEPTH_CROP`
        is an error, since the densedepth protocol scores that crop."""
        where = f"{self.path}: {CROP_MEMBER}"
        stream = self._stream(CROP_MEMBER)
        stream.seek(0)
        try:
            crop = np.load(stream, allow_pickle=False)
        except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise DepthpipeError(f"{where}: not a readable .npy array ({str(exc).splitlines()[0]})") from None
        if crop.shape != (4,) or not np.issubdtype(crop.dtype, np.number):
            raise DepthpipeError(f"{where}: expected 4 numbers (row0, row1, col0, col1), got {crop.dtype} {crop.shape}")
        r0, r1, c0, c1 = (int(v) for v in crop)
        if (r0, r1, c0, c1) != DENSEDEPTH_CROP:
            raise DepthpipeError(
                f"{where}: crop {[r0, r1, c0, c1]} differs from the densedepth protocol's {list(DENSEDEPTH_CROP)} "
                "(first row, last row, first column, last column, inclusive)"
            )
        return r0, r1, c0, c1

    def _read(self, member: str, layout: NpyLayout, i: int) -> np.ndarray:
        stream, size = self._stream(member), layout.frame_bytes
        try:
            stream.seek(layout.offset + i * size)
            data = stream.read(size)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise DepthpipeError(f"{self.path}: {member}: unreadable member at frame {i} ({exc})") from None
        if len(data) != size:
            raise DepthpipeError(
                f"{self.path}: {member}: cut short at frame {i} (its header says {layout.shape[0]} frames)"
            )
        return np.frombuffer(data, dtype=layout.dtype).reshape(layout.shape[1:]).copy()

    def __len__(self) -> int:
        return self.rgb_layout.shape[0]

    def membership(self) -> list[str]:
        return [TEST] * len(self)

    def full_size(self, i: int) -> tuple[int, int]:
        return self.rgb_layout.shape[1], self.rgb_layout.shape[2]

    def frame(self, i: int) -> SourceFrame:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.path}: frame {i} of {len(self)}")
        rgb = self._read(RGB_MEMBER, self.rgb_layout, i)
        depth = self._read(DEPTH_MEMBER, self.depth_layout, i)
        return SourceFrame(i, f"{self.path}: frame {i} of {RGB_MEMBER}", rgb, depth, None, None)

    def close(self) -> None:
        for stream in (self._streams or {}).values():
            stream.close()
        self._streams = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None


class Nyu50kWithTestZip(FrameSource):
    """``nyu_data.zip``'s train frames, then ``nyu_test.zip``'s frames as the test split; see the module docstring.

    The frame list: the train CSV's rows in order (as :class:`~depthpipe.data.sources.nyu50k.Nyu50kZip`
    lists them), then the frames of ``nyu_test.zip`` in its order.
    """

    kind, has_labels = "nyu50k", False

    def __init__(self, path: str | os.PathLike[str], test_path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.train_source = Nyu50kZip(path)
        try:
            self.test_source = NyuTestZip(test_path)
        except DepthpipeError:
            self.train_source.close()
            raise
        self.train_positions = self.train_source.split_indices()[0]

    def __len__(self) -> int:
        return len(self.train_positions) + len(self.test_source)

    def membership(self) -> list[str]:
        return [TRAIN] * len(self.train_positions) + [TEST] * len(self.test_source)

    def _where(self, i: int) -> tuple[FrameSource, int]:
        n = len(self.train_positions)
        if i < n:
            return self.train_source, int(self.train_positions[i])
        return self.test_source, i - n

    def scene(self, i: int) -> str:
        source, j = self._where(i)
        return source.scene(j)

    def full_size(self, i: int) -> tuple[int, int]:
        source, j = self._where(i)
        return source.full_size(j)

    def frame(self, i: int) -> SourceFrame:
        source, j = self._where(i)
        return dataclasses.replace(source.frame(j), index=i)

    def close(self) -> None:
        self.train_source.close()
        self.test_source.close()
