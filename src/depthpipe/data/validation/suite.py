"""Data validation: per-frame statistics of any frame source checked by a Great Expectations suite.

The source (a labeled ``.mat``, ``nyu_data.zip``, the ``nyudepthv2`` tree) is streamed once, frame by frame, into a
small table with one row per frame (:mod:`depthpipe.data.validation.frame_stats`); a GX Core 1.x expectation suite built
from the ``validate`` params (:func:`build_suite`) runs on that table; :func:`validate_source` (and
:func:`validate_dataset` for a labeled file) writes a deterministic JSON report (a DVC metrics file) and the statistics
as CSV, and returns the report. It does not raise on bad data: the stage script prints :func:`failure_lines` and exits
non-zero. Bad params, an unreadable file or member, or a missing key do raise a one-line
:class:`~depthpipe.errors.DepthpipeError`. Frames without labels (the raw-derived sets) leave the label columns empty,
which the label expectations skip.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from depthpipe.config import ValidateConfig
from depthpipe.data.sources.base import FrameSource
from depthpipe.data.sources.nyu_mat import MatFrames
from depthpipe.data.validation.frame_stats import source_statistics
from depthpipe.data.validation.set_agreement import compare_test_sets, comparison_lines
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path, write_json_atomic

if TYPE_CHECKING:  # great_expectations takes ~3 s to import: only the suite functions load it
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult

SPLITS = ("train", "test")
MAX_LISTED_FRAMES = 50  # offending frames listed per failed expectation in the report
CSV_FLOAT_FORMAT = "%.6g"  # stable across platforms: summation-order noise stays below the printed digits
FRAME_KEY = "frame"


# -- the suite -------------------------------------------------------------------------------------------
def _import_gx() -> Any:
    """``great_expectations`` (imported late: it takes seconds; analytics are off, see :mod:`depthpipe.env`)."""
    import great_expectations

    return great_expectations


def _fmt(x: float) -> str:
    return f"{x:g}"


def _rules(E: Any, cfg: ValidateConfig, max_depth: float, n_frames: int) -> list:
    """The expectations, each with a one-line ``description`` of its rule (what :func:`failure_lines` prints),
    in the order the report lists their failures."""
    expected = n_frames if cfg.expected_frames is None else cfg.expected_frames
    source = "validate.expected_frames" if cfg.expected_frames is not None else "the file's frame count"
    return [
        E.ExpectTableRowCountToEqual(value=expected, description=f"expected {expected} frames ({source})"),
        E.ExpectColumnValuesToBeInSet(
            column="split",
            value_set=list(SPLITS),
            description=("frames in no split or in both (expected split in {train, test} from trainNdxs/testNdxs)"),
        ),
        *_depth_rules(E, cfg, max_depth),
        *_label_rules(E, cfg),
        E.ExpectColumnValuesToBeUnique(
            column="content_hash", description=("duplicate frames (expected content_hash unique: same RGB and depth)")
        ),
        *_size_rules(E, cfg),
        *_test_count_rules(E, cfg),
    ]


def _depth_rules(E: Any, cfg: ValidateConfig, max_depth: float) -> list:
    """No NaN, infinite or negative depth, none beyond ``max_depth``, and enough valid pixels per frame."""
    md = _fmt(max_depth)

    def zero(column: str, what: str) -> Any:
        return E.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, max_value=0, description=f"{what} (expected {column} == 0)"
        )

    return [
        zero("nan_count", "NaN depth"),
        zero("inf_count", "infinite depth"),
        zero("neg_count", "negative depth"),
        E.ExpectColumnValuesToBeBetween(
            column="depth_max",
            max_value=max_depth,
            description=f"depth beyond max_depth (expected depth_max <= {md} m)",
        ),
        E.ExpectColumnValuesToBeBetween(
            column="valid_fraction",
            min_value=cfg.min_valid_fraction,
            max_value=1.0,
            description=(
                f"too few valid depth pixels (expected valid_fraction >= "
                f"{_fmt(cfg.min_valid_fraction)}; valid = finite, > 0 and <= {md} m)"
            ),
        ),
    ]


def _label_rules(E: Any, cfg: ValidateConfig) -> list:
    """Labels within [0, ``max_label``] (frames without labels leave these columns empty)."""
    return [
        E.ExpectColumnValuesToBeBetween(
            column="label_min", min_value=0, description="negative labels (expected label_min >= 0)"
        ),
        E.ExpectColumnValuesToBeBetween(
            column="label_max",
            min_value=0,
            max_value=cfg.max_label,
            description=f"labels beyond max_label (expected label_max <= {cfg.max_label})",
        ),
    ]


def _size_rules(E: Any, cfg: ValidateConfig) -> list:
    """Every frame ``validate.frame_size`` (no rule when it is null)."""
    if cfg.frame_size is None:
        return []
    return [
        E.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=size,
            max_value=size,
            description=(
                f"frames not {cfg.frame_size[0]}x{cfg.frame_size[1]} (validate.frame_size; expected {column} == {size})"
            ),
        )
        for column, size in zip(("height", "width"), cfg.frame_size)
    ]


def _test_count_rules(E: Any, cfg: ValidateConfig) -> list:
    """``validate.expected_test_frames`` frames in the test split (no rule when it is null)."""
    if cfg.expected_test_frames is None:
        return []
    n_test = cfg.expected_test_frames
    return [
        E.ExpectTableRowCountToEqual(
            value=n_test,
            row_condition='split=="test"',
            condition_parser="pandas",
            description=f"expected {n_test} test frames (validate.expected_test_frames)",
        )
    ]


def build_suite(cfg: ValidateConfig, max_depth: float, n_frames: int) -> gx.ExpectationSuite:
    """The expectation suite for the statistics table, from the ``validate`` section and ``prepare.max_depth``
    (valid depths lie in (0, ``max_depth``]; see :func:`_rules`).

    ``validate.expected_frames`` null means ``n_frames`` (the file's frame count); ``validate.frame_size``
    null accepts any frame size.
    """
    gx = _import_gx()
    rules = _rules(gx.expectations, cfg, max_depth, n_frames)
    for order, rule in enumerate(rules):
        rule.meta = {"order": order}
    # Passed to the constructor: ``suite.add_expectation`` needs an active data context (it looks up a store).
    suite = gx.ExpectationSuite(name="depthpipe_nyu_frames", expectations=rules)
    if len(suite.expectations) != len(rules):  # the constructor logs and drops an invalid expectation
        raise DepthpipeError("validate: internal error: the expectation suite rejected an expectation")
    return suite


def run_suite(suite: gx.ExpectationSuite, stats: pd.DataFrame) -> ExpectationSuiteValidationResult:
    """Run ``suite`` on the statistics table in a fresh ephemeral GX context (nothing is written to disk).

    Results use the COMPLETE format with ``frame`` as the index column, so each failure lists its frames.
    """
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("depthpipe").add_dataframe_asset("frame_statistics")
    batch = asset.add_batch_definition_whole_dataframe("all_frames")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="validate", data=batch, suite=suite))
    return definition.run(
        batch_parameters={"dataframe": stats},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [FRAME_KEY]},
    )


def _json_value(v: Any) -> Any:
    """A JSON-safe, stably printed scalar (numpy scalars unwrapped, floats to 6 significant digits)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return float(f"{v:.6g}")
    return v


def _exception_message(info: Any) -> str | None:
    """The first line of the exception GX caught while evaluating an expectation, or None.

    ``exception_info`` is either one ``{"raised_exception", "exception_message", ...}`` dict or a dict of
    them keyed by metric.
    """
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        lines = str(info.get("exception_message") or "error").strip().splitlines()
        return lines[0] if lines else "error"
    for value in info.values():
        message = _exception_message(value)
        if message is not None:
            return message
    return None


def _failure(result: Any) -> dict[str, Any]:
    cfg = result.expectation_config
    column = cfg.kwargs.get("column")
    entry: dict[str, Any] = {
        "expectation": cfg.type,
        "column": column,
        "description": cfg.description or cfg.type,
    }
    if column is None:  # a table-level expectation: the row count
        entry.update(frames=[], values=[], count=int(result.result.get("observed_value", 0)))
        return entry
    error = _exception_message(result.exception_info)
    if error is not None:
        entry.update(frames=[], values=[], count=0, error=error)
        return entry
    hits = sorted(
        (
            (int(row[FRAME_KEY]), _json_value(row.get(column)))
            for row in result.result.get("unexpected_index_list") or []
        ),
    )
    entry.update(
        frames=[f for f, _ in hits[:MAX_LISTED_FRAMES]],
        values=[v for _, v in hits[:MAX_LISTED_FRAMES]],
        count=int(result.result.get("unexpected_count", len(hits))),
    )
    return entry


def summarize(stats: pd.DataFrame, result: ExpectationSuiteValidationResult) -> dict[str, Any]:
    """The report dict (see :func:`validate_dataset`) from the statistics and the GX validation result."""
    ordered = sorted(
        result.results, key=lambda r: ((r.expectation_config and r.expectation_config.meta) or {}).get("order", 0)
    )
    failed = [_failure(r) for r in ordered if not r.success]
    statistics = result.statistics
    split = stats["split"]
    return {
        "success": bool(result.success),
        "frames": int(len(stats)),
        "train_frames": int((split == "train").sum()),
        "test_frames": int((split == "test").sum()),
        "evaluated_expectations": int(statistics["evaluated_expectations"]),
        "successful_expectations": int(statistics["successful_expectations"]),
        "failed": failed,
    }


def write_stats_csv(stats: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """The statistics table as CSV, atomically; same data -> same bytes (fixed float format, ``\\n`` lines)."""
    with atomic_path(path) as tmp:
        stats.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")


def validate_dataset(
    mat_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    cfg: ValidateConfig,
    max_depth: float,
    report_path: str | os.PathLike[str],
    stats_path: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Validate a labeled file: statistics, suite, report. Returns the report; does not raise on bad data.

    Writes ``report_path`` (JSON, sorted keys) and ``stats_path`` (CSV), both atomically and deterministically.
    The report::

        {"success": bool, "frames": n, "train_frames": n, "test_frames": n,
         "evaluated_expectations": n, "successful_expectations": n,
         "failed": [{"expectation": gx type, "column": column or null, "description": one line,
                     "frames": [first 50 offending frames, 0-based], "values": [their values],
                     "count": offending frames (for the row count: the frames found)}]}

    ``train_frames``/``test_frames`` count frames whose split is exactly ``train``/``test``.
    """
    with MatFrames(mat_path, splits_path) as source:
        return validate_source(source, cfg, max_depth, report_path, stats_path, progress=progress)


def validate_source(
    source: FrameSource,
    cfg: ValidateConfig,
    max_depth: float,
    report_path: str | os.PathLike[str],
    stats_path: str | os.PathLike[str],
    *,
    progress: bool = True,
    test_sets: tuple[FrameSource, FrameSource] | None = None,
) -> dict[str, Any]:
    """:func:`validate_dataset` for any frame source (the stage's entry point); same outputs and report.

    ``test_sets``: ``nyu_data.zip`` and ``nyu_test.zip`` when ``data/raw`` holds both; their frame-by-frame
    comparison (:func:`~depthpipe.data.validation.set_agreement.compare_test_sets`) goes into the report as
    ``test_sets``, and the data is rejected when they disagree beyond ``validate.test_sets_max_diff_mm``.
    """
    stats = source_statistics(source, max_depth=max_depth, progress=progress)
    suite = build_suite(cfg, max_depth, len(stats))
    report = summarize(stats, run_suite(suite, stats))
    if test_sets is not None:
        report["test_sets"] = compare_test_sets(*test_sets, cfg.test_sets_max_diff_mm, progress=progress)
        report["success"] = report["success"] and report["test_sets"]["success"]
    write_stats_csv(stats, stats_path)
    write_json_atomic(report_path, report)
    return report


def failure_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per failed expectation, e.g.
    ``validate: NaN depth (expected nan_count == 0): 2 frames [3, 7] (nan_count: 12, 1)``."""
    lines = []
    for item in report.get("failed", []):
        desc, column, count = item["description"], item["column"], item["count"]
        if item.get("error"):
            lines.append(f"validate: {desc}: could not be evaluated ({item['error']})")
            continue
        if column is None:
            lines.append(f"validate: {desc}: found {count}")
            continue
        frames = item["frames"]
        more = f" (first {len(frames)} of {count})" if count > len(frames) else ""
        noun = "frame" if count == 1 else "frames"
        values = ""
        if column != "content_hash" and item.get("values"):
            values = f" ({column}: {', '.join(str(v) for v in item['values'])})"
        lines.append(f"validate: {desc}: {count} {noun} {frames}{more}{values}")
    if "test_sets" in report and not report["test_sets"]["success"]:
        lines += comparison_lines(report["test_sets"])
    return lines
