"""The merge gate's evidence: a variant's per-frame tables at a git revision and in the workspace, paired by frame.

The evaluate stage writes ``reports/eval/<variant>/per_frame.csv`` (``frame``, then ``<protocol>/<metric>``
and ``<protocol>/<sum>`` columns) and ``per_frame_classes.csv`` (``frame, class, tp, gt, pred``; header only
for a model without a semantic branch). Both are DVC outputs with ``cache: false``, so git holds them at every
revision: the baseline side is read with ``git show <rev>:<path>``, the candidate side from the workspace.
:func:`load_pairs` reads both sides of every variant and insists that they hold the same frames.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthpipe.errors import DepthpipeError
from depthpipe.workspace import WorkspacePaths

PER_FRAME = "per_frame.csv"
PER_FRAME_CLASSES = "per_frame_classes.csv"
EVIDENCE = "evidence"  # the export run's copy of the per-frame test evidence (what a later version is gated on)
COUNT_COLUMNS = ("tp", "gt", "pred")
LISTED_IDS = 20  # frame ids named in an error before "and N more"


class GateError(DepthpipeError):
    """The comparison itself cannot be made (exit code 2): an unknown revision, a missing file, other frames."""

    exit_code = 2


def eval_path(variant: str, name: str) -> str:
    """``reports/eval/<variant>/<name>``, relative to the project root."""
    return (WorkspacePaths().eval_reports(variant) / name).as_posix()


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git <args>`` in ``root``; a :class:`GateError` when git cannot be run at all."""
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GateError(f"gate: cannot run git in {root} ({exc})") from None


@dataclass(frozen=True)
class Workspace:
    """The candidate side: files as they are in the project directory (after ``dvc repro``)."""

    root: Path
    side: str = "candidate"

    def where(self, path: str) -> str:
        return path

    def read(self, path: str) -> str | None:
        try:
            return (Path(self.root) / path).read_text()
        except FileNotFoundError:
            return None


@dataclass(frozen=True)
class Revision:
    """The baseline side: files as committed at a git revision (checked with :func:`resolve_revision`)."""

    root: Path
    rev: str
    side: str = "baseline"

    def where(self, path: str) -> str:
        return f"{self.rev}:{path}"

    def read(self, path: str) -> str | None:
        proc = git(Path(self.root), "show", f"{self.rev}:./{path}")
        return proc.stdout if proc.returncode == 0 else None


def resolve_revision(root: Path, rev: str) -> str:
    """The commit ``rev`` names in the repository at ``root``; a :class:`GateError` naming it when none."""
    proc = git(Path(root), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GateError(f"gate: unknown revision '{rev}' in {root} (a branch, tag or commit of this repository)")
    return proc.stdout.strip()


@dataclass(frozen=True)
class FrameTable:
    """One side's per-frame evidence of one variant, every array in ascending frame-id order."""

    frames: np.ndarray  # (N,) int64 frame ids
    rows: list[dict[str, float]]  # per_frame.csv rows (numbers), for depthpipe.protocols.summarize
    class_rows: list[dict[str, float]]  # per_frame_classes.csv rows; empty without a semantic branch
    counts: np.ndarray | None  # (N, C, 3) tp, gt, pred of class c+1 per frame; None without class rows

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Per-frame-table column -> (N,) float64 values."""
        names = [k for k in self.rows[0] if k != "frame"]
        return {k: np.array([r[k] for r in self.rows], dtype=np.float64) for k in names}


def _number(text: str | None, where: str, frame: object, column: str) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise GateError(f"{where}: frame {frame}: {column} is {text!r}, not a finite number")
    return value


def _records(text: str, where: str, required: Sequence[str]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise GateError(f"{where}: no '{missing[0]}' column (header: {', '.join(reader.fieldnames or [])})")
    return list(reader)


def parse_per_frame(text: str, where: str) -> list[dict[str, float]]:
    """The rows of a per_frame.csv, numbers throughout, sorted by frame id; one-line errors name the frame."""
    rows, seen = [], set()
    for i, record in enumerate(_records(text, where, ["frame"]), start=2):
        frame = int(_number(record["frame"], where, f"on line {i}", "frame"))
        if frame in seen:
            raise GateError(f"{where}: frame {frame} appears twice")
        seen.add(frame)
        rows.append({k: float(frame) if k == "frame" else _number(v, where, frame, k) for k, v in record.items()})
    if not rows:
        raise GateError(f"{where}: no frames")
    return sorted(rows, key=lambda r: r["frame"])


def parse_classes(text: str, where: str, frames: np.ndarray) -> list[dict[str, float]]:
    """The rows of a per_frame_classes.csv; every frame must be one of ``frames`` and every class >= 1."""
    known, rows = set(frames.tolist()), []
    for record in _records(text, where, ["frame", "class", *COUNT_COLUMNS]):
        row = {k: _number(record[k], where, record["frame"], k) for k in ("frame", "class", *COUNT_COLUMNS)}
        if row["frame"] not in known:
            raise GateError(f"{where}: frame {int(row['frame'])} is not in {PER_FRAME}")
        if row["class"] < 1:
            raise GateError(f"{where}: frame {int(row['frame'])}: class {int(row['class'])} (classes start at 1)")
        rows.append(row)
    return rows


def frame_class_counts(class_rows: list[dict[str, float]], frames: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, C, 3): the ``tp, gt, pred`` counts of class c+1 in the frame at position i of ``frames``."""
    position = {int(f): i for i, f in enumerate(frames)}
    counts = np.zeros((len(frames), n_classes, 3), dtype=np.float64)
    for r in class_rows:
        counts[position[int(r["frame"])], int(r["class"]) - 1] = [r[k] for k in COUNT_COLUMNS]
    return counts


def read_side(source: Workspace | Revision, variant: str) -> tuple[list[dict], list[dict]] | None:
    """``(rows, class_rows)`` of ``variant`` on one side, or None when it has no per_frame.csv there."""
    text = source.read(eval_path(variant, PER_FRAME))
    if text is None:
        return None
    rows = parse_per_frame(text, source.where(eval_path(variant, PER_FRAME)))
    frames = np.array([r["frame"] for r in rows], dtype=np.int64)
    classes_text = source.read(eval_path(variant, PER_FRAME_CLASSES)) or ""
    if not classes_text.strip():
        return rows, []
    return rows, parse_classes(classes_text, source.where(eval_path(variant, PER_FRAME_CLASSES)), frames)


def _ids(frames: np.ndarray) -> str:
    shown = ", ".join(str(int(f)) for f in frames[:LISTED_IDS])
    return shown + (f" and {len(frames) - LISTED_IDS} more" if len(frames) > LISTED_IDS else "")


def pair(variant: str, baseline: tuple[list, list], candidate: tuple[list, list]) -> tuple[FrameTable, FrameTable]:
    """Both sides as :class:`FrameTable` over the same frames; a :class:`GateError` naming the unpaired frames."""
    base_frames, cand_frames = (
        np.array([r["frame"] for r in side[0]], dtype=np.int64) for side in (baseline, candidate)
    )
    only_cand, only_base = np.setdiff1d(cand_frames, base_frames), np.setdiff1d(base_frames, cand_frames)
    if len(only_cand) or len(only_base):
        lacks = [
            f"{side} lacks frames {_ids(ids)}"
            for side, ids in (("baseline", only_cand), ("candidate", only_base))
            if len(ids)
        ]
        raise GateError(f"{variant}: the two sides hold different test frames: {'; '.join(lacks)}")
    n_classes = max((int(r["class"]) for side in (baseline, candidate) for r in side[1]), default=0)
    return tuple(
        FrameTable(
            base_frames,
            rows,
            class_rows,  # type: ignore[return-value]
            frame_class_counts(class_rows, base_frames, n_classes) if class_rows else None,
        )
        for rows, class_rows in (baseline, candidate)
    )


def load_pairs(root: Path, rev: str, variants: Sequence[str]) -> dict[str, tuple[FrameTable, FrameTable]]:
    """Every variant's ``(baseline, candidate)`` evidence; both sides must have it (a :class:`GateError` else)."""
    base, cand = Revision(Path(root), rev), Workspace(Path(root))
    pairs = {}
    for variant in variants:
        sides = read_side(base, variant), read_side(cand, variant)
        if sides == (None, None):
            continue
        sources: tuple[Revision | Workspace, ...] = (base, cand)
        for source, side in zip(sources, sides):
            if side is None:
                hint = "commit the evaluate outputs there" if source is base else "run `dvc repro` first"
                raise GateError(
                    f"{source.where(eval_path(variant, PER_FRAME))}: not found on the {source.side} "
                    f"side, which {variant} needs ({hint})"
                )
        pairs[variant] = pair(variant, *sides)  # type: ignore[arg-type]
    if not pairs:
        paths = ", ".join(eval_path(v, PER_FRAME) for v in variants)
        raise GateError(f"gate: no per-frame evidence ({paths}) in the workspace or at {rev}")
    return pairs
