"""Frame sources: every dataset the pipeline reads, as one list of full-resolution frames, each in a split.

A :class:`FrameSource` is what the validate and prepare stages read, whatever the layout on disk: a NYU-layout
labeled ``.mat`` with its ``splits.mat`` (:class:`MatFrames`: the ``synthetic``, ``nyu`` and ``file``
sources), DenseDepth's ``nyu_data.zip`` (:mod:`depthpipe.data.nyu50k_zip`) or the sparse-to-dense
``nyudepthv2`` tree of ``.h5`` files (:mod:`depthpipe.data.nyu_h5_tree`). Frames are read one at a time
(bounded memory). A source is picklable: its open handles are dropped and reopened on first use in the
receiving process, so a pool of workers can share one. :func:`open_raw` opens whatever the download stage
placed in ``data/raw``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from depthpipe.data.meta import read_splits, split_membership
from depthpipe.data.nyu_mat import NYULabeledFile
from depthpipe.errors import DepthpipeError

TRAIN, TEST = "train", "test"
LABELED_NAME, SPLITS_NAME, SOURCE_JSON = "labeled.mat", "splits.mat", "source.json"
RAW_NAMES = {"nyu50k_zip": "nyu_data.zip", "nyu_h5_tree": "nyudepthv2"}  # what data/raw holds per raw source


@dataclass(frozen=True)
class EncodedFrame:
    """A frame's bytes as the source holds them, kept as they are by the prepared format's encoded layout."""

    rgb: bytes  # JPEG or PNG
    depth: bytes  # grayscale PNG, 8- or 16-bit
    depth_scale: float  # metres per PNG unit


@dataclass(frozen=True)
class SourceFrame:
    """One frame at full resolution, in image orientation."""

    index: int  # 0-based position in the source's frame list
    name: str  # what a message calls it: '<file>: frame 3' or '<archive>: <member>'
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres; 0 (or NaN) where nothing was measured
    label: np.ndarray | None  # (H, W) uint16 NYU ids 0..894 (0 = unlabeled); None: the source has no labels
    encoded: EncodedFrame | None = None


class FrameSource(ABC):
    """A dataset as a list of frames; each frame in a split. Use as a context manager (or call :meth:`close`)."""

    kind: str = ""
    has_labels: bool = False
    handles: tuple[str, ...] = ()  # attributes holding open files: not pickled, reopened on first use

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def membership(self) -> list[str]:
        """``train``, ``test``, ``none`` or ``both`` for every frame, in order."""

    @abstractmethod
    def frame(self, i: int) -> SourceFrame:
        """Frame ``i`` (0-based), decoded; a bad frame is a one-line error naming it."""

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """The 0-based train and test frames, in the order the split lists them."""
        member = np.asarray(self.membership())
        return np.flatnonzero(member == TRAIN), np.flatnonzero(member == TEST)

    def scene(self, i: int) -> str:
        """The scene of frame ``i`` ('' where unknown)."""
        return ""

    def full_size(self, i: int) -> tuple[int, int]:
        """(height, width) of frame ``i``."""
        return tuple(self.frame(i).rgb.shape[:2])  # type: ignore[return-value]

    def frames(self, indices: Sequence[int] | None = None) -> Iterator[SourceFrame]:
        """Frames one at a time: all of them, or ``indices`` in the order given."""
        for i in range(len(self)) if indices is None else indices:
            yield self.frame(int(i))

    def close(self) -> None:
        """Close open handles (they reopen on next use)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: None if k in self.handles else v for k, v in self.__dict__.items()}

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MatFrames(FrameSource):
    """A NYU-layout labeled ``.mat`` (:class:`~depthpipe.data.nyu_mat.NYULabeledFile`) with its ``splits.mat``."""

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


def open_raw(raw_dir: str | os.PathLike[str], source: str) -> FrameSource:
    """The frames the download stage put in ``raw_dir`` for data source ``source`` (``source.json``'s)."""
    raw = Path(raw_dir)
    if source == "nyu50k_zip":
        from depthpipe.data.nyu50k_zip import Nyu50kZip

        return Nyu50kZip(raw / RAW_NAMES[source])
    if source == "nyu_h5_tree":
        from depthpipe.data.nyu_h5_tree import NyuH5Tree

        return NyuH5Tree(raw / RAW_NAMES[source])
    if source in ("synthetic", "nyu", "file"):
        return MatFrames(raw / LABELED_NAME, raw / SPLITS_NAME)
    raise DepthpipeError(f"{raw / SOURCE_JSON}: unknown data source {source!r} (rerun `dvc repro download`)")
