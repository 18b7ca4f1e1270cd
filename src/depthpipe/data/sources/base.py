"""The base types of every frame source: a dataset as one list of full-resolution frames, each in a split.

A :class:`FrameSource` is what the validate and prepare stages read, whatever the layout on disk: a NYU-layout
labeled ``.mat`` with its ``splits.mat`` (:class:`~depthpipe.data.sources.nyu_mat.MatFrames`: the ``synthetic``,
``nyu`` and ``file`` sources), DenseDepth's ``nyu_data.zip`` (:mod:`depthpipe.data.sources.nyu50k`) or the
sparse-to-dense ``nyudepthv2`` tree of ``.h5`` files (:mod:`depthpipe.data.sources.nyu_h5_tree`). Frames are
read one at a time (bounded memory). A source is picklable: its open handles are dropped and reopened on first
use in the receiving process, so a pool of workers can share one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TRAIN, TEST = "train", "test"


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
        h, w = self.frame(i).rgb.shape[:2]
        return int(h), int(w)

    def frames(self, indices: Sequence[int] | None = None) -> Iterator[SourceFrame]:
        """Frames one at a time: all of them, or ``indices`` in the order given."""
        for i in range(len(self)) if indices is None else indices:
            yield self.frame(int(i))

    def close(self) -> None:  # noqa: B027 - a source without open handles has nothing to close
        """Close open handles (they reopen on next use)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: None if k in self.handles else v for k, v in self.__dict__.items()}

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
