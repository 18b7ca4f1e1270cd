"""Every MLflow call of the project lives here.

Where runs go is MLflow's own business, not a pipeline param (it changes no output):

- ``MLFLOW_TRACKING_URI`` when set (a server, or any store URI); otherwise the SQLite store ``mlflow.db`` of
  the main workspace: ``$DVC_ROOT/mlflow.db`` inside a DVC stage (DVC sets ``DVC_ROOT`` to the parent
  repository also for ``dvc exp run --temp`` and ``--queue`` runs, so every experiment lands in one store),
  else ``./mlflow.db``; artifacts beside it in ``mlartifacts/``;
- ``MLFLOW_EXPERIMENT_NAME`` when set, else ``depthpipe``;
- ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``: CPU/GPU/memory of train runs, on unless set to false.

Each DVC stage and variant gets one run, tagged so the UI can group and filter them:
``depthpipe.stage``, ``depthpipe.variant``, ``depthpipe.pipeline_run`` (shared by all stages of one pipeline
run, see :func:`pipeline_run_id`), ``mlflow.source.git.commit``, ``dvc.stage``, ``dvc.exp_name``,
``depthpipe.data.source`` and ``depthpipe.data.sha256``. Evaluate runs add ``depthpipe.per_frame_sha256`` (the
per_frame.csv they wrote, how ``depthpipe gate`` finds the candidate's run) and, inside ``depthpipe seeds``,
``depthpipe.seed_study``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from depthpipe.config import flatten

PIPELINE_RUN_ENV = "DEPTHPIPE_PIPELINE_RUN"
DEFAULT_EXPERIMENT = "depthpipe"
STORE_FILE = "mlflow.db"
MAX_PARAM_LEN = 6000
PER_FRAME_TAG = "depthpipe.per_frame_sha256"
SEED_STUDY_TAG = "depthpipe.seed_study"


def store_dir() -> Path:
    """The main workspace, whose ``mlflow.db`` is the default store: ``DVC_ROOT`` inside a stage, else here."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the SQLite store ``mlflow.db`` of :func:`store_dir`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_dir() / STORE_FILE}"


def experiment_name() -> str:
    """``MLFLOW_EXPERIMENT_NAME`` if set, else ``depthpipe``."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def system_metrics_enabled() -> bool:
    """MLflow's ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``, defaulting to on for depthpipe's train runs."""
    return os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true").strip().lower() in ("1", "true", "yes")


def configure() -> str:
    """Point MLflow at the store and experiment; returns the tracking URI."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = experiment_name()
    if mlflow.get_experiment_by_name(experiment) is None:
        # artifacts beside a SQLite store, not in ./mlruns of whatever directory a stage runs in
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
        try:
            MlflowClient(uri).create_experiment(experiment, artifact_location=location)
        except MlflowException:
            pass  # created meanwhile by a concurrent stage
    mlflow.set_experiment(experiment)
    return uri


def git_commit(workspace: str | os.PathLike[str] | None = None) -> str:
    """The commit checked out in ``workspace`` (default: the working directory); ``unknown`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace or Path.cwd(), capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pipeline_run_id() -> str:
    """One id shared by every stage of one pipeline run, passed down by whoever started it.

    ``DEPTHPIPE_PIPELINE_RUN`` when set (``make repro`` and ``depthpipe repro`` set it); inside ``dvc exp
    run`` the experiment (DVC's ``DVC_EXP_NAME`` on ``DVC_EXP_BASELINE_REV``); else a fresh id (a stage run
    on its own, or a bare ``dvc repro``).
    """
    given = os.environ.get(PIPELINE_RUN_ENV)
    if given:
        return given
    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        return hashlib.sha1(f"{exp}@{os.environ.get('DVC_EXP_BASELINE_REV', '')}".encode()).hexdigest()[:12]
    return uuid.uuid4().hex[:12]


def stage_tags(stage: str, variant: str | None, data_source: str | None, data_sha256: str | None) -> dict[str, str]:
    """The tags every run carries."""
    tags = {
        "depthpipe.stage": stage,
        "depthpipe.pipeline_run": pipeline_run_id(),
        "mlflow.source.git.commit": git_commit(),
        "dvc.stage": os.environ.get("DVC_STAGE", stage if variant is None else f"{stage}@{variant}"),
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if variant:
        tags["depthpipe.variant"] = variant
    if data_source:
        tags["depthpipe.data.source"] = data_source
    if data_sha256:
        tags["depthpipe.data.sha256"] = data_sha256
    return tags


class RunLogger:
    """A thin handle on one active MLflow run."""

    def __init__(self, run: mlflow.ActiveRun, resumed: bool = False) -> None:
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.resumed: bool = resumed  # True when an existing run was reopened (its params are already logged)

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {k: (str(v)[:MAX_PARAM_LEN] if v is not None else "null") for k, v in params.items()}
        items = list(clean.items())
        for i in range(0, len(items), 90):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(items[i : i + 90]))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
        if clean:
            mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        if Path(path).exists():
            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_dict(self, obj: Mapping[str, Any], name: str) -> None:
        mlflow.log_dict(dict(obj), name)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        mlflow.set_tags(dict(tags))

    def log_dataset(self, path: str | os.PathLike[str], name: str, digest: str, context: str, n_frames: int) -> None:
        """Log the prepared HDF5 ``path`` as an MLflow dataset input (source: its file URI; digest: its sha256)."""
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = resolve_dataset_source(Path(path).resolve().as_uri())
        ds = MetaDataset(source=source, name=name, digest=digest[:36])
        mlflow.log_input(ds, context=context, tags={"frames": str(n_frames), "sha256": digest})


@contextlib.contextmanager
def stage_run(
    stage: str,
    variant: str | None,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    system_metrics: bool = False,
    run_id: str | None = None,
) -> Iterator[RunLogger]:
    """Open (or, with ``run_id``, resume) the MLflow run of one stage and variant.

    ``params`` are logged flattened (``{'a': {'b': 1}}`` -> ``a.b``); a failure inside the block ends the run
    as FAILED. A ``run_id`` that is not in the store (another tracking URI, a deleted run) starts a new run
    instead of failing; :attr:`RunLogger.resumed` tells which happened.
    """
    configure()
    name = stage if variant is None else f"{stage}-{variant}"
    if run_id and not _run_exists(run_id):
        run_id = None
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else name, tags=dict(tags),
                          log_system_metrics=system_metrics) as run:
        logger = RunLogger(run, resumed=bool(run_id))
        if params and not run_id:
            logger.log_params(flatten(params))
        yield logger


def _run_exists(run_id: str) -> bool:
    """Whether ``run_id`` is a live (not deleted) run of the configured store."""
    try:
        return MlflowClient().get_run(run_id).info.lifecycle_stage != "deleted"
    except Exception:  # MlflowException (RESOURCE_DOES_NOT_EXIST), malformed id
        return False


def find_runs(filter_string: str = "") -> list[Any]:
    """Runs of the experiment matching an MLflow ``filter_string``, newest first."""
    configure()
    exp = mlflow.get_experiment_by_name(experiment_name())
    if exp is None:
        return []
    return MlflowClient().search_runs([exp.experiment_id], filter_string=filter_string, order_by=["attributes.start_time DESC"])


def store_exists() -> bool:
    """False when the tracking URI is a SQLite file that does not exist yet (reading it would create it)."""
    uri = tracking_uri()
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


@contextlib.contextmanager
def impatient(retries: int = 1, timeout_s: int = 10) -> Iterator[None]:
    """Inside, MLflow HTTP calls give up after ``retries`` retries and ``timeout_s`` seconds each (instead of
    MLflow's 7 and 120), unless ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``..._TIMEOUT`` are set: for optional calls."""
    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries), "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s)}
    added = [k for k in defaults if k not in os.environ]
    os.environ.update({k: defaults[k] for k in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def evaluate_run_of(per_frame_sha256: str, variant: str) -> str | None:
    """The newest evaluate run of ``variant`` (seed studies aside) that wrote a per_frame.csv with this sha256."""
    runs = find_runs(f"tags.`depthpipe.stage` = 'evaluate' and tags.`depthpipe.variant` = '{variant}' and "
                     f"tags.`{PER_FRAME_TAG}` = '{per_frame_sha256}'")
    return next((r.info.run_id for r in runs if SEED_STUDY_TAG not in r.data.tags), None)


def log_text(run_id: str, text: str, name: str) -> None:
    """Add ``text`` as the artifact ``name`` to the (possibly finished) run ``run_id``."""
    configure()
    MlflowClient().log_text(run_id, text, name)


# --- model registry (export stage, `depthpipe promote`) -----------------------------------------------------
# Exported models are logged with MLflow's ``pt2`` serialization (``torch.export`` program, no pickle; mlflow
# 3.17 deprecates ``export_model=True`` in favour of ``serialization_format="pt2"``), with a tensor signature
# (batch dimension -1, exported as dynamic) and an input example, registered as ``depthpipe-<variant>``.
# Load with ``mlflow.pyfunc.load_model("models:/depthpipe-<variant>@champion")`` (predict on a float32
# (N,3,H,W) array in [0,1] -> (N,1,H,W) metres) or ``mlflow.pytorch.load_model`` (a torch module).

REGISTERED_MODEL_PREFIX = "depthpipe-"
CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"


def registered_model_name(variant: str) -> str:
    """The registry name of a variant: ``depthpipe-<variant>``."""
    return f"{REGISTERED_MODEL_PREFIX}{variant}"


def _live_run(client: MlflowClient, run_id: str | None) -> Any:
    """The run ``run_id`` if it exists in the store and is not deleted, else ``None``."""
    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except Exception:  # MlflowException (not found), malformed id, ...
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def log_exported_model(
    variant: str,
    module: Any,
    input_example: Any,
    output_example: Any,
    run_id: str | None = None,
    data_sha256: str | None = None,
    export_dir: str | os.PathLike[str] | None = None,
    parity_m: Mapping[str, float] | None = None,
    alias: str = CANDIDATE_ALIAS,
) -> dict[str, Any]:
    """Log ``module`` (RGB -> metres) with pt2 serialization, register it and point ``alias`` at the new version.

    The model goes to the variant's train run ``run_id`` when it exists in the store (its status is kept),
    else to a new run tagged ``depthpipe.stage=export``. Returns name, version, alias,
    run id and URIs.
    """
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    configure()
    client = MlflowClient()
    name = registered_model_name(variant)
    existing = _live_run(client, run_id)
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.info.experiment_id)
        final_status = existing.info.status if existing.info.status in ("FINISHED", "FAILED", "KILLED") else "FINISHED"
        run = mlflow.start_run(run_id=existing.info.run_id)
    else:
        final_status = "FINISHED"
        tags = stage_tags("export", variant, None, data_sha256)
        run = mlflow.start_run(run_name=f"export-{variant}", tags=tags)
    status = "FAILED"
    try:
        signature = infer_signature(input_example, output_example)
        info = mlflow.pytorch.log_model(
            module,
            name="model",
            serialization_format="pt2",
            signature=signature,
            input_example=input_example,
            registered_model_name=name,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}", "numpy"],
            metadata={"depthpipe.variant": variant, "input": "float32 RGB in [0,1], NCHW",
                      "output": "depth in metres (N,1,H,W)"},
        )
        if parity_m:
            mlflow.log_metrics({f"export.parity_{k}_max_abs_m": float(v) for k, v in parity_m.items()})
        if export_dir is not None and (Path(export_dir) / "export.json").exists():
            mlflow.log_artifact(str(Path(export_dir) / "export.json"), artifact_path="export")
        version = str(info.registered_model_version)
        client.set_registered_model_alias(name, alias, version)
        version_tags = {"depthpipe.variant": variant, "depthpipe.stage": "export",
                        "mlflow.source.git.commit": git_commit()}
        if data_sha256:
            version_tags["depthpipe.data.sha256"] = data_sha256
        for key, value in (parity_m or {}).items():
            version_tags[f"depthpipe.parity.{key}_max_abs_m"] = f"{float(value):.3g}"
        for key, value in version_tags.items():
            client.set_model_version_tag(name, version, key, value)
        status = final_status
        return {
            "name": name,
            "version": version,
            "alias": alias,
            "run_id": run.info.run_id,
            "resumed_train_run": existing is not None,
            "model_uri": f"models:/{name}@{alias}",
            "logged_model_uri": info.model_uri,
        }
    finally:
        mlflow.end_run(status=status)


def model_version_for_alias(name: str, alias: str) -> str | None:
    """The version of registered model ``name`` that carries ``alias`` (``None``: no such model or alias)."""
    configure()
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except Exception:  # RESOURCE_DOES_NOT_EXIST / INVALID_PARAMETER_VALUE
        return None


def set_model_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` (moving it if it is elsewhere)."""
    configure()
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def model_aliases(name: str) -> dict[str, str]:
    """``{alias: version}`` of registered model ``name`` (empty when it does not exist)."""
    configure()
    try:
        model = MlflowClient().get_registered_model(name)
    except Exception:
        return {}
    return {str(k): str(v) for k, v in (model.aliases or {}).items()}
