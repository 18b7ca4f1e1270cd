"""The pipeline's runs in MLflow: one parent run per pipeline run, a nested run per stage, and their tags.

Every stage's run hangs under the parent run of its pipeline run (one ``dvc repro``, ``make repro`` or
``dvc exp run``, see :func:`~depthpipe.tracking.provenance.pipeline_run_id`), which records the recipe, every
resolved param, the commit and whether the worktree was dirty. Stage runs are named ``<stage>-<variant>`` (plus the DVC
experiment) and tagged ``depthpipe.stage``, ``depthpipe.variant``, ``depthpipe.pipeline_run``,
``mlflow.source.git.commit``, ``dvc.stage``, ``dvc.exp_name``, ``depthpipe.data.source`` and
``depthpipe.data.source_sha256``. A run left RUNNING by a killed process is marked KILLED when the same stage next
starts on the same machine. Where the store is: :mod:`depthpipe.tracking.store`.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import psutil
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from depthpipe.config import flatten
from depthpipe.tracking.provenance import git_commit, git_dirty, pipeline_params, pipeline_run_id
from depthpipe.tracking.store import (
    configure,
    experiment_name,
    shown,
    ui_url,
)

PIPELINE_STAGE = "pipeline"
PER_FRAME_TAG = "depthpipe.per_frame_sha256"  # evaluate runs: the per_frame.csv they wrote (the gate finds them so)
SEED_STUDY_TAG = "depthpipe.seed_study"  # evaluate runs made by `depthpipe seeds`
MODEL_SHA_TAG = "depthpipe.model_sha256"  # train runs: the model.pt they wrote (evaluate and export find them so)
MAX_PARAM_LEN = 6000


def _clean_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: (str(v)[:MAX_PARAM_LEN] if v is not None else "null") for k, v in params.items()}


class RunLogger:
    """A thin handle on one active MLflow run."""

    def __init__(self, run: mlflow.ActiveRun, resumed: bool = False) -> None:
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.resumed: bool = resumed  # True when an existing run was reopened (its params are already logged)

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = list(_clean_params(params).items())
        for i in range(0, len(items), 90):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(items[i : i + 90]))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
        if clean:
            mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        if Path(path).exists():
            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_missing(self, history: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> int:
        """Log the points of ``history`` (rows with an ``epoch``, the step) that the run lacks: ``names`` maps a
        history column to its metric. What a store lost (a server that died before a batch was acknowledged)
        comes back from the history a resumed run keeps; returns how many points were logged."""
        client = MlflowClient()
        now = int(time.time() * 1000)
        missing = []
        for column, key in names.items():
            have = {m.step for m in client.get_metric_history(self.run_id, key)}
            missing += [
                Metric(key, float(row[column]), now, int(row["epoch"]))
                for row in history
                if row.get(column) is not None and row[column] == row[column] and int(row["epoch"]) not in have
            ]
        for i in range(0, len(missing), 900):  # MLflow caps a batch at 1000 metrics
            client.log_batch(self.run_id, metrics=missing[i : i + 900])
        return len(missing)

    def log_dict(self, obj: Mapping[str, Any], name: str) -> None:
        mlflow.log_dict(dict(obj), name)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        mlflow.set_tags(dict(tags))

    def log_dataset(self, path: str | os.PathLike[str], name: str, digest: str, context: str, n_frames: int) -> None:
        """Log the file ``path`` as an MLflow dataset input (source: its file URI; digest: its sha256)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = resolve_dataset_source(Path(path).resolve().as_uri())
        ds = MetaDataset(source=source, name=name, digest=digest[:36])  # type: ignore[abstract]
        mlflow.log_input(ds, context=context, tags={"frames": str(n_frames), "sha256": digest})


def parent_run(client: MlflowClient, experiment_id: str) -> str:
    """The parent run of this pipeline run (found by its tag, or created once, FINISHED, with the params)."""
    pipeline = pipeline_run_id()
    query = f"tags.`depthpipe.pipeline_run` = '{pipeline}' and tags.`depthpipe.stage` = '{PIPELINE_STAGE}'"
    found = client.search_runs([experiment_id], query, max_results=1)
    if found:
        return found[0].info.run_id
    exp = os.environ.get("DVC_EXP_NAME")
    params = pipeline_params()
    tags = {
        "depthpipe.stage": PIPELINE_STAGE,
        "depthpipe.pipeline_run": pipeline,
        "mlflow.source.git.commit": git_commit(),
        "depthpipe.git_dirty": git_dirty(),
    }
    tags |= {"dvc.exp_name": exp} if exp else {}
    tags |= {"depthpipe.recipe": params.recipe} if params is not None else {}
    run = client.create_run(experiment_id, run_name=exp or f"pipeline-{pipeline}", tags=tags)
    items = [Param(k, v) for k, v in _clean_params(flatten(params) if params is not None else {}).items()]
    for i in range(0, len(items), 90):
        client.log_batch(run.info.run_id, params=items[i : i + 90])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def close_abandoned_runs(
    client: MlflowClient, experiment_id: str, tags: Mapping[str, str], keep: str | None = None
) -> list[str]:
    """Mark KILLED the RUNNING runs of this stage and variant on this machine whose process is gone."""
    query = (
        f"attributes.status = 'RUNNING' and tags.`dvc.stage` = '{tags['dvc.stage']}' and "
        f"tags.`depthpipe.host` = '{tags['depthpipe.host']}'"
    )
    closed = []
    for run in client.search_runs([experiment_id], query):
        pid = run.data.tags.get("depthpipe.pid", "")
        if run.info.run_id != keep and pid.isdigit() and not psutil.pid_exists(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed


def _run_exists(client: MlflowClient, run_id: str) -> bool:
    """Whether ``run_id`` is a live (not deleted) run of the configured store."""
    try:
        return client.get_run(run_id).info.lifecycle_stage != "deleted"
    except Exception:  # noqa: BLE001 - MlflowException (RESOURCE_DOES_NOT_EXIST), a malformed id
        return False


@contextlib.contextmanager
def stage_run(
    stage: str,
    variant: str | None,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    system_metrics: bool = False,
    run_id: str | None = None,
) -> Iterator[RunLogger]:
    """Open (or, with ``run_id``, resume) the MLflow run of one stage and variant, nested under its pipeline run.

    ``params`` are logged flattened (``{'a': {'b': 1}}`` -> ``a.b``); a failure inside the block ends the run
    as FAILED. A ``run_id`` that is not in the store (another tracking URI, a deleted run) starts a new run
    instead; :attr:`RunLogger.resumed` tells which happened. Prints the run id and its UI link.
    """
    experiment = experiment_id()  # configures the store first, under its lock
    client = MlflowClient()
    run_id = run_id if run_id and _run_exists(client, run_id) else None
    tags = dict(tags)
    if "depthpipe.host" in tags and "dvc.stage" in tags:
        close_abandoned_runs(client, experiment, tags, keep=run_id)
    tags["mlflow.parentRunId"] = parent_run(client, experiment)
    exp = os.environ.get("DVC_EXP_NAME")
    name = (stage if variant is None else f"{stage}-{variant}") + (f" ({exp})" if exp else "")
    with mlflow.start_run(
        run_id=run_id, run_name=None if run_id else name, tags=tags, log_system_metrics=system_metrics
    ) as run:
        logger = RunLogger(run, resumed=bool(run_id))
        if not run_id and params:
            logger.log_params(flatten(params))
        elif run_id and "depthpipe.pid" in tags:
            mlflow.set_tag("depthpipe.pid", tags["depthpipe.pid"])  # the resuming process owns it now
        label = stage if variant is None else f"{stage} {variant}"
        print(
            f"{label}: MLflow run {logger.run_id} in {shown()}: {ui_url(experiment, logger.run_id)}",
            flush=True,
        )
        yield logger


def log_stage(
    stage: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts: Sequence[Path] = (),
    failed: bool = False,
) -> str:
    """One whole stage run at once (the data stages): params, metrics, tags and files; ``failed`` ends it FAILED
    (data rejected). Returns its run id."""
    with stage_run(stage, None, params, tags) as run:
        run.log_metrics(metrics)
        for path in artifacts:
            run.log_artifact(path)
    if failed:
        MlflowClient().set_terminated(run.run_id, "FAILED")
    return run.run_id


def experiment_id() -> str:
    """The id of the experiment runs go to (created if needed)."""
    configure()
    experiment = mlflow.get_experiment_by_name(experiment_name())
    if experiment is None:  # configure() has just created it: only a concurrent delete gets here
        raise MlflowException(f"experiment {experiment_name()!r} vanished from {shown()}")
    return str(experiment.experiment_id)


def find_runs(filter_string: str = "") -> list[Any]:
    """Runs of the experiment matching an MLflow ``filter_string``, newest first."""
    configure()
    exp = mlflow.get_experiment_by_name(experiment_name())
    if exp is None:
        return []
    return MlflowClient().search_runs(
        [exp.experiment_id], filter_string=filter_string, order_by=["attributes.start_time DESC"]
    )


def evaluate_run_of(per_frame_sha256: str, variant: str) -> str | None:
    """The newest evaluate run of ``variant`` (seed studies aside) that wrote a per_frame.csv with this sha256."""
    runs = find_runs(
        f"tags.`depthpipe.stage` = 'evaluate' and tags.`depthpipe.variant` = '{variant}' and "
        f"tags.`{PER_FRAME_TAG}` = '{per_frame_sha256}'"
    )
    return next((r.info.run_id for r in runs if SEED_STUDY_TAG not in r.data.tags), None)


def train_run_of(model_sha256: str, variant: str) -> str | None:
    """The newest finished train run of ``variant`` that wrote a ``model.pt`` with this sha256 (None: none in
    this store, e.g. weights pulled from a DVC remote that a teammate trained against another store)."""
    runs = find_runs(
        f"tags.`depthpipe.stage` = 'train' and tags.`depthpipe.variant` = '{variant}' and "
        f"tags.`{MODEL_SHA_TAG}` = '{model_sha256}' and attributes.status = 'FINISHED'"
    )
    return runs[0].info.run_id if runs else None


def log_text(run_id: str, text: str, name: str) -> None:
    """Add ``text`` as the artifact ``name`` to the (possibly finished) run ``run_id``."""
    configure()
    MlflowClient().log_text(run_id, text, name)
