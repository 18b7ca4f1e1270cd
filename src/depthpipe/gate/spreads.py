"""The seed-study file ``reports/seeds/<variant>.json``: what it holds and how the gate reads its spreads.

::

    {"variant": ..., "recipe": ..., "seeds": [0, 1, 2],
     "metrics": {"standard": {"abs_rel": {"values": [...], "mean": ..., "std": ..., "spread": ...}, ...},
                 "semantic": {...}}}

``std`` is the sample standard deviation (ddof 1), ``spread`` the max - min over the seeds: the tolerance t
of ``gate.tolerance: seeds`` (:func:`read_spreads`). ``depthpipe seeds`` writes it
(:mod:`depthpipe.gate.seed_training`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depthpipe.errors import DepthpipeError
from depthpipe.files import read_json
from depthpipe.workspace import WorkspacePaths


def seeds_path(root: Path, variant: str) -> Path:
    """``<root>/reports/seeds/<variant>.json``."""
    return WorkspacePaths(Path(root)).seeds(variant)


def seed_study(
    variant: str, recipe: str, seeds: Sequence[int], headlines: Sequence[Mapping[str, Mapping[str, float]]]
) -> dict[str, Any]:
    """The file's content: per group and metric the values over ``seeds``, their mean, std (ddof 1) and spread."""
    metrics: dict[str, dict[str, Any]] = {}
    for group, values in headlines[0].items():
        metrics[group] = {}
        for metric in values:
            v = np.array([h[group][metric] for h in headlines], dtype=np.float64)
            metrics[group][metric] = {
                "values": [float(x) for x in v],
                "mean": round(float(v.mean()), 6),
                "std": round(float(v.std(ddof=1)), 6),
                "spread": round(float(v.max() - v.min()), 6),
            }
    return {"variant": variant, "recipe": recipe, "seeds": [int(s) for s in seeds], "metrics": metrics}


def read_spreads(path: Path) -> dict[str, dict[str, float]]:
    """``{group: {metric: spread}}`` of a seed study file; one-line errors name the file."""
    if not Path(path).exists():
        raise DepthpipeError(
            f"{path}: not found; gate.tolerance: seeds needs it (run `depthpipe seeds "
            f"{Path(path).stem} --n 3`, or set gate.tolerance: fixed)"
        )
    study = read_json(path, "a seed study")
    try:
        return {
            group: {metric: float(stats["spread"]) for metric, stats in values.items()}
            for group, values in study["metrics"].items()
        }
    except (KeyError, TypeError, AttributeError, ValueError):
        raise DepthpipeError(f"{path}: not a seed study (expected metrics.<group>.<metric>.spread)") from None
