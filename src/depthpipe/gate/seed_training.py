"""Seed variance, measured: one variant trained and evaluated with n training seeds, its headline metrics' spread.

``depthpipe seeds VARIANT --n 3`` trains the variant with ``train.<variant>.seed + k`` for k = 0 .. n-1, in
this process, from the workspace's ``params.yaml`` and ``data/prepared``, into a scratch folder (temporary
unless one is given), evaluates each model the way the evaluate stage does (MLflow runs go to the usual store;
the evaluate runs carry the tag ``depthpipe.seed_study``) and writes ``reports/seeds/<variant>.json``
(:mod:`depthpipe.gate.spreads`). One process, whatever ``train.<variant>.nproc_per_node``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from depthpipe.config import Params, with_changes
from depthpipe.errors import DepthpipeError
from depthpipe.evaluation.evaluate import evaluate_variant
from depthpipe.files import write_json_atomic
from depthpipe.gate.spreads import seed_study
from depthpipe.tracking.runs import SEED_STUDY_TAG
from depthpipe.training.trainer import Trainer
from depthpipe.workspace import WorkspacePaths


@contextlib.contextmanager
def _scratch(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="depthpipe-seeds-") as tmp:
        yield Path(tmp)


def train_and_evaluate(
    variant: str, params: Params, prepared_dir: Path, folder: Path, progress: bool = True
) -> dict[str, dict[str, float]]:
    """Train ``variant`` with ``params`` into ``folder`` and evaluate it there; returns the headline metrics."""
    seed = params.train_config(variant).seed
    scratch = WorkspacePaths(folder)
    model_dir = scratch.model_dir(variant)
    Trainer(
        variant,
        params.train_config(variant),
        params.model_config_of(variant),
        prepared_dir,
        model_dir,
        scratch.train_reports(variant),
        progress=progress,
    ).train()
    return evaluate_variant(
        variant,
        params.evaluate,
        params.prepare.max_depth,
        model_dir,
        prepared_dir,
        scratch.metrics(variant),
        scratch.eval_reports(variant),
        progress=progress,
        tags={SEED_STUDY_TAG: f"{variant} seed {seed}"},
    )


def measure_seeds(
    variant: str,
    params: Params,
    prepared_dir: Path,
    out_path: Path,
    n: int,
    scratch: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate ``variant`` with n seeds from ``train.<variant>.seed``; write and return the study."""
    if n < 2:
        raise DepthpipeError(f"seeds: --n must be at least 2 (a spread needs two seeds; got {n})")
    first = params.train_config(variant).seed
    seeds = [first + k for k in range(n)]
    headlines = []
    with _scratch(scratch) as folder:
        for seed in seeds:
            seeded = with_changes(params, {f"train.{variant}.seed": seed})
            headlines.append(train_and_evaluate(variant, seeded, Path(prepared_dir), folder / f"seed{seed}", progress))
    study = seed_study(variant, params.recipe, seeds, headlines)
    write_json_atomic(out_path, study)
    return study
