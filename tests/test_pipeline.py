"""End to end: the real `dvc repro` on the tiny recipe, in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPY = ["dvc.yaml", "params.yaml", ".dvcignore", "pipeline", "src", "data/splits.mat", "data/classMapping40.mat"]

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("depthpipe") / "repo"
    root.mkdir()
    for rel in COPY:
        src = REPO / rel
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dst)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["recipe"] = "tiny"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".gitignore").write_text("/mlflow.db\n/mlruns/\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GX_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    _run(["git", "init", "-q", "-b", "main"], root, env)
    _run([str(BIN / "dvc"), "init", "-q"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "tiny project"], root, env)
    first = _run([str(BIN / "dvc"), "repro"], root, env)
    return root, env, first


def _runs(root: Path) -> list[dict[str, str]]:
    con = sqlite3.connect(root / "mlflow.db")
    try:
        rows = con.execute("select run_uuid, status from runs").fetchall()
        out = []
        for run_id, status in rows:
            tags = dict(con.execute("select key, value from tags where run_uuid=?", (run_id,)).fetchall())
            out.append({"run_id": run_id, "status": status, **tags})
        return out
    finally:
        con.close()


def test_repro_builds_the_whole_chain(project):
    root, _, first = project
    for stage in ("download", "validate", "prepare", "train@densedepth", "train@semantic_booster",
                  "evaluate@densedepth", "evaluate@semantic_booster", "export@densedepth", "export@semantic_booster"):
        assert f"Running stage '{stage}'" in first.stdout, stage
    assert json.loads((root / "reports" / "validation.json").read_text())["success"] is True
    for variant in ("densedepth", "semantic_booster"):
        m = json.loads((root / "metrics" / f"{variant}.json").read_text())
        assert {"abs_rel", "rmse", "delta1", "baseline"} <= set(m)
        assert (root / "models" / variant / "model.pt").exists()
        assert (root / "exports" / variant / "model.onnx").exists()
        assert json.loads((root / "exports" / variant / "export.json").read_text())["passed"] is True
    assert "miou" in json.loads((root / "metrics" / "semantic_booster.json").read_text())
    assert (root / "dvc.lock").exists()


def test_mlflow_holds_every_run_with_tags(project):
    root, _, _ = project
    runs = [r for r in _runs(root) if r.get("depthpipe.stage") in ("train", "evaluate")]
    assert {(r["depthpipe.stage"], r["depthpipe.variant"]) for r in runs} == {
        (s, v) for s in ("train", "evaluate") for v in ("densedepth", "semantic_booster")}
    assert all(r["status"] == "FINISHED" for r in runs)
    assert len({r["depthpipe.pipeline_run"] for r in runs}) == 1  # one dvc repro -> one group
    assert all(len(r["mlflow.source.git.commit"]) == 40 for r in runs)
    assert all(r["depthpipe.data.source"] == "synthetic" and len(r["depthpipe.data.sha256"]) == 64 for r in runs)


def test_second_repro_is_a_no_op(project):
    root, env, _ = project
    res = _run([str(BIN / "dvc"), "repro"], root, env)
    assert "Running stage" not in res.stdout


def test_changing_one_lr_reruns_only_that_variant(project):
    root, env, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["densedepth"]["lr"] = params["train"]["densedepth"]["lr"] * 0.5
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    res = _run([str(BIN / "dvc"), "repro"], root, env)
    ran = {line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"train@densedepth", "evaluate@densedepth", "export@densedepth"}


def test_experiments_are_listed_with_metrics(project):
    root, env, _ = project
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "baseline results"], root, env)
    for lr in ("0.002", "0.0005"):
        _run([str(BIN / "dvc"), "exp", "run", "-S", f"train.semantic_booster.lr={lr}"], root, env)
    show = _run([str(BIN / "dvc"), "exp", "show", "--json"], root, env)
    text = show.stdout
    assert "0.002" in text and "0.0005" in text and "delta1" in text
    runs = _runs(root)
    assert any(r.get("dvc.exp_name") for r in runs)  # runs from `dvc exp run` carry the experiment name


def test_bad_data_stops_the_pipeline(tmp_path, project):
    root, env, _ = project
    bad = tmp_path / "bad.mat"
    sys.path.insert(0, str(REPO / "tests"))
    from nyu_fixtures import write_small_nyu

    write_small_nyu(bad, n=4, h=96, w=128, nan_frames=[1])
    res = subprocess.run([str(BIN / "dvc"), "exp", "run", "-S", "data.source=file", "-S", f"data.file={bad}",
                          "-S", "data.splits_file=" + str(tmp_path / "s.mat")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    # the user's split does not exist yet: a clear error names it
    assert res.returncode != 0 and "s.mat" in (res.stdout + res.stderr)
    from nyu_fixtures import write_simple_splits

    write_simple_splits(tmp_path / "s.mat", 4, 1)
    res = subprocess.run([str(BIN / "dvc"), "exp", "run", "-S", "data.source=file", "-S", f"data.file={bad}",
                          "-S", "data.splits_file=" + str(tmp_path / "s.mat")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "NaN" in out and "[1]" in out
    assert "Running stage 'prepare'" not in out
