"""Every MLflow call goes through depthpipe.tracking: store location, run ids, tags, what a stage run logs, and a
real ``mlflow server`` over HTTP."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from depthpipe.files import sha256_file
from depthpipe.tracking import provenance, runs, store
from helpers.team_stack import bucket_keys

EXP = "depthpipe-test"


@pytest.fixture(autouse=True)
def _experiment(monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXP)


# ------------------------------------------------------------------------------------------ where and who
def test_store_is_the_env_uri_else_the_main_workspace(tmp_path, monkeypatch) -> None:
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    assert store.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    main = tmp_path / "main"
    monkeypatch.setenv("DVC_ROOT", str(main))  # a --temp / --queue experiment: DVC names the main repository
    assert store.tracking_uri() == f"sqlite:///{main.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert store.tracking_uri() == "http://127.0.0.1:5999"
    assert store.experiment_name() == EXP
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    assert store.experiment_name() == "depthpipe"


def test_configure_uses_the_store_with_artifacts_beside_it(tmp_path, monkeypatch, _mlflow_template) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copyfile(_mlflow_template, tmp_path / "mlflow.db")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    uri = store.configure()
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert mlflow.get_tracking_uri() == uri
    exp = MlflowClient(tracking_uri=uri).get_experiment_by_name(EXP)
    assert exp.artifact_location == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert not (tmp_path.parent / "mlflow.db").exists() and not (tmp_path.parent / "mlruns").exists()


def test_pipeline_run_id(monkeypatch) -> None:
    monkeypatch.setenv(provenance.PIPELINE_RUN_ENV, "repro-42")
    assert provenance.pipeline_run_id() == "repro-42"
    monkeypatch.delenv(provenance.PIPELINE_RUN_ENV)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    a, b = provenance.pipeline_run_id(), provenance.pipeline_run_id()
    assert re.fullmatch(r"[0-9a-f]{12}", a) and re.fullmatch(r"[0-9a-f]{12}", b) and a != b  # on its own: fresh
    monkeypatch.setenv("DVC_EXP_NAME", "seed1")  # every stage of one experiment agrees
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "c" * 40)
    assert provenance.pipeline_run_id() == provenance.pipeline_run_id()
    other = provenance.pipeline_run_id()
    monkeypatch.setenv("DVC_EXP_NAME", "seed2")
    assert provenance.pipeline_run_id() != other


def test_stage_tags(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    monkeypatch.setenv(provenance.PIPELINE_RUN_ENV, "p1")
    for k in ("DVC_STAGE", "DVC_EXP_NAME"):
        monkeypatch.delenv(k, raising=False)
    tags = provenance.stage_tags("train", "densedepth", "synthetic", "ab" * 32)
    assert tags == {
        "depthpipe.stage": "train",
        "depthpipe.variant": "densedepth",
        "depthpipe.pipeline_run": "p1",
        "mlflow.source.git.commit": "unknown",
        "dvc.stage": "train@densedepth",
        "depthpipe.data.source": "synthetic",
        "depthpipe.data.source_sha256": "ab" * 32,
        "depthpipe.host": socket.gethostname(),
        "depthpipe.pid": str(os.getpid()),
    }
    monkeypatch.setenv("DVC_STAGE", "train@semantic_booster")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    tags = provenance.stage_tags("prepare", None, None, None)
    assert tags["dvc.stage"] == "train@semantic_booster" and tags["dvc.exp_name"] == "exp-1"
    assert "depthpipe.variant" not in tags and "depthpipe.data.source" not in tags


def test_git_commit(tmp_path) -> None:
    assert provenance.git_commit(tmp_path) == "unknown"  # not a repository
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run([git, "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(
        [git, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=repo,
        check=True,
        env=env,
    )
    head = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert provenance.git_commit(repo) == head and re.fullmatch(r"[0-9a-f]{40}", head)


# ---------------------------------------------------------------------------------------------- stage_run
def _log_and_fetch(tmp_path: Path, data_file: Path, uri: str) -> tuple[MlflowClient, object, Path]:
    """Log a stage (:func:`_log_a_stage`) with a small history.csv artifact; return a client, the run, the file."""
    artifact = tmp_path / "history.csv"
    artifact.write_text("epoch,loss\n1,0.5\n")
    run_id = _log_a_stage(tmp_path, data_file, artifact)
    client = MlflowClient(tracking_uri=uri)
    return client, client.get_run(run_id), artifact


def _log_a_stage(root: Path, data_file: Path, artifact: Path) -> str:
    tags = provenance.stage_tags("train", "densedepth", "synthetic", "cd" * 32)
    params = {"train": {"lr": 1e-3, "augment": {"hflip": True}}, "prepare": {"input_size": [64, 96]}, "note": None}
    with runs.stage_run("train", "densedepth", params, tags, system_metrics=False) as run:
        assert not run.resumed
        for step in (1, 2, 3):
            run.log_metrics({"train_loss": 1.0 / step, "skipped": float("nan")}, step=step)
        run.log_metrics({"best_epoch": 3})
        run.log_artifact(artifact)
        run.log_artifact(artifact, artifact_path="reports")
        run.log_artifact(root / "does-not-exist.txt")  # absent files are skipped, not an error
        run.log_dict({"a": 1}, "extra/summary.json")
        run.log_dataset(data_file, "prepared-train", sha256_file(data_file), "training", 12)
        return run.run_id


def test_stage_run_logs_tags_flat_params_stepped_metrics_artifacts_and_dataset(
    tmp_path, mlflow_store, monkeypatch, tiny_data
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    monkeypatch.setenv(provenance.PIPELINE_RUN_ENV, "pipe-7")
    client, run, _ = _log_and_fetch(tmp_path, tiny_data.train_h5, mlflow_store)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED" and run.info.run_name == "train-densedepth"
    assert client.get_experiment(run.info.experiment_id).name == EXP
    tags = run.data.tags
    assert tags["depthpipe.stage"] == "train" and tags["depthpipe.variant"] == "densedepth"
    assert tags["depthpipe.pipeline_run"] == "pipe-7"
    assert tags["mlflow.source.git.commit"] == "unknown"  # tmp_path is no repository: ours wins over MLflow's
    assert tags["depthpipe.data.source_sha256"] == "cd" * 32
    parent = client.get_run(tags["mlflow.parentRunId"])  # nested under its pipeline run
    assert parent.data.tags["depthpipe.stage"] == "pipeline" and parent.data.tags["depthpipe.pipeline_run"] == "pipe-7"
    assert parent.info.status == "FINISHED" and parent.data.tags["depthpipe.git_dirty"] == "unknown"
    assert run.data.params == {
        "train.lr": "0.001",
        "train.augment.hflip": "True",
        "prepare.input_size": "[64, 96]",
        "note": "null",
    }
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train_loss")] == [
        (1, 1.0),
        (2, 0.5),
        (3, pytest.approx(1 / 3)),
    ]
    assert "skipped" not in run.data.metrics and run.data.metrics["best_epoch"] == 3
    assert {a.path for a in client.list_artifacts(run_id)} == {"history.csv", "reports", "extra"}
    assert [a.path for a in client.list_artifacts(run_id, "reports")] == ["reports/history.csv"]
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "prepared-train"
    assert inp.dataset.digest == sha256_file(tiny_data.train_h5)[:36]
    assert tiny_data.train_h5.resolve().as_uri() in inp.dataset.source
    inp_tags = {t.key: t.value for t in inp.tags}
    assert inp_tags["mlflow.data.context"] == "training" and inp_tags["frames"] == "12"
    assert inp_tags["sha256"] == sha256_file(tiny_data.train_h5)


def test_stage_run_fails_the_run_on_error(tmp_path, mlflow_store) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        runs.stage_run("evaluate", None, {"x": 1}, {"depthpipe.stage": "evaluate"}, system_metrics=False) as run,
    ):
        run_id = run.run_id
        raise RuntimeError("boom")
    run = MlflowClient(tracking_uri=mlflow_store).get_run(run_id)
    assert run.info.status == "FAILED" and run.info.run_name == "evaluate"
    assert mlflow.active_run() is None


def test_stage_run_resumes_a_run_id_and_starts_over_for_an_unknown_one(tmp_path, mlflow_store) -> None:
    tags = {"depthpipe.stage": "train"}
    with runs.stage_run("train", "densedepth", {"lr": 1}, tags, system_metrics=False) as run:
        run.log_metrics({"loss": 2.0}, step=1)
        first = run.run_id
    # resumed: same run, params untouched (a changed value would be an MLflow error if re-logged), metrics appended
    with runs.stage_run("train", "densedepth", {"lr": 2}, tags, system_metrics=False, run_id=first) as run:
        assert run.run_id == first and run.resumed
        run.log_metrics({"loss": 1.0}, step=2)
    client = MlflowClient(tracking_uri=mlflow_store)
    assert client.get_run(first).data.params == {"lr": "1"}
    assert [m.step for m in client.get_metric_history(first, "loss")] == [1, 2]
    assert client.get_run(first).info.status == "FINISHED"
    # a run id this store does not hold (another store, a deleted run): a new run with its params
    with runs.stage_run("train", "densedepth", {"lr": 3}, tags, system_metrics=False, run_id="0" * 32) as run:
        assert run.run_id != first and not run.resumed
        fresh = run.run_id
    client.delete_run(fresh)
    with runs.stage_run("train", "densedepth", {"lr": 4}, tags, system_metrics=False, run_id=fresh) as run:
        assert run.run_id not in (first, fresh) and not run.resumed
        assert client.get_run(run.run_id).data.params == {"lr": "4"}


def test_many_and_long_params_are_batched_and_truncated(tmp_path, mlflow_store) -> None:
    params = {f"p{i:03d}": i for i in range(150)} | {"long": "x" * (runs.MAX_PARAM_LEN + 500)}
    with runs.stage_run("prepare", None, params, {}, system_metrics=False) as run:
        run_id = run.run_id
    got = MlflowClient(tracking_uri=mlflow_store).get_run(run_id).data.params
    assert len(got) == 151 and got["p149"] == "149"
    assert got["long"] == "x" * runs.MAX_PARAM_LEN


def test_one_parent_run_per_pipeline_run_with_the_resolved_params(
    tmp_path, mlflow_store, monkeypatch, tiny_params
) -> None:
    monkeypatch.setenv(provenance.PIPELINE_RUN_ENV, "pipe-1")
    monkeypatch.setenv("DVC_EXP_NAME", "seed1")
    with provenance.pipeline_context(tiny_params):
        ids = []
        for stage in ("prepare", "validate"):
            with runs.stage_run(stage, None, {}, provenance.stage_tags(stage, None, None, None)) as run:
                ids.append(run.run_id)
    client = MlflowClient(tracking_uri=mlflow_store)
    found = [client.get_run(i) for i in ids]
    assert [r.info.run_name for r in found] == ["prepare (seed1)", "validate (seed1)"]
    (parent_id,) = {r.data.tags["mlflow.parentRunId"] for r in found}
    parent = client.get_run(parent_id)
    assert parent.info.run_name == "seed1" and parent.data.tags["depthpipe.recipe"] == "tiny"
    assert parent.data.params["train.densedepth.epochs"] == str(tiny_params.train.densedepth.epochs)
    assert parent.data.params["recipe"] == "tiny"


def test_a_run_left_running_by_a_killed_process_is_closed(tmp_path, mlflow_store, monkeypatch) -> None:
    import subprocess as sp

    dead = sp.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    tags = provenance.stage_tags("train", "densedepth", None, None) | {"depthpipe.pid": str(dead.pid)}
    store.configure()
    client = MlflowClient(tracking_uri=mlflow_store)
    exp = client.get_experiment_by_name(EXP)
    orphan = client.create_run(exp.experiment_id, tags=tags).info.run_id  # RUNNING, its process gone
    alive = client.create_run(exp.experiment_id, tags=tags | {"depthpipe.pid": str(os.getpid())}).info.run_id
    with runs.stage_run("train", "densedepth", {}, provenance.stage_tags("train", "densedepth", None, None)):
        pass
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(alive).info.status == "RUNNING"  # its process (this one) still runs


def test_store_problems_are_one_line_within_seconds(tmp_path, monkeypatch) -> None:

    from depthpipe.errors import DepthpipeError
    from depthpipe.tracking.store import check_store

    start = time.monotonic()
    with pytest.raises(DepthpipeError, match=r"^MLflow tracking server http://127.0.0.1:9 did not answer within 5 s"):
        check_store("http://127.0.0.1:9")
    assert time.monotonic() - start < 10
    with pytest.raises(DepthpipeError, match=r"^MLflow store .*nowhere/mlflow.db: its folder does not exist"):
        check_store(f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}")
    (tmp_path / "mlflow.db").write_text("not a database")
    with pytest.raises(DepthpipeError, match=r"mlflow.db: not an SQLite database"):
        check_store(f"sqlite:///{tmp_path / 'mlflow.db'}")


def _log_one(uri: str, barrier) -> str:
    import os as os_

    os_.environ["MLFLOW_TRACKING_URI"] = uri
    os_.environ["MLFLOW_EXPERIMENT_NAME"] = EXP
    barrier.wait()
    with runs.stage_run("evaluate", None, {"x": 1}, {"depthpipe.stage": "evaluate"}) as run:
        return run.run_id


def test_stages_starting_together_on_a_fresh_store_all_log(tmp_path) -> None:
    """Three processes create a fresh SQLite store at once: the schema is created once, under a lock. Twice, each
    time a new store, by the same three processes (a process start imports MLflow: seconds)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(3) as pool:
        barrier = manager.Barrier(3)  # each task waits for all three: every process takes one
        for attempt in range(2):
            uri = f"sqlite:///{tmp_path / f'fresh{attempt}.db'}"
            ids = pool.starmap(_log_one, [(uri, barrier)] * 3)
            assert len(set(ids)) == 3
            found = MlflowClient(tracking_uri=uri).search_runs(
                [MlflowClient(tracking_uri=uri).get_experiment_by_name(EXP).experiment_id],
                "tags.`depthpipe.stage` = 'evaluate'",
            )
            assert len(found) == 3 and all(r.info.status == "FINISHED" for r in found)


def test_find_runs(tmp_path, mlflow_store) -> None:
    assert runs.find_runs("tags.`depthpipe.stage` = 'none'") == []
    for variant in ("densedepth", "semantic_booster"):
        with runs.stage_run(
            "train", variant, {}, provenance.stage_tags("train", variant, None, None), system_metrics=False
        ):
            pass
    found = runs.find_runs("tags.`depthpipe.variant` = 'semantic_booster'")
    assert [r.info.run_name for r in found] == ["train-semantic_booster"]
    train = runs.find_runs("tags.`depthpipe.stage` = 'train'")
    assert [r.info.run_name for r in train] == ["train-semantic_booster", "train-densedepth"]
    assert len(runs.find_runs()) == 4  # and each stage run's own pipeline parent (fresh ids: run by hand)


# ------------------------------------------------------------------------------------------ a real server
@pytest.mark.slow
@pytest.mark.usefixtures("team_admin", "stack_shared")
def test_stage_run_against_a_real_mlflow_server(tmp_path, monkeypatch, tiny_data, team_stack) -> None:
    """The team's ``mlflow server`` (PostgreSQL, artifacts proxied into the object store, basic auth; the run's
    stack, :mod:`helpers.team_stack`): log a stage over HTTP into an experiment of its own."""
    url = team_stack.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "stage-run-over-http")
    monkeypatch.setenv(provenance.PIPELINE_RUN_ENV, "srv-1")
    client, run, artifact = _log_and_fetch(tmp_path, tiny_data.train_h5, url)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied through the server
    assert run.data.tags["depthpipe.pipeline_run"] == "srv-1" and run.data.tags["depthpipe.stage"] == "train"
    assert run.data.params["train.lr"] == "0.001" and run.data.params["prepare.input_size"] == "[64, 96]"
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1, 2, 3]
    assert {a.path for a in client.list_artifacts(run_id)} == {"history.csv", "reports", "extra"}
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["prepared-train"]
    back = client.download_artifacts(run_id, "history.csv", str(tmp_path / "dl"))
    assert Path(back).read_text() == artifact.read_text()
    stored = [k for k in bucket_keys(team_stack, "mlartifacts/") if k.endswith(f"/{run_id}/artifacts/history.csv")]
    assert stored, "the artifact did not land in the team's bucket"
    assert [r.info.run_id for r in runs.find_runs("tags.`depthpipe.stage` = 'train'")] == [run_id]
