"""Writing the synthetic set: a NYU-layout labeled ``.mat`` of rendered frames, and its train/test ``splits.mat``.

Frames are rendered here or by a pool of processes, and written in order by this process.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from depthpipe.data.sources.metadata import load_class_mapping, write_splits
from depthpipe.data.sources.nyu_mat import NYULabeledWriter
from depthpipe.data.synthetic.camera import NYU_HEIGHT, NYU_WIDTH
from depthpipe.data.synthetic.frame import SyntheticFrame, render_frame
from depthpipe.data.synthetic.labels import label_ids
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path


def split_indices(frames: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """0-based (train, test) indices: a shuffle by ``seed``; test = round(frames * test_fraction), at least 1 each."""
    n_test = int(math.floor(frames * test_fraction + 0.5))
    n_test = min(max(n_test, 1), frames - 1)
    perm = np.random.default_rng(int(seed)).permutation(frames)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _render_job(args: tuple[int, int, dict[str, int], int, int]) -> SyntheticFrame:
    """Render one frame from ``(seed, index, label ids, height, width)`` (a picklable pool task)."""
    seed, index, ids, height, width = args
    return render_frame(seed, index, ids, height, width)


def _frames(jobs: Sequence[tuple], workers: int) -> Iterator[SyntheticFrame]:
    """The frames of ``jobs`` in order, rendered here (``workers`` <= 1) or by a pool of ``workers`` processes."""
    if workers <= 1:
        for job in jobs:
            yield _render_job(job)
        return
    ctx = mp.get_context("spawn")  # no fork of an open HDF5 handle; same results as serial
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render_job, jobs, chunksize=1)


def write_synthetic(
    path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    frames: int,
    seed: int,
    test_fraction: float,
    class_mapping: str | os.PathLike[str],
    workers: int = 1,
    height: int = NYU_HEIGHT,
    width: int = NYU_WIDTH,
    progress: bool = True,
) -> dict:
    """Write ``frames`` synthetic frames as a NYU-layout labeled ``.mat`` at ``path`` and a split at ``splits_path``.

    The ``names`` cell holds the 894 names of ``classMapping40.mat`` (label id ``k`` is ``names[k-1]``). Both files
    are written under temporary names and renamed when complete; the same arguments give byte-identical files
    whatever ``workers`` is. With ``workers > 1`` the frames are rendered by a pool of ``spawn``-started
    processes (in order, written by this process), so a calling script needs the usual
    ``if __name__ == "__main__":`` guard. Returns a summary (frames, seed, split sizes, image size, frames per
    room type).
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise DepthpipeError(f"synthetic: frames must be an integer >= 2 (got {frames!r})")
    if not 0 < float(test_fraction) < 1:
        raise DepthpipeError(f"synthetic: test_fraction must lie in (0, 1) (got {test_fraction!r})")
    ids = label_ids(class_mapping)
    _, _, names894 = load_class_mapping(class_mapping)
    train, test = split_indices(frames, seed, test_fraction)
    rooms: dict[str, int] = {}
    jobs = [(int(seed), i, ids, int(height), int(width)) for i in range(frames)]
    with atomic_path(path) as tmp, NYULabeledWriter(tmp, frames, names894, height=height, width=width) as writer:
        bar = tqdm(
            _frames(jobs, max(1, int(workers))),
            total=frames,
            desc="synthetic frames",
            unit="frame",
            disable=not progress,
        )
        for i, fr in enumerate(bar):
            writer.write(i, fr.rgb, fr.depth, fr.label, raw_depth=fr.raw_depth, instance=fr.instance, scene=fr.scene)
            rooms[fr.room_type] = rooms.get(fr.room_type, 0) + 1
    write_splits(splits_path, train, test)
    return {
        "frames": frames,
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "train": int(train.size),
        "test": int(test.size),
        "height": int(height),
        "width": int(width),
        "room_types": dict(sorted(rooms.items())),
    }
