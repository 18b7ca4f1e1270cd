"""The merge gate: paired bootstrap verdicts on constructed per-frame evidence, the git revision plumbing on a
throw-away repository, and on the session's tiny models a deliberately broken change and the MLflow artifact."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from depthpipe.cli import main
from depthpipe.config import GateConfig
from depthpipe.evaluation.evaluate import csv_text
from depthpipe.evaluation.protocols import (
    Protocol,
    summarize,
    summarize_resamples,
    summarize_semantic,
    summarize_semantic_resamples,
)
from depthpipe.gate.compare import compare, judge
from depthpipe.gate.evidence import GateError, eval_path, pair
from depthpipe.gate.report import to_markdown
from depthpipe.gate.resampling import paired_weights, percentile_interval, resample_indices
from depthpipe.gate.verdict import run_gate
from depthpipe.metrics.depth import DEPTH_METRICS, DEPTH_SUMS, metrics_from_sums
from helpers.paths import REPO

# the session's tiny models (conftest.trained) are trained once, on the worker that runs every module using them
pytestmark = pytest.mark.xdist_group("trained")

METRICS = ["abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3", "miou", "pixel_acc"]
ERRORS = ["abs_rel", "sq_rel", "rmse", "rmse_log", "log10"]
GATE = GateConfig(
    abs_tol=0.0, rel_tol=0.02, metrics=METRICS, resamples=2000, confidence=0.95, seed=0, tolerance="fixed"
)
PROTOCOLS = (
    Protocol("standard", "eigen", False, pooled=False),
    Protocol("densedepth", "densedepth", True, pooled=True),
)
CLASSES = 5
# how a frame's sums change when each of its metrics gets `factor` worse (rmse and rmse_log are square roots)
WORSE_POWER = {"sum_abs_rel": 1, "sum_sq_rel": 1, "sum_sq": 2, "sum_sq_log": 2, "sum_abs_log10": 1}


# --- constructed evidence ------------------------------------------------------------------------------------


def frame_sums(rng: np.random.Generator) -> dict[str, float]:
    n = float(rng.integers(800, 1600))
    d1 = rng.uniform(0.6, 0.85)
    d2 = d1 + rng.uniform(0.0, 1 - d1) * 0.7
    d3 = d2 + rng.uniform(0.0, 1 - d2) * 0.7
    return {
        "n": n,
        "sum_abs_rel": n * rng.uniform(0.1, 0.3),
        "sum_sq_rel": n * rng.uniform(0.05, 0.2),
        "sum_sq": n * rng.uniform(0.2, 0.8),
        "sum_sq_log": n * rng.uniform(0.03, 0.1),
        "sum_abs_log10": n * rng.uniform(0.04, 0.12),
        "n_delta1": round(n * d1),
        "n_delta2": round(n * d2),
        "n_delta3": round(n * d3),
    }


def row_of(frame: int, sums_by_protocol: dict[str, dict[str, float]]) -> dict:
    row: dict = {"frame": frame}
    for p in PROTOCOLS:
        sums = sums_by_protocol[p.name]
        row |= {p.column(k): v for k, v in metrics_from_sums(sums).items()} | {p.column(k): sums[k] for k in DEPTH_SUMS}
    return row


def evidence(n_frames: int = 60, seed: int = 1, first_frame: int = 1) -> tuple[list[dict], list[dict]]:
    """``(rows, class_rows)`` of ``n_frames`` frames, self-consistent (each metric follows from its sums)."""
    rng = np.random.default_rng(seed)
    rows, class_rows = [], []
    for frame in range(first_frame, first_frame + n_frames):
        rows.append(row_of(frame, {p.name: frame_sums(rng) for p in PROTOCOLS}))
        for c in rng.choice(np.arange(1, CLASSES + 1), size=3, replace=False):
            gt = int(rng.integers(100, 400))
            tp = int(gt * rng.uniform(0.3, 0.8))
            pred = tp + int(rng.integers(0, 100))
            class_rows.append({"frame": frame, "class": int(c), "tp": tp, "gt": gt, "pred": pred})
    return rows, class_rows


def sums_of(row: dict, protocol: str) -> dict[str, float]:
    return {k: row[f"{protocol}/{k}"] for k in DEPTH_SUMS}


def worsen(rows: list[dict], class_rows: list[dict], factor: float = 1.1) -> tuple[list[dict], list[dict]]:
    """Every frame ``factor`` worse on every metric: errors x factor, delta counts and tp / factor."""
    out = []
    for r in rows:
        new = {}
        for p in PROTOCOLS:
            s = sums_of(r, p.name)
            s |= {k: s[k] * factor**power for k, power in WORSE_POWER.items()}
            s |= {k: s[k] / factor for k in ("n_delta1", "n_delta2", "n_delta3")}
            new[p.name] = s
        out.append(row_of(int(r["frame"]), new))
    worse_classes = [c | {"tp": c["tp"] / factor} for c in class_rows]
    return out, worse_classes


def shift_onto_one_frame(rows: list[dict], frame_index: int, factor: float = 1.1) -> list[dict]:
    """The mean shift of :func:`worsen` on the error metrics, carried by one frame alone."""
    out = [dict(r) for r in rows]
    for p in PROTOCOLS:
        for metric in ERRORS:  # per-image means: the frame's own metric takes the whole shift
            column = p.column(metric)
            total = sum(r[column] for r in rows)
            out[frame_index][column] += (factor - 1) * total
        for key, power in WORSE_POWER.items():  # pooled sums: the frame's sum takes the whole shift
            column = p.column(key)
            total = sum(r[column] for r in rows)
            out[frame_index][column] += (factor**power - 1) * total
    return out


def judged(base: tuple, cand: tuple, cfg: GateConfig = GATE, strict: bool = False, root: Path = REPO):
    return compare({"densedepth": pair("densedepth", base, cand)}, cfg, root, strict)


def verdicts(result) -> dict[str, str]:
    return {f"{c.group}/{c.metric}": c.verdict for c in result.comparisons}


# --- verdicts --------------------------------------------------------------------------------------------------


def test_identical_sides_are_ok():
    side = evidence()
    result = judged(side, side)
    assert len(result.comparisons) == 2 * 8 + 2  # standard, densedepth, semantic
    assert set(verdicts(result).values()) == {"ok"} and result.exit_code == 0
    assert all(c.low == c.high == c.difference == 0 for c in result.comparisons)


def test_every_frame_ten_percent_worse_regresses():
    base = evidence()
    result = judged(base, worsen(*base))
    assert set(verdicts(result).values()) == {"regressed"}, verdicts(result)
    assert result.exit_code == 1
    abs_rel = next(c for c in result.comparisons if c.group == "standard" and c.metric == "abs_rel")
    assert abs_rel.difference == pytest.approx(0.1 * abs_rel.baseline)
    assert abs_rel.low > abs_rel.tolerance == pytest.approx(0.02 * abs_rel.baseline)


def test_every_frame_ten_percent_better_improves():
    cand = evidence()
    result = judged(worsen(*cand), cand)
    assert set(verdicts(result).values()) == {"improved"} and result.exit_code == 0


def test_the_same_shift_on_one_outlier_frame_is_not_regressed():
    rows, class_rows = evidence()
    worse, _ = worsen(rows, class_rows)
    outlier = shift_onto_one_frame(rows, frame_index=17)
    cfg = GATE.model_copy(update={"metrics": ERRORS})
    base = (rows, class_rows)
    spread, single = judged(base, (worse, class_rows), cfg), judged(base, (outlier, class_rows), cfg)
    for a, b in zip(spread.comparisons, single.comparisons):  # the same change of the headline figure
        assert a.difference == pytest.approx(b.difference, rel=1e-9), a.metric
    assert set(verdicts(spread).values()) == {"regressed"}
    assert set(verdicts(single).values()) <= {"inconclusive", "ok"}, verdicts(single)
    assert verdicts(single)["standard/abs_rel"] == "inconclusive"
    assert single.exit_code == 0 and judged(base, (outlier, class_rows), cfg, strict=True).exit_code == 1


@pytest.mark.parametrize(
    "low, high, tol, higher, verdict",
    [
        (0.03, 0.05, 0.02, False, "regressed"),  # lower is better: the whole interval is worse than t
        (0.01, 0.05, 0.02, False, "inconclusive"),  # straddles t
        (-0.05, 0.01, 0.02, False, "ok"),
        (-0.05, -0.03, 0.02, False, "improved"),
        (-0.03, 0.02, 0.02, False, "ok"),  # touching t is not beyond it
        (-0.05, -0.03, 0.02, True, "regressed"),  # higher is better: a drop is worse
        (0.03, 0.05, 0.02, True, "improved"),
        (-0.03, 0.01, 0.02, True, "inconclusive"),
        (0.0, 0.0, 0.0, False, "ok"),
    ],
)
def test_judge_directions_and_boundaries(low, high, tol, higher, verdict):
    assert judge(low, high, tol, higher) == verdict


# --- the bootstrap -----------------------------------------------------------------------------------------------


def test_resampled_figures_match_a_brute_force_loop():
    rows, class_rows = evidence(n_frames=25)
    base, cand = pair("densedepth", (rows, class_rows), worsen(rows, class_rows))
    indices = resample_indices(len(rows), 50, seed=3)
    weights = paired_weights(len(rows), 50, seed=3)
    by_frame = {}
    for c in class_rows:
        by_frame.setdefault(c["frame"], []).append(c)
    fast = {p.name: summarize_resamples(cand.columns, weights, p) for p in PROTOCOLS}
    fast_semantic = summarize_semantic_resamples(cand.counts, weights)
    for r in (0, 1, 17, 49):
        drawn = [cand.rows[i] for i in indices[r]]
        for p in PROTOCOLS:
            slow = summarize(drawn, p)
            assert {k: fast[p.name][k][r] for k in DEPTH_METRICS} == pytest.approx(slow, rel=1e-12), (r, p.name)
        drawn_classes = [dict(c, tp=c["tp"] / 1.1) for i in indices[r] for c in by_frame[cand.rows[i]["frame"]]]
        slow = summarize_semantic(drawn_classes)
        assert {k: fast_semantic[k][r] for k in slow} == pytest.approx(slow, rel=1e-12), r
    assert summarize(base.rows, PROTOCOLS[1]) == pytest.approx(
        {k: v[0] for k, v in summarize_resamples(base.columns, np.ones((1, len(rows))), PROTOCOLS[1]).items()}
    )


def test_bootstrap_is_seeded_and_paired():
    base = evidence(seed=4)
    cand = evidence(seed=5)  # other numbers for the same frames
    a, b = judged(base, cand), judged(base, cand)
    assert [(c.low, c.high) for c in a.comparisons] == [(c.low, c.high) for c in b.comparisons]
    other = judged(base, cand, GATE.model_copy(update={"seed": 1}))
    assert [(c.low, c.high) for c in a.comparisons] != [(c.low, c.high) for c in other.comparisons]
    assert np.array_equal(paired_weights(10, 5, 0).sum(axis=1), np.full(5, 10.0))
    assert percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))
    # paired: a shift every frame shares leaves no spread, however different the frames are from each other
    rows, class_rows = base
    shifted = [r | {"standard/abs_rel": r["standard/abs_rel"] + 0.01} for r in rows]
    result = judged(base, (shifted, class_rows))
    c = next(c for c in result.comparisons if c.group == "standard" and c.metric == "abs_rel")
    assert c.low == pytest.approx(0.01) and c.high == pytest.approx(0.01)


def test_654_frames_and_10000_resamples_well_under_a_second_per_metric():
    rows, class_rows = evidence(n_frames=654)
    cfg = GATE.model_copy(update={"resamples": 10_000})
    start = time.perf_counter()
    result = judged((rows, class_rows), worsen(rows, class_rows), cfg)
    per_metric = (time.perf_counter() - start) / len(result.comparisons)
    assert len(result.comparisons) == 18 and per_metric < 0.5, f"{per_metric:.3f} s per metric"


# --- tolerance from seeds, frames, table ------------------------------------------------------------------------


def write_seed_study(root: Path, spread: float, variant: str = "densedepth") -> None:
    from depthpipe.files import write_json_atomic
    from depthpipe.gate.spreads import seeds_path

    groups = {"standard": DEPTH_METRICS, "densedepth": DEPTH_METRICS, "semantic": ("miou", "pixel_acc")}
    metrics = {
        g: {m: {"values": [0, spread], "mean": spread / 2, "std": 0.0, "spread": spread} for m in ms}
        for g, ms in groups.items()
    }
    write_json_atomic(seeds_path(root, variant), {"variant": variant, "seeds": [0, 1], "metrics": metrics})


def test_seed_tolerance_is_the_spread_and_its_file_is_required(tmp_path: Path):
    base = evidence()
    cfg = GATE.model_copy(update={"tolerance": "seeds"})
    with pytest.raises(GateError, match=r"reports/seeds/densedepth.json: not found; gate.tolerance: seeds"):
        judged(base, worsen(*base), cfg, root=tmp_path)
    write_seed_study(tmp_path, spread=10.0)  # a wide seed spread: a 10% change is noise
    result = judged(base, worsen(*base), cfg, root=tmp_path)
    assert all(c.tolerance == 10.0 for c in result.comparisons)
    assert set(verdicts(result).values()) == {"ok"}


def test_different_frame_sets_name_the_missing_frames():
    rows, class_rows = evidence(n_frames=20)
    fewer = [r for r in rows if r["frame"] not in (7, 12)]
    with pytest.raises(GateError, match=r"densedepth: .*different test frames: baseline lacks frames 7, 12$"):
        pair("densedepth", (fewer, []), (rows, []))
    extra, _ = evidence(n_frames=2, first_frame=30)
    with pytest.raises(GateError, match=r"baseline lacks frames 7, 12; candidate lacks frames 30, 31"):
        pair("densedepth", (fewer + extra, []), (rows, []))


def test_markdown_summary_on_top_and_one_row_per_metric():
    base = evidence()
    result = judged(base, worsen(*base))
    result.baseline = "main"
    md = to_markdown(result, GATE)
    lines = md.splitlines()
    assert lines[0] == "### depthpipe merge gate vs `main`"
    assert lines[2] == "**FAIL (exit 1): 18 metrics compared: 18 regressed.**"
    header = "| variant | metric | better | baseline | candidate | difference | 95% interval | tolerance | verdict |"
    assert header in lines
    row = next(ln for ln in lines if "| standard/abs_rel |" in ln)
    assert row.startswith("| densedepth | standard/abs_rel | lower |") and row.endswith("| **regressed** |")
    assert "2000 resamples, seed 0" in md and md.isascii()
    assert sum(ln.startswith("| densedepth |") for ln in lines) == 18


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("resamples", 10, r"gate.resamples: input should be greater than or equal to 100"),
        ("confidence", 1.0, r"gate.confidence: input should be less than 1"),
        ("seed", -1, r"gate.seed: input should be greater than or equal to 0"),
        ("tolerance", "spread", r"gate.tolerance: input should be 'fixed' or 'seeds'"),
    ],
)
def test_gate_params_are_checked(key, value, expected):
    import yaml

    from depthpipe.config import parse
    from depthpipe.errors import DepthpipeError

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(raw["gate"]) == {"abs_tol", "rel_tol", "metrics", "resamples", "confidence", "seed", "tolerance"}
    raw["gate"][key] = value
    with pytest.raises(DepthpipeError, match=expected):
        parse(raw)


# --- the git revision plumbing ------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def write_evidence(root: Path, rows: list[dict], class_rows: list[dict], variant: str = "densedepth") -> None:
    for name, table in (("per_frame.csv", rows), ("per_frame_classes.csv", class_rows)):
        path = root / eval_path(variant, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(csv_text(table, ("frame", "class", "tp", "gt", "pred")))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """main: the evaluate outputs of a baseline (+ params.yaml); HEAD: branch ``feature`` off main."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.name", "depthpipe test")
    git(r, "config", "user.email", "test@example.com")
    git(r, "config", "commit.gpgsign", "false")
    shutil.copyfile(REPO / "params.yaml", r / "params.yaml")
    write_evidence(r, *evidence())
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "baseline evidence")
    git(r, "checkout", "-q", "-b", "feature")
    return r


def test_identical_workspace_passes(repo: Path):
    text, code = run_gate(repo, "main", GATE, log_to_mlflow=False)
    assert code == 0, text
    assert "**PASS (exit 0): 18 metrics compared: 18 ok.**" in text


def test_default_baseline_is_the_merge_base_with_main(repo: Path):
    write_evidence(repo, *worsen(*evidence()))
    git(repo, "commit", "-q", "-am", "worse")
    text, code = run_gate(repo, None, GATE, log_to_mlflow=False)
    assert code == 1, text
    assert "(merge base with main)" in text.splitlines()[0]


def test_worse_workspace_fails_through_the_cli(repo: Path, monkeypatch, capsys):
    write_evidence(repo, *worsen(*evidence()))  # uncommitted: the workspace is the candidate
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'absent' / 'mlflow.db'}")
    assert main(["gate", "--baseline", "main", "--output", "gate.md"]) == 1
    captured = capsys.readouterr()
    assert (repo / "gate.md").read_text() == captured.out and "18 regressed" in captured.out
    store = f"sqlite:///{repo / 'absent' / 'mlflow.db'}"
    assert captured.err.strip() == f"gate: no MLflow store at {store}; gate.md not logged"


def test_strict_fails_an_inconclusive_metric(repo: Path, monkeypatch, capsys):
    rows, class_rows = evidence()
    write_evidence(repo, shift_onto_one_frame(rows, frame_index=17), class_rows)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'absent' / 'mlflow.db'}")
    assert main(["gate", "--baseline", "main"]) == 0
    assert "inconclusive" in capsys.readouterr().out
    assert main(["gate", "--baseline", "main", "--strict"]) == 1
    assert capsys.readouterr().out.splitlines()[2].startswith("**FAIL (exit 1): ")


def test_an_mlflow_server_out_of_reach_changes_no_verdict(repo: Path, monkeypatch, capsys):
    write_evidence(repo, *worsen(*evidence()))
    quiet = run_gate(repo, "main", GATE, log_to_mlflow=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: connection refused
    start = time.perf_counter()
    assert run_gate(repo, "main", GATE) == quiet and quiet[1] == 1
    assert time.perf_counter() - start < 30  # one try (check_store), not MLflow's retries with backoff
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("gate: MLflow not reached (DepthpipeError: MLflow tracking server http://127.0.0.1:9 ")
    assert "Connection refused" in line and line.endswith("; gate.md not logged")


def test_unknown_revision_is_2(repo: Path):
    text, code = run_gate(repo, "no-such-rev", GATE, log_to_mlflow=False)
    assert code == 2 and "unknown revision 'no-such-rev'" in text


def test_baseline_missing_frames_is_2_naming_them(repo: Path):
    rows, class_rows = evidence()
    write_evidence(
        repo, [r for r in rows if r["frame"] not in (7, 12)], [c for c in class_rows if c["frame"] not in (7, 12)]
    )
    git(repo, "commit", "-q", "-am", "two frames fewer")
    git(repo, "checkout", "-q", "-b", "later")
    write_evidence(repo, rows, class_rows)
    text, code = run_gate(repo, "feature", GATE, log_to_mlflow=False)
    assert code == 2, text
    assert (
        "**FAIL (exit 2): densedepth: the two sides hold different test frames: baseline lacks frames 7, 12**" in text
    )


def test_missing_files_are_2(repo: Path):
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-q", "-r", "--cached", "reports")
    git(repo, "commit", "-q", "-m", "no evidence yet")
    empty = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-f", "feature")
    text, code = run_gate(repo, empty, GATE, log_to_mlflow=False)
    assert code == 2 and f"{empty}:reports/eval/densedepth/per_frame.csv: not found on the baseline side" in text
    (repo / eval_path("densedepth", "per_frame.csv")).unlink()
    text, code = run_gate(repo, "main", GATE, log_to_mlflow=False)
    assert code == 2 and "reports/eval/densedepth/per_frame.csv: not found on the candidate side" in text


def test_no_merge_base_is_2(tmp_path: Path):
    r = tmp_path / "lonely"
    r.mkdir()
    git(r, "init", "-q", "-b", "trunk")
    git(r, "config", "user.name", "t")
    git(r, "config", "user.email", "t@example.com")
    (r / "x").write_text("x")
    git(r, "add", "x")
    git(r, "commit", "-q", "-m", "x")
    text, code = run_gate(r, None, GATE, log_to_mlflow=False)
    assert code == 2 and "merge base" in text


# --- the session's tiny models: a deliberately broken change, and gate.md in MLflow ------------------------------


@pytest.fixture(scope="module")
def more_test_frames(tmp_path_factory) -> Path:
    """A prepared folder like ``tiny_data``'s (same sizes) whose test split holds 48 frames, not 4: enough evidence
    for all eight depth metrics to come out regressed when predictions are scaled by 1.3."""
    from conftest import tiny_prepared

    return tiny_prepared(tmp_path_factory.mktemp("more_test_frames"), 64, 1, 0.75)


@pytest.fixture(scope="module")
def broken_change(tmp_path_factory, trained, more_test_frames, tiny_params, new_store):
    """A repo whose main holds densedepth's evaluate outputs (the session's tiny model on 48 test frames, both
    protocols; the depth it scores is the truth with a 25% per-pixel error, see ``_near_truth``, since two epochs on 11
    frames make no model worth breaking) and whose workspace holds the same predictions scaled by 1.3; both evaluate
    runs in one MLflow store. Returns (repo, tracking URI)."""
    import torch

    from depthpipe.evaluation import evaluate, scoring

    root = tmp_path_factory.mktemp("broken")
    repo, uri, model = root / "repo", new_store(root / "mlflow"), trained("densedepth")
    repo.mkdir()
    for args in (("init", "-q", "-b", "main"), ("config", "user.name", "t"), ("config", "user.email", "t@example.com")):
        git(repo, *args)

    both_protocols = tiny_params.evaluate.model_copy(update={"protocols": ["standard", "densedepth"]})

    def evaluate_into_repo():
        evaluate.evaluate_variant(
            "densedepth",
            both_protocols,
            10.0,  # prepare.max_depth
            model.model_dir,
            more_test_frames,
            repo / "metrics" / "densedepth.json",
            repo / "reports" / "eval" / "densedepth",
            progress=False,
        )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", uri)
            add = scoring.Scorer.add
            mp.setattr(scoring.Scorer, "add", _near_truth(add, 1.0))
            evaluate_into_repo()
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "baseline")
            mp.setattr(scoring.Scorer, "add", _near_truth(add, 1.3))
            evaluate_into_repo()
    finally:
        torch.set_num_threads(threads)
    return repo, uri


def _near_truth(add, factor: float):
    """``Scorer.add`` scoring, in place of the model's depth, the frame's truth with a 25% log-normal error per pixel
    (seeded by the frame), times ``factor``: a fair model, where the tiny run's is no model at all."""

    def scored(self, frame, preds, gt, *rest):
        error = np.exp(0.25 * np.random.default_rng(frame).standard_normal(gt.shape)).astype(np.float32)
        return add(self, frame, dict.fromkeys(preds, gt * error * factor), gt, *rest)

    return scored


def test_the_gate_compares_the_headline_figures_of_the_metrics_files(broken_change):
    import json

    from depthpipe.gate.evidence import load_pairs, resolve_revision

    repo, _ = broken_change
    pairs = load_pairs(repo, resolve_revision(repo, "main"), ["densedepth"])
    result = compare(pairs, GATE.model_copy(update={"resamples": 100}), repo)
    at_main = json.loads(git(repo, "show", "main:metrics/densedepth.json"))
    in_workspace = json.loads((repo / "metrics" / "densedepth.json").read_text())
    assert len(result.comparisons) == 16
    for c in result.comparisons:
        assert round(c.baseline, 6) == at_main[c.group][c.metric], (c.group, c.metric)
        assert round(c.candidate, 6) == in_workspace[c.group][c.metric], (c.group, c.metric)


def _evaluate_runs(uri: str) -> dict[str, str]:
    """``{per_frame sha256: run id}`` of the store's evaluate runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("depthpipe")
    runs = client.search_runs([exp.experiment_id], "tags.`depthpipe.stage` = 'evaluate'")
    return {r.data.tags["depthpipe.per_frame_sha256"]: r.info.run_id for r in runs}


def test_predictions_scaled_by_1_3_regress_every_depth_metric(broken_change, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from depthpipe.files import sha256_file

    repo, uri = broken_change
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = GATE.model_copy(update={"resamples": 10_000})
    text, code = run_gate(repo, "main", cfg)
    result = {
        ln.split(" | ")[1]: ln.rstrip(" |").rsplit("| ", 1)[-1]
        for ln in text.splitlines()
        if ln.startswith("| densedepth |")
    }
    assert code == 1, text
    assert result == {f"{p}/{m}": "**regressed**" for p in ("standard", "densedepth") for m in DEPTH_METRICS}, text

    runs = _evaluate_runs(uri)
    candidate = runs[sha256_file(repo / eval_path("densedepth", "per_frame.csv"))]
    baseline = runs[_sha_at_main(repo)]
    client = MlflowClient(tracking_uri=uri)
    assert "gate.md" in {a.path for a in client.list_artifacts(candidate)}
    assert "gate.md" not in {a.path for a in client.list_artifacts(baseline)}
    logged = Path(client.download_artifacts(candidate, "gate.md"))
    assert logged.read_text() == text
    assert capsys.readouterr().err.strip() == f"gate: gate.md logged to MLflow (densedepth: run {candidate})"


def _sha_at_main(repo: Path) -> str:
    import hashlib

    blob = subprocess.run(
        ["git", "show", "main:reports/eval/densedepth/per_frame.csv"], cwd=repo, capture_output=True, check=True
    ).stdout
    return hashlib.sha256(blob).hexdigest()
