"""A trained variant scored on the test split (:mod:`depthpipe.evaluation.scoring`): its metrics, evidence and
figures written, and its MLflow run logged.

The files, all moved into place only after the MLflow run has logged them:

- ``metrics/<variant>.json`` (DVC metrics): the headline figures only, ``{protocol: {8 depth metrics}}`` plus
  ``{"semantic": {miou, pixel_acc}}`` for the booster;
- ``reports/eval/<variant>/summary.json``: frame count, the mean depth and the baseline under each protocol;
- ``per_frame.csv``: per test frame (``frame`` = its 1-based index in the source) and protocol, the eight
  metrics and the pixel sums they come from: the evidence the merge gate resamples;
- ``per_frame_classes.csv`` (booster): per frame and class, correct / labelled / predicted pixel counts;
- ``error_by_depth.csv``: mean absolute error and abs_rel per ground-truth depth bin, drawn in
  ``error_by_depth.png``;
- ``grid.png``: the first ``grid_frames`` test frames: RGB | ground truth | prediction | |error| (and, for the
  booster, ground-truth and predicted labels with a class legend), in the colours of :mod:`depthpipe.viz.style`.

The MLflow run also says which code each protocol follows and, on NYU test data, carries the published figures it
reads against (tags ``depthpipe.reference.<protocol>/<metric>``, and ``reference.json``: model beside reference);
they stay out of the DVC outputs, which hold only what the model and data determine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthpipe.config import EvaluateConfig, flatten
from depthpipe.data.prepared.hdf5 import TEST, TRAIN, PreparedSplit, split_path
from depthpipe.errors import DepthpipeError
from depthpipe.evaluation.protocols import SEMANTIC, protocols_of, reference_table, reference_tags
from depthpipe.evaluation.scoring import TestScores, baseline_summary, headline, score_test_split
from depthpipe.files import StagedFiles, sha256_file, write_json_atomic, write_text_atomic
from depthpipe.models.trained import MODEL_FILE, load_trained
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.viz.charts import plot_error_by_depth
from depthpipe.viz.maps import prediction_grid

CLASS_COLUMNS = ("frame", "class", "tp", "gt", "pred")
REFERENCE_FILE = "reference.json"  # the run's figures beside the published ones (MLflow artifact)
REFERENCE_FREE_SOURCES = ("synthetic",)  # test data no published figure is about


def csv_text(rows: Sequence[dict[str, Any]], empty_columns: Sequence[str] = ()) -> str:
    """Rows as CSV text (just the ``empty_columns`` header when there are none); floats to 10 significant
    digits (stable bytes for the same numbers)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else list(empty_columns), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def _write_outputs(
    staged: StagedFiles,
    scores: TestScores,
    metrics: dict,
    summary: dict,
    metrics_path: Path,
    report_dir: Path,
    max_depth: float,
) -> list[Path]:
    """Write every output into ``staged``; returns the staged report files (for MLflow)."""
    metrics_file = staged.path(metrics_path)
    write_json_atomic(metrics_file, metrics)
    files = {
        "summary.json": None,
        "per_frame.csv": scores.rows,
        "error_by_depth.csv": scores.bins.rows(),
        "per_frame_classes.csv": scores.class_rows,
    }  # header only for a model without a semantic branch
    out = []
    for name, rows in files.items():
        path = staged.path(report_dir / name)
        write_json_atomic(path, summary) if rows is None else write_text_atomic(path, csv_text(rows, CLASS_COLUMNS))
        out.append(path)
    by_depth = staged.path(report_dir / "error_by_depth.png")
    plot_error_by_depth(scores.bins.rows(), by_depth, title=report_dir.name)
    rgb, gt, pred, frames = zip(*scores.grid)
    labels_gt, labels_pred = (np.stack(m) for m in zip(*scores.grid_labels)) if scores.grid_labels else (None, None)
    grid = staged.path(report_dir / "grid.png")
    prediction_grid(
        np.stack(rgb),
        np.stack(gt),
        np.stack(pred),
        grid,
        max_depth=max_depth,
        titles=[f"frame {f}" for f in frames],
        labels_gt=labels_gt,
        labels_pred=labels_pred,
        class_names=scores.class_names,
    )
    return [*out, by_depth, grid, metrics_file]


def _log(
    variant: str,
    cfg: EvaluateConfig,
    test: PreparedSplit,
    model_sha256: str,
    metrics: dict,
    summary: dict,
    files: list[Path],
    extra_tags: Mapping[str, str],
) -> None:
    """The evaluate run: params, metrics grouped ``test/``, ``test_<protocol>/``, ``baseline/``, files, dataset;
    tagged with the sha256 of the per_frame.csv it wrote (how ``depthpipe gate`` finds it), the code each protocol
    follows and, on NYU test data, its reference figures, which ``reference.json`` sets beside the run's
    (:func:`~depthpipe.evaluation.protocols.reference_table`)."""
    info = test.info
    tags = stage_tags("evaluate", variant, info.source or None, info.source_sha256 or None)
    tags["depthpipe.train_run"] = runs.train_run_of(model_sha256, variant) or ""
    tags[runs.MODEL_SHA_TAG] = model_sha256
    tags[runs.PER_FRAME_TAG] = sha256_file(next(p for p in files if p.name == "per_frame.csv"))
    protocols, nyu = protocols_of(cfg), info.source not in REFERENCE_FREE_SOURCES
    tags |= reference_tags(protocols, figures=nyu)
    tags |= dict(extra_tags)
    with runs.stage_run("evaluate", variant, flatten({"evaluate": cfg}), tags) as run:
        if nyu:
            run.log_dict(reference_table(metrics, protocols), REFERENCE_FILE)
        run.log_dataset(
            test.path, f"{info.source or 'prepared'}-test", sha256_file(test.path), "testing", summary["frames"]
        )
        logged: dict[str, float] = {}
        for group, values in metrics.items():
            prefix = "test" if group in ("standard", SEMANTIC) else f"test_{group}"
            logged |= {f"{prefix}/{k}": v for k, v in values.items()}
        for protocol, values in summary["baseline"].items():
            prefix = "baseline" if protocol == "standard" else f"baseline_{protocol}"
            logged |= {f"{prefix}/{k}": v for k, v in values.items()}
        run.log_metrics(logged)
        for path in files:
            run.log_artifact(path)


def evaluate_variant(
    variant: str,
    cfg: EvaluateConfig,
    max_depth: float,
    model_dir: Path,
    prepared_dir: Path,
    metrics_path: Path,
    report_dir: Path,
    progress: bool = True,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Score ``variant`` on the test split in [``cfg.min_depth``, ``max_depth``] (``prepare.max_depth``) and write
    its outputs (see the module docstring); returns the metrics. ``tags`` are added to the MLflow run's."""
    model, config = load_trained(model_dir)
    if config["variant"] != variant:
        raise DepthpipeError(f"{model_dir}/config.json: holds variant '{config['variant']}', expected '{variant}'")
    test = PreparedSplit(split_path(prepared_dir, TEST), keys=("depth_full",))
    mean_depth = PreparedSplit(split_path(prepared_dir, TRAIN)).info.mean_depth
    torch.manual_seed(0)
    scores = score_test_split(model, config, test, cfg, max_depth, mean_depth, progress)
    metrics, summary = headline(scores, cfg), baseline_summary(scores, cfg, mean_depth)
    with StagedFiles() as staged:
        files = _write_outputs(staged, scores, metrics, summary, metrics_path, report_dir, max_depth)
        _log(variant, cfg, test, sha256_file(model_dir / MODEL_FILE), metrics, summary, files, tags or {})
        staged.commit()
    return metrics
