"""The stage scripts of pipeline/, run as DVC runs them (depthpipe.stage_runner): a tracking store that cannot be
used stops a stage in seconds with one line naming it, before any output; a stage killed with SIGTERM ends its
MLflow run FAILED; each script writes what it declares."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers.project import copy_project, project_env

pytestmark = pytest.mark.slow


def _stage(root: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    res = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    return res, time.monotonic() - start


@pytest.mark.parametrize(
    "store, named",
    [
        ("http://127.0.0.1:9", "MLflow tracking server http://127.0.0.1:9 did not answer within 5 s"),
        ("sqlite:///{root}/mlflow.db", "mlflow.db: not an SQLite database"),
        ("sqlite:///{root}/missing/mlflow.db", "missing/mlflow.db: its folder does not exist"),
    ],
)
def test_an_unusable_store_stops_the_stage_before_any_output(tmp_path, store, named) -> None:
    root = copy_project(tmp_path / "repo")
    (root / "mlflow.db").write_text("this is not a database")
    env = project_env() | {"MLFLOW_TRACKING_URI": store.format(root=root)}
    res, took = _stage(root, env, "pipeline/download.py")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and named in lines[0], res.stderr
    assert lines[0].startswith("download: error: MLflow ")
    assert took < 20  # seconds, not MLflow's minutes of retries
    assert not (root / "data" / "raw").exists()


def test_sigterm_ends_the_train_run_failed(tmp_path, tiny_data, tiny_params, _mlflow_template) -> None:
    """A train stage killed with SIGTERM (a CI timeout, ``dvc queue kill``) leaves its run FAILED, not RUNNING."""
    root = copy_project(tmp_path / "repo")
    shutil.copytree(tiny_data.prepared, root / "data" / "prepared")
    from depthpipe.config.composition import compose_params

    compose_params(root, ["recipe=tiny", "train.semantic_booster.epochs=50", "train.semantic_booster.device=cpu"])
    shutil.copyfile(_mlflow_template, root / "mlflow.db")
    env = project_env() | {"OMP_NUM_THREADS": "1", "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false"}
    proc = subprocess.Popen(
        [sys.executable, "pipeline/train.py", "semantic_booster"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:  # wait until the run exists and the first epoch is under way
        if "MLflow run" in line:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130 and "train: interrupted" in out, out
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("depthpipe").experiment_id], "tags.`depthpipe.stage` = 'train'"
    )
    assert run.info.status == "FAILED"
    assert not list(root.rglob("*.tmp-*"))  # an interrupted write removes its temporary file


def test_the_check_script_writes_the_sections_it_checked(tmp_path, new_store) -> None:
    """``pipeline/check.py`` is the stage itself: run as DVC runs it, it writes ``reports/check.json``."""
    import json

    root = copy_project(tmp_path / "repo")
    env = project_env() | {"MLFLOW_TRACKING_URI": new_store(root)}
    res, _ = _stage(root, env, "pipeline/check.py")
    assert res.returncode == 0 and res.stdout.startswith("check: params.yaml ("), res.stderr
    report = json.loads((root / "reports" / "check.json").read_text())
    assert report["valid"] is True and "export" in report["sections"] and "validate" in report["sections"]


def test_a_variant_stage_without_its_variant_is_one_line(tmp_path, new_store) -> None:
    root = copy_project(tmp_path / "repo")
    env = project_env() | {"MLFLOW_TRACKING_URI": new_store(root)}
    res, _ = _stage(root, env, "pipeline/evaluate.py", "nonesuch")
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        "evaluate: error: usage: evaluate.py VARIANT, one of densedepth, semantic_booster"
    ]


def test_a_truncated_train_h5_is_one_line_before_training(tmp_path, tiny_data, _mlflow_template) -> None:
    """A truncated data/prepared/train.h5 (a copy cut short): one line naming it and saying how to remake it,
    exit 1, and no model written."""
    root = copy_project(tmp_path / "repo")
    prepared = root / "data" / "prepared"
    shutil.copytree(tiny_data.prepared, prepared)
    data = (prepared / "train.h5").read_bytes()
    (prepared / "train.h5").write_bytes(data[: len(data) // 2])
    shutil.copyfile(_mlflow_template, root / "mlflow.db")
    res, _ = _stage(root, project_env(), "pipeline/train.py", "densedepth")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith("train: error: ") and "data/prepared/train.h5: not a readable HDF5 file (" in lines[0]
    assert "truncated file" in lines[0] and lines[0].endswith(
        "remake it with `dvc repro prepare` (then `dvc repro` runs what depends on it again)"
    )
    assert not (root / "models" / "densedepth").exists()


def test_a_full_disk_is_one_line_naming_the_output(tmp_path, new_store) -> None:
    """A stage whose output folder is a full disk (a real tmpfs, filled): one line naming the output, exit 1, and
    no partial file left behind."""
    from helpers.mounts import tmpfs

    root = copy_project(tmp_path / "repo")
    env = project_env() | {"MLFLOW_TRACKING_URI": new_store(root)}
    with tmpfs(root / "reports", "16k") as reports:
        (reports / "filler").write_bytes(b"\0" * (16 << 10))
        res, _ = _stage(root, env, "pipeline/check.py")
        assert res.returncode == 1, res.stderr
        assert res.stderr.strip().splitlines() == [
            f"check: error: {reports / 'check.json'}: no space left on its disk: free some and run again "
            "[errno 28 ENOSPC]"
        ]
        assert sorted(p.name for p in reports.iterdir()) == ["filler"]
