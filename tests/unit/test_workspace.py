"""Workspace paths: every one is spelled as dvc.yaml names it, relative to the root or under it."""

from __future__ import annotations

from pathlib import Path

import yaml

from depthpipe.workspace import WorkspacePaths
from helpers.paths import REPO


def _dvc_paths() -> set[str]:
    """Every path dvc.yaml names as a stage's output or dependency, ``${item}`` as ``densedepth``."""
    text = (REPO / "dvc.yaml").read_text().replace("${item}", "densedepth")
    out = set()
    for stage in yaml.safe_load(text)["stages"].values():
        spec = stage.get("do", stage)
        for key in ("deps", "outs", "metrics"):
            out |= {d if isinstance(d, str) else next(iter(d)) for d in spec.get(key, [])}
    return out


def test_every_path_is_one_dvc_yaml_names() -> None:
    paths = WorkspacePaths()
    named = {
        paths.raw,
        paths.prepared,
        paths.check_report,
        paths.validation_report,
        paths.frame_stats,
        paths.metrics("densedepth"),
        paths.exports("densedepth"),
    }
    dvc = _dvc_paths()
    assert {p.as_posix() for p in named} <= dvc
    assert (paths.model_dir("densedepth") / "model.pt").as_posix() in dvc
    assert (paths.train_reports("densedepth") / "loss.png").as_posix() in dvc
    assert (paths.eval_reports("densedepth") / "summary.json").as_posix() in dvc
    assert paths.seeds("densedepth").as_posix() == "reports/seeds/densedepth.json"


def test_paths_lie_under_the_root() -> None:
    root = Path("/tmp/ws")
    assert WorkspacePaths(root).prepared == root / "data" / "prepared"
    assert WorkspacePaths(root).eval_reports("semantic_booster") == root / "reports" / "eval" / "semantic_booster"
