"""Per-frame statistics of a frame source: the table the validation suite checks, one row per frame.

Every frame is read once, in order, from any :class:`~depthpipe.data.sources.base.FrameSource` (a labeled ``.mat``,
``nyu_data.zip``, the ``nyudepthv2`` tree), so memory stays bounded whatever the frame count.

Statistics table (one row per frame, in file order):

==================  ==========================================================================
frame               0-based position in the file
nyu_index           1-based index, as used by ``trainNdxs``/``testNdxs``
split               ``train``, ``test``, ``none`` (in neither list) or ``both`` (in both)
height, width       frame size in pixels
rgb_mean_r/g/b      per-channel mean of the RGB image (0..255)
rgb_std             standard deviation over all RGB values
depth_min/max/      over the valid pixels (finite and > 0); empty (NaN) when a frame has no such
mean/median         pixel, which the suite's column checks skip (``valid_fraction`` = 0 fails instead)
valid_fraction      fraction of pixels with finite depth in (0, max_depth]
nan/inf/neg_count   pixels with NaN, +-inf, or negative depth (-inf counts as inf and negative)
label_min/max       smallest and largest label id (0 = unlabeled); empty for a frame without labels
n_classes           distinct nonzero label ids; empty for a frame without labels
content_hash        sha1 of the RGB bytes followed by the float32 depth bytes (finds duplicate frames)
==================  ==========================================================================
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from depthpipe.data.sources.base import FrameSource, SourceFrame
from depthpipe.data.sources.nyu_mat import MatFrames

COLUMNS = (
    "frame", "nyu_index", "split", "height", "width",
    "rgb_mean_r", "rgb_mean_g", "rgb_mean_b", "rgb_std",
    "depth_min", "depth_max", "depth_mean", "depth_median", "valid_fraction",
    "nan_count", "inf_count", "neg_count",
    "label_min", "label_max", "n_classes", "content_hash",
)  # fmt: skip


def _label_columns(label: np.ndarray | None) -> dict[str, float | int]:
    """``label_min``, ``label_max``, ``n_classes``; NaN (an empty cell, which the suite skips) without labels."""
    if label is None:
        return {"label_min": math.nan, "label_max": math.nan, "n_classes": math.nan}
    counts = np.bincount(label.ravel())
    return {
        "label_min": int(label.min()),
        "label_max": int(label.max()),
        "n_classes": int(np.count_nonzero(counts[1:])),
    }


def frame_row(frame: SourceFrame, split: str, max_depth: float) -> dict[str, Any]:
    """The statistics row of one frame (see the module docstring for the columns)."""
    rgb, depth, label = frame.rgb, frame.depth, frame.label
    h, w = depth.shape
    n_pix = h * w
    levels = np.arange(256, dtype=np.int64)
    hists = [np.bincount(rgb[..., c].ravel(), minlength=256).astype(np.int64) for c in range(3)]
    sums = [int(hist @ levels) for hist in hists]
    total = sum(hists)
    s1, s2 = int(total @ levels), int(total @ (levels * levels))
    n_rgb = 3 * n_pix
    rgb_var = (s2 * n_rgb - s1 * s1) / (n_rgb * n_rgb)  # exact integer moments, then one division

    nan_count = int(np.count_nonzero(np.isnan(depth)))
    inf_count = int(np.count_nonzero(np.isinf(depth)))
    neg_count = int(np.count_nonzero(depth < 0))
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size:
        d_min, d_max = float(valid.min()), float(valid.max())
        d_mean, d_median = float(valid.mean(dtype=np.float64)), float(np.median(valid))
    else:
        d_min = d_max = d_mean = d_median = math.nan
    in_range = int(np.count_nonzero(valid <= max_depth))

    labels = _label_columns(label)
    digest = hashlib.sha1(np.ascontiguousarray(rgb).tobytes(), usedforsecurity=False)
    digest.update(np.ascontiguousarray(depth, dtype=np.float32).tobytes())
    return {
        "frame": frame.index,
        "nyu_index": frame.index + 1,
        "split": split,
        "height": int(h),
        "width": int(w),
        "rgb_mean_r": sums[0] / n_pix,
        "rgb_mean_g": sums[1] / n_pix,
        "rgb_mean_b": sums[2] / n_pix,
        "rgb_std": math.sqrt(max(rgb_var, 0.0)),
        "depth_min": d_min,
        "depth_max": d_max,
        "depth_mean": d_mean,
        "depth_median": d_median,
        "valid_fraction": in_range / n_pix,
        "nan_count": nan_count,
        "inf_count": inf_count,
        "neg_count": neg_count,
        **labels,
        "content_hash": digest.hexdigest(),
    }


def source_statistics(source: FrameSource, *, max_depth: float, progress: bool = True) -> pd.DataFrame:
    """One statistics row per frame of ``source``, reading each frame once (bounded memory).

    ``max_depth`` bounds ``valid_fraction`` (pass ``prepare.max_depth``). A frame the source cannot read (a
    corrupt member, a missing key) raises its one-line :class:`~depthpipe.errors.DepthpipeError`.
    """
    splits = source.membership()
    frames = tqdm(
        source.frames(), total=len(source), desc=f"validate {source.path.name}", unit="frame", disable=not progress
    )
    rows = [frame_row(frame, splits[frame.index], max_depth) for frame in frames]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def frame_statistics(
    mat_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    *,
    max_depth: float,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`source_statistics` of a NYU-layout labeled file and its split file.

    Opening errors (not HDF5, truncated, a missing key, mismatched shapes) propagate as
    :class:`~depthpipe.errors.DepthpipeError` from the reader.
    """
    with MatFrames(mat_path, splits_path) as source:
        return source_statistics(source, max_depth=max_depth, progress=progress)
