"""Seed variance, measured (depthpipe.seeds): a tiny seed study of densedepth, its file, its MLflow runs, and the
merge gate comparing two training seeds with the seed spread as its tolerance."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from depthpipe.cli import build_parser, main
from depthpipe.config import GateConfig, with_changes
from depthpipe.errors import DepthpipeError
from depthpipe.gate.evidence import PER_FRAME, PER_FRAME_CLASSES, eval_path
from depthpipe.gate.seed_training import measure_seeds
from depthpipe.gate.spreads import read_spreads, seed_study, seeds_path
from depthpipe.gate.verdict import run_gate
from depthpipe.metrics.depth import DEPTH_METRICS
from helpers.paths import REPO

VARIANT = "densedepth"
GATE = GateConfig(
    abs_tol=0.0, rel_tol=0.02, metrics=list(DEPTH_METRICS), resamples=2000, confidence=0.95, seed=0, tolerance="seeds"
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_params, tiny_data, new_store):
    """``depthpipe seeds densedepth --n 2`` on the tiny data (one epoch each), scratch kept; (root, study, uri)."""
    import torch

    root = tmp_path_factory.mktemp("seeds")
    uri = new_store(root / "mlflow")
    params = with_changes(tiny_params, {f"train.{VARIANT}.epochs": 1})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", uri)
            result = measure_seeds(
                VARIANT,
                params,
                tiny_data.prepared,
                seeds_path(root, VARIANT),
                n=2,
                scratch=root / "scratch",
                progress=False,
            )
    finally:
        torch.set_num_threads(threads)
    return root, result, uri


def test_study_file_holds_values_mean_std_and_spread(study, tiny_params):
    root, result, _ = study
    assert json.loads(seeds_path(root, VARIANT).read_text()) == result
    first = tiny_params.train.densedepth.seed
    assert result["variant"] == VARIANT and result["seeds"] == [first, first + 1]
    assert set(result["metrics"]) == {"standard"} and set(result["metrics"]["standard"]) == set(DEPTH_METRICS)
    for seed, k in zip(result["seeds"], range(2)):  # the values are each seed's metrics file, as evaluate wrote it
        written = json.loads((root / "scratch" / f"seed{seed}" / "metrics" / f"{VARIANT}.json").read_text())
        assert {m: s["values"][k] for m, s in result["metrics"]["standard"].items()} == written["standard"]
    for stats in result["metrics"]["standard"].values():
        v = np.array(stats["values"])
        assert stats["mean"] == round(float(v.mean()), 6) and stats["spread"] == round(float(v.max() - v.min()), 6)
        assert stats["std"] == round(float(v.std(ddof=1)), 6)
    assert any(s["spread"] > 0 for s in result["metrics"]["standard"].values())  # the seed did change the model
    spreads = read_spreads(seeds_path(root, VARIANT))["standard"]
    assert spreads == {m: s["spread"] for m, s in result["metrics"]["standard"].items()}


def test_study_runs_are_logged_and_tagged(study):
    from mlflow.tracking import MlflowClient

    _, result, uri = study
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("depthpipe")
    train = client.search_runs([exp.experiment_id], "tags.`depthpipe.stage` = 'train'")
    assert sorted(r.data.params["train.seed"] for r in train) == [str(s) for s in result["seeds"]]
    evaluated = client.search_runs([exp.experiment_id], "tags.`depthpipe.stage` = 'evaluate'")
    tags = sorted(r.data.tags["depthpipe.seed_study"] for r in evaluated)
    assert tags == [f"{VARIANT} seed {s}" for s in result["seeds"]]
    assert all(len(r.data.tags["depthpipe.per_frame_sha256"]) == 64 for r in evaluated)


def test_two_seeds_are_not_regressed_with_the_seed_spread_as_tolerance(study, tmp_path, capsys):
    """Seed 1 against seed 0 of the same variant: within seed noise by construction of the tolerance."""
    root, result, _ = study
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@example.com")
    seed0, seed1 = (root / "scratch" / f"seed{s}" for s in result["seeds"])
    for name in (PER_FRAME, PER_FRAME_CLASSES):
        (repo / eval_path(VARIANT, name)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed0 / eval_path(VARIANT, name), repo / eval_path(VARIANT, name))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed 0")
    for name in (PER_FRAME, PER_FRAME_CLASSES):
        shutil.copyfile(seed1 / eval_path(VARIANT, name), repo / eval_path(VARIANT, name))
    shutil.copytree(root / "reports" / "seeds", repo / "reports" / "seeds")
    text, code = run_gate(repo, "main", GATE, log_to_mlflow=False)
    verdicts = [ln.rstrip(" |").rsplit("| ", 1)[-1] for ln in text.splitlines() if ln.startswith(f"| {VARIANT} |")]
    assert len(verdicts) == 8 and "**regressed**" not in verdicts, text
    assert code == 0, text
    spreads = result["metrics"]["standard"]
    assert all(
        f"| {spreads[m]['spread']:.4g} |" in next(ln for ln in text.splitlines() if f"standard/{m} |" in ln)
        for m in DEPTH_METRICS
        if spreads[m]["spread"] >= 1e-3
    )
    print(text)  # shown with -s: what the tiny models' seed noise looks like


def test_seed_study_needs_two_seeds_and_a_readable_file(tmp_path, tiny_params, tiny_data):
    with pytest.raises(DepthpipeError, match=r"seeds: --n must be at least 2"):
        measure_seeds(VARIANT, tiny_params, tiny_data.prepared, tmp_path / "s.json", n=1)
    (tmp_path / "bad.json").write_text(json.dumps({"metrics": {"standard": {"abs_rel": {"mean": 1}}}}))
    with pytest.raises(DepthpipeError, match=r"bad.json: not a seed study \(expected metrics\.<group>"):
        read_spreads(tmp_path / "bad.json")
    with pytest.raises(DepthpipeError, match=r"absent.json: not found; gate.tolerance: seeds needs it"):
        read_spreads(tmp_path / "absent.json")


def test_seed_study_statistics():
    headlines = [{"standard": {"abs_rel": v}, "semantic": {"miou": 1 - v}} for v in (0.2, 0.3, 0.25)]
    s = seed_study(VARIANT, "tiny", [4, 5, 6], headlines)
    assert s["metrics"]["standard"]["abs_rel"] == {"values": [0.2, 0.3, 0.25], "mean": 0.25, "std": 0.05, "spread": 0.1}
    assert s["metrics"]["semantic"]["miou"]["spread"] == 0.1 and s["seeds"] == [4, 5, 6]


def test_cli_seeds_verb(tmp_path, monkeypatch, capsys):
    args = build_parser().parse_args(["seeds", "semantic_booster", "--n", "4", "--scratch", "x"])
    assert (args.variant, args.n, args.scratch) == ("semantic_booster", 4, "x")
    shutil.copyfile(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["seeds", VARIANT, "--n", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "depthpipe seeds: error: seeds: --n must be at least 2 (a spread needs two seeds; got 1)"
