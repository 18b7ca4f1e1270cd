"""DenseDepth's two NYU test sets compared frame by frame: ``nyu_data.zip``'s test PNGs against ``nyu_test.zip``.

DenseDepth ships its 654 test frames twice: as ``data/nyu2_test/*_colors.png`` + 16-bit millimetre
``*_depth.png`` in ``nyu_data.zip``, and as the float32-metre arrays of ``nyu_test.zip``, which its evaluate.py
scores. Whether the two hold the same depths is checked nowhere else; :func:`compare_test_sets` answers it
whenever ``data/raw`` holds both (``data.nyu_test.use``), pairing test frame ``j`` of one with frame ``j`` of the
other. Per frame it measures the largest depth difference over the pixels measured in both, in mm; the pixels
that are a hole (0, NaN or negative) in one set only; and the largest RGB difference. The sets agree when no
pixel differs by more than ``validate.test_sets_max_diff_mm`` (0.5 mm is what rounding metres to whole
millimetres leaves) and no hole is in one set only; null compares and reports without rejecting. The report goes
into ``reports/validation.json`` under ``test_sets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from depthpipe.data.sources.base import FrameSource, SourceFrame

MAX_LISTED = 50  # frames listed per finding
SLACK_MM = 1e-6  # float32 metres read back in float64: below any real difference


def _holes(depth: np.ndarray) -> np.ndarray:
    return ~(np.isfinite(depth) & (depth > 0))


@dataclass
class _Findings:
    """What the frames compared so far differ in; ``limit`` is the largest depth difference that agrees (mm)."""

    limit: float | None
    over: list[tuple[int, float]] = field(default_factory=list)
    hole_frames: list[int] = field(default_factory=list)
    shape_mismatch: list[int] = field(default_factory=list)
    holes_zip_only: int = 0
    holes_test_only: int = 0
    rgb_frames_differ: int = 0
    rgb_max: int = 0
    max_diff: float = 0.0
    diff_sum: float = 0.0
    diff_n: int = 0

    def add(self, j: int, a: SourceFrame, b: SourceFrame) -> None:
        """Compare test frame ``j`` of the two sets: sizes, holes in one only, depth (mm) and RGB differences."""
        if a.depth.shape != b.depth.shape or a.rgb.shape != b.rgb.shape:
            self.shape_mismatch.append(j)
            return
        hole_a, hole_b = _holes(a.depth), _holes(b.depth)
        only_a, only_b = int(np.count_nonzero(hole_a & ~hole_b)), int(np.count_nonzero(hole_b & ~hole_a))
        self.holes_zip_only, self.holes_test_only = self.holes_zip_only + only_a, self.holes_test_only + only_b
        if only_a or only_b:
            self.hole_frames.append(j)
        both = ~hole_a & ~hole_b
        diff = np.abs(a.depth[both].astype(np.float64) - b.depth[both].astype(np.float64)) * 1000.0
        frame_max = float(diff.max()) if diff.size else 0.0
        self.max_diff = max(self.max_diff, frame_max)
        self.diff_sum, self.diff_n = self.diff_sum + float(diff.sum()), self.diff_n + diff.size
        if self.limit is not None and frame_max > self.limit:
            self.over.append((j, frame_max))
        rgb_diff = int(np.abs(a.rgb.astype(np.int16) - b.rgb.astype(np.int16)).max())
        self.rgb_max, self.rgb_frames_differ = max(self.rgb_max, rgb_diff), self.rgb_frames_differ + (rgb_diff > 0)


def compare_test_sets(
    zip_source: FrameSource, test_zip: FrameSource, max_diff_mm: float | None, *, progress: bool = True
) -> dict[str, Any]:
    """Compare the test split of ``zip_source`` (``nyu_data.zip``) with the frames of ``test_zip`` (``nyu_test.zip``)
    in order; returns the report (see the module docstring), ``success`` False when they disagree beyond
    ``max_diff_mm`` (never with None).

    ``{"success", "frames", "frames_nyu_data_zip", "frames_nyu_test_zip", "max_diff_mm", "max_diff_allowed_mm",
    "mean_diff_mm", "over": {"count", "frames", "values"}, "holes_nyu_data_zip_only", "holes_nyu_test_zip_only"
    (pixels), "hole_frames": {"count", "frames"}, "rgb_max_diff", "rgb_frames_differ", "shape_mismatch": [frames],
    "crop": nyu_test.zip's eigen_test_crop or null}``; frames are 0-based positions in the test split.
    """
    _, zip_test = zip_source.split_indices()
    n_zip, n_test = len(zip_test), len(test_zip)
    n = min(n_zip, n_test)
    found = _Findings(limit=None if max_diff_mm is None else max_diff_mm + SLACK_MM)
    for j in tqdm(range(n), desc="compare test sets", unit="frame", disable=not progress):
        found.add(j, zip_source.frame(int(zip_test[j])), test_zip.frame(j))
    agree = n_zip == n_test and not found.shape_mismatch and not found.over and not found.hole_frames
    return {
        "success": bool(agree or max_diff_mm is None),
        "frames": n,
        "frames_nyu_data_zip": n_zip,
        "frames_nyu_test_zip": n_test,
        "max_diff_mm": round(found.max_diff, 4),
        "max_diff_allowed_mm": max_diff_mm,
        "mean_diff_mm": round(found.diff_sum / found.diff_n, 4) if found.diff_n else 0.0,
        "over": {
            "count": len(found.over),
            "frames": [j for j, _ in found.over[:MAX_LISTED]],
            "values": [round(v, 4) for _, v in found.over[:MAX_LISTED]],
        },
        "holes_nyu_data_zip_only": found.holes_zip_only,
        "holes_nyu_test_zip_only": found.holes_test_only,
        "hole_frames": {"count": len(found.hole_frames), "frames": found.hole_frames[:MAX_LISTED]},
        "rgb_max_diff": found.rgb_max,
        "rgb_frames_differ": found.rgb_frames_differ,
        "shape_mismatch": found.shape_mismatch[:MAX_LISTED],
        "crop": list(getattr(test_zip, "crop", ())) or None,
    }


def _listed(frames: list[int], count: int) -> str:
    more = f" (first {len(frames)} of {count})" if count > len(frames) else ""
    return f"{frames}{more}"


def comparison_lines(report: Mapping[str, Any]) -> list[str]:
    """What the comparison found, one line each: its findings when the sets disagree (``success`` or not: with
    ``max_diff_allowed_mm`` null they are reported without rejecting), else one line saying they agree."""
    r, lines = report, []
    where = "validate: test sets (nyu_data.zip's test PNGs vs nyu_test.zip)"
    if r["frames_nyu_data_zip"] != r["frames_nyu_test_zip"]:
        lines.append(
            f"{where}: nyu_data.zip lists {r['frames_nyu_data_zip']} test frames, nyu_test.zip holds "
            f"{r['frames_nyu_test_zip']} (the first {r['frames']} compared)"
        )
    if r["shape_mismatch"]:
        lines.append(f"{where}: frames of different sizes {r['shape_mismatch']}")
    if r["over"]["count"]:
        over = r["over"]
        lines.append(
            f"{where}: depth differs by up to {r['max_diff_mm']:g} mm (validate.test_sets_max_diff_mm "
            f"{r['max_diff_allowed_mm']:g}): {over['count']} frames {_listed(over['frames'], over['count'])}"
            f" (max mm: {', '.join(f'{v:g}' for v in over['values'])})"
        )
    if r["hole_frames"]["count"]:
        lines.append(
            f"{where}: holes in one set only: {r['holes_nyu_data_zip_only']} pixels in nyu_data.zip's, "
            f"{r['holes_nyu_test_zip_only']} in nyu_test.zip's, in {r['hole_frames']['count']} frames "
            f"{_listed(r['hole_frames']['frames'], r['hole_frames']['count'])}"
        )
    rgb = (
        "RGB identical"
        if not r["rgb_frames_differ"]
        else (f"RGB differs in {r['rgb_frames_differ']} frames (by up to {r['rgb_max_diff']} levels)")
    )
    if not lines:
        return [
            f"{where}: the {r['frames']} frames agree: depth within {r['max_diff_mm']:g} mm (mean "
            f"{r['mean_diff_mm']:g} mm), no hole in one set only, {rgb}"
        ]
    mode = "" if r["max_diff_allowed_mm"] is not None else " (reported only: validate.test_sets_max_diff_mm is null)"
    return [*lines, f"{where}: max depth difference {r['max_diff_mm']:g} mm, {rgb}{mode}"]
