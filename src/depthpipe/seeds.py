"""Seed variance, measured: one variant trained and evaluated with n training seeds, its headline metrics' spread.

``depthpipe seeds VARIANT --n 3`` trains the variant with ``train.<variant>.seed + k`` for k = 0 .. n-1, in
this process, from the workspace's ``params.yaml`` and ``data/prepared``, into a scratch folder (temporary
unless one is given), evaluates each model the way the evaluate stage does (MLflow runs go to the usual store;
the evaluate runs carry the tag ``depthpipe.seed_study``) and writes ``reports/seeds/<variant>.json``::

    {"variant": ..., "recipe": ..., "seeds": [0, 1, 2],
     "metrics": {"standard": {"abs_rel": {"values": [...], "mean": ..., "std": ..., "spread": ...}, ...},
                 "semantic": {...}}}

``std`` is the sample standard deviation (ddof 1), ``spread`` the max - min over the seeds: the tolerance t
of ``gate.tolerance: seeds`` (:func:`read_spreads`). One process, whatever ``train.<variant>.nproc_per_node``.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from depthpipe.config import Params, with_changes
from depthpipe.errors import DepthpipeError
from depthpipe.io import read_json, write_json_atomic

SEEDS_DIR = Path("reports") / "seeds"


def seeds_path(root: Path, variant: str) -> Path:
    """``<root>/reports/seeds/<variant>.json``."""
    return Path(root) / SEEDS_DIR / f"{variant}.json"


@contextlib.contextmanager
def _scratch(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="depthpipe-seeds-") as tmp:
        yield Path(tmp)


def train_and_evaluate(variant: str, params: Params, prepared_dir: Path, folder: Path,
                       progress: bool = True) -> dict[str, dict[str, float]]:
    """Train ``variant`` with ``params`` into ``folder`` and evaluate it there; returns the headline metrics."""
    from depthpipe.evaluate import evaluate_variant
    from depthpipe.tracking import SEED_STUDY_TAG
    from depthpipe.trainer import train_variant

    seed = params.train_config(variant).seed
    model_dir = folder / "models" / variant
    train_variant(variant, params.train_config(variant), params.model_config_of(variant), prepared_dir, model_dir,
                  folder / "reports" / "train" / variant, progress=progress)
    return evaluate_variant(variant, params.evaluate, model_dir, prepared_dir, folder / "metrics" / f"{variant}.json",
                            folder / "reports" / "eval" / variant, progress=progress,
                            tags={SEED_STUDY_TAG: f"{variant} seed {seed}"})


def seed_study(variant: str, recipe: str, seeds: Sequence[int],
               headlines: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """The file's content: per group and metric the values over ``seeds``, their mean, std (ddof 1) and spread."""
    metrics: dict[str, dict[str, Any]] = {}
    for group, values in headlines[0].items():
        metrics[group] = {}
        for metric in values:
            v = np.array([h[group][metric] for h in headlines], dtype=np.float64)
            metrics[group][metric] = {"values": [float(x) for x in v], "mean": round(float(v.mean()), 6),
                                      "std": round(float(v.std(ddof=1)), 6),
                                      "spread": round(float(v.max() - v.min()), 6)}
    return {"variant": variant, "recipe": recipe, "seeds": [int(s) for s in seeds], "metrics": metrics}


def measure_seeds(variant: str, params: Params, prepared_dir: Path, out_path: Path, n: int,
                  scratch: Path | None = None, progress: bool = True) -> dict[str, Any]:
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


def read_spreads(path: Path) -> dict[str, dict[str, float]]:
    """``{group: {metric: spread}}`` of a seed study file; one-line errors name the file."""
    if not Path(path).exists():
        raise DepthpipeError(f"{path}: not found; gate.tolerance: seeds needs it (run `depthpipe seeds "
                             f"{Path(path).stem} --n 3`, or set gate.tolerance: fixed)")
    study = read_json(path, "a seed study")
    try:
        return {group: {metric: float(stats["spread"]) for metric, stats in values.items()}
                for group, values in study["metrics"].items()}
    except (KeyError, TypeError, AttributeError, ValueError):
        raise DepthpipeError(f"{path}: not a seed study (expected metrics.<group>.<metric>.spread)") from None
