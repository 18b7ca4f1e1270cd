"""The MLflow model registry: exported models logged as servable MLflow models, registered, described, aliased.

An export logs :mod:`depthpipe.tracking.served_model` (a photo of any size in, metres out) with the exported
program and its card in its own run (its photo decoding, :mod:`depthpipe.serving.photo`, beside it), links the
test metrics to that logged model, and registers it as ``depthpipe-<variant>`` last, in one request that
carries the description and provenance tags, so a version is never seen without them. A version whose export
run did not finish (killed after registering) is tagged ``depthpipe.unfinished_run`` by the next export of the
variant (:func:`label_unfinished_versions`).
``@candidate`` moves to the new version only when it beats the mean-depth baseline on every depth metric
(:func:`candidate_refusals`, decided from the stage's own inputs); otherwise the version stays without the alias
and the reason is printed and tagged.
``@champion`` is ``depthpipe promote``'s alone (:mod:`depthpipe.gate.promote`). Load a version with
``mlflow.pyfunc.load_model("models:/depthpipe-<variant>@champion")``.

A registry that cannot be read is an error naming the store, never "no such alias".
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from PIL import Image

from depthpipe.errors import DepthpipeError, one_line
from depthpipe.metrics.depth import DEPTH_METRICS
from depthpipe.serving import photo, program
from depthpipe.tracking import served_model
from depthpipe.tracking.store import configure, redacted_text, shown

REGISTERED_MODEL_PREFIX = "depthpipe-"
CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"
REFUSED_TAG = "depthpipe.candidate_refused"  # a version that may not become @candidate, and why
UNFINISHED_TAG = "depthpipe.unfinished_run"  # a version whose export run did not finish (killed after registering)
HIGHER_IS_BETTER = frozenset({"delta1", "delta2", "delta3", "miou", "pixel_acc"})
# what the registry answers for a model or alias that does not exist (anything else is an error)
ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def registered_model_name(variant: str) -> str:
    """The registry name of a variant: ``depthpipe-<variant>``."""
    return f"{REGISTERED_MODEL_PREFIX}{variant}"


def worse_than_baseline(metrics: Mapping[str, float], baseline: Mapping[str, float]) -> list[str]:
    """The depth metrics on which the model is not better than the mean-depth baseline, each with both figures
    (empty: the model beats the baseline on every one)."""
    worse = []
    for k in DEPTH_METRICS:
        better = metrics[k] > baseline[k] if k in HIGHER_IS_BETTER else metrics[k] < baseline[k]
        if not better:
            worse.append(f"{k} {metrics[k]:.4g} vs baseline {baseline[k]:.4g}")
    return worse


def candidate_refusals(metrics: Mapping[str, Any] | None, summary: Mapping[str, Any] | None) -> list[str]:
    """Why a new version must not become ``@candidate`` (empty: it may): it has to beat the mean-depth
    baseline on every depth metric of the standard protocol."""
    try:
        ours, baseline = metrics["standard"], summary["baseline"]["standard"]  # type: ignore[index]
    except (KeyError, TypeError):
        return ["no standard-protocol test metrics and baseline to compare (run the evaluate stage)"]
    worse = worse_than_baseline(ours, baseline)
    return [f"not better than the mean-depth baseline on {', '.join(worse)}"] if worse else []


def _registry_error(what: str, exc: MlflowException) -> DepthpipeError:
    return DepthpipeError(
        f"model registry {registry_location()}: {what} ({exc.error_code}: {redacted_text(one_line(exc))})"
    )


def _example_image(size: tuple[int, int]) -> str:
    """A small base64 PNG for the logged model's input example."""
    buf = io.BytesIO()
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _signature() -> Any:
    return ModelSignature(inputs=Schema([ColSpec("string", served_model.IMAGE_COLUMN)]))


def log_servable_model(variant: str, export_dir: Path, card: Mapping[str, Any]) -> Any:
    """Log :mod:`depthpipe.tracking.served_model` with ``export_dir``'s program and card to the active run;
    returns the ModelInfo. Nothing is registered yet: :func:`register` does that last.

    The model's code is :mod:`depthpipe.serving.photo` and :mod:`depthpipe.serving.program` alone, under
    ``depthpipe/serving/`` without package files: where depthpipe is installed its own package is imported,
    elsewhere those files (a namespace package).
    """
    with tempfile.TemporaryDirectory(prefix="depthpipe-code-") as tmp:
        code = Path(tmp) / "depthpipe"
        (code / "serving").mkdir(parents=True)
        for module in (photo, program):
            shutil.copyfile(str(module.__file__), code / "serving" / Path(str(module.__file__)).name)
        return _log_model(variant, export_dir, card, code)


def _log_model(variant: str, export_dir: Path, card: Mapping[str, Any], code: Path) -> Any:
    h, w = card["input"]["size"]
    return mlflow.pyfunc.log_model(
        name=registered_model_name(variant),
        python_model=Path(served_model.__file__),
        artifacts={"program": str(export_dir / "model.pt2"), "card": str(export_dir / "export.json")},
        code_paths=[str(code)],
        signature=_signature(),
        input_example=pd.DataFrame({served_model.IMAGE_COLUMN: [_example_image((max(8, h // 4), max(8, w // 4)))]}),
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"mlflow=={mlflow.__version__}",
            "numpy",
            "pillow",
        ],
        metadata={
            "depthpipe.variant": variant,
            "input": "RGB image of any size (base64 PNG/JPEG, or an array)",
            "output": "depth in metres at the image's size (up to 4 MP; larger: scaled down by a whole factor)",
        },
    )


def version_description(card: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """A version's description from the model card and its provenance tags."""
    metrics = card.get("test_metrics") or {}
    figures = "; ".join(
        f"{group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items())
        for group, values in metrics.items()
        if isinstance(values, Mapping)
    )
    training = card.get("training", {})
    return (
        f"Exported from commit {tags.get('mlflow.source.git.commit', 'unknown')} (train run "
        f"{tags.get('depthpipe.train_run') or 'unknown'}), prepared data sha256 {training.get('data_sha256')}. "
        f"Test split: {figures or 'no metrics'}. Architecture: {card.get('architecture')}."
    )


def refusal_tags(refusals: list[str]) -> dict[str, str]:
    """The tag a version that may not become ``@candidate`` carries, with the reasons."""
    return {REFUSED_TAG: "; ".join(refusals)[:5000]} if refusals else {}


def register(
    client: MlflowClient, variant: str, info: Any, run_id: str, card: Mapping[str, Any], tags: Mapping[str, str]
) -> str:
    """Register the logged model ``info`` as a new version of ``depthpipe-<variant>``, born with its description
    and tags (one request: a version is never visible without its provenance); returns the version."""
    name = registered_model_name(variant)
    h, w = card["input"]["size"]
    lo, hi = card["depth_range_m"]
    description = (
        f"depthpipe {variant} ({card['task']}): an RGB photo in, depth in metres ({lo:g}-{hi:g} m) out, at the "
        f"photo's size up to 4 MP (larger photos: scaled down by a whole factor); the network sees {h}x{w}. "
        f"{card['limitations']}"
    )
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
        client.update_registered_model(name, description=description)
    version = client.create_model_version(
        name,
        source=info.model_uri,
        run_id=run_id,
        tags=dict(tags),
        description=version_description(card, tags),
        model_id=info.model_id,
        await_creation_for=300,
    )
    return str(version.version)


def label_unfinished_versions(client: MlflowClient, variant: str, current_run: str) -> list[str]:
    """Tag ``depthpipe.unfinished_run`` on every version of ``depthpipe-<variant>`` whose export run ended
    without finishing (KILLED, FAILED, or gone): an export killed after registering leaves such a version,
    complete but unvouched for. Runs still RUNNING are left alone (another export may be under way; one whose
    process died on this machine was marked KILLED when this stage started). Returns the versions labelled."""
    name = registered_model_name(variant)
    labelled = []
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.run_id == current_run or UNFINISHED_TAG in (version.tags or {}):
            continue
        try:
            status = client.get_run(version.run_id).info.status if version.run_id else "UNKNOWN"
        except MlflowException:
            status = "DELETED"
        if status in ("FINISHED", "RUNNING"):
            continue
        client.set_model_version_tag(name, version.version, UNFINISHED_TAG, f"export run {version.run_id} {status}")
        print(
            f"registry: {name} version {version.version}: its export run {version.run_id} ended {status}; "
            f"tagged {UNFINISHED_TAG} (do not promote it)",
            flush=True,
        )
        labelled.append(str(version.version))
    return labelled


def set_candidate(client: MlflowClient, variant: str, version: str, refusals: list[str]) -> str | None:
    """Point ``@candidate`` at ``version`` unless there are ``refusals`` (tagged at registration,
    :func:`refusal_tags`); returns the alias set (or None)."""
    name = registered_model_name(variant)
    if refusals:
        reason = "; ".join(refusals)
        print(f"registry: {name} version {version} registered without @{CANDIDATE_ALIAS}: {reason}", flush=True)
        return None
    client.set_registered_model_alias(name, CANDIDATE_ALIAS, version)
    return CANDIDATE_ALIAS


def registry_client() -> MlflowClient:
    """A client of the store the active run logs to (registering, aliasing and labelling versions)."""
    return MlflowClient()


def log_model_metrics(model_id: str, metrics: Mapping[str, float]) -> None:
    """Log ``metrics`` on the logged model ``model_id`` (linked to the active run)."""
    mlflow.log_metrics(dict(metrics), model_id=model_id)


def model_version_for_alias(name: str, alias: str) -> str | None:
    """The version of registered model ``name`` that carries ``alias`` (``None``: no such model or alias)."""
    try:
        configure()
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ABSENT:
            return None
        raise _registry_error(f"cannot read @{alias} of '{name}'", exc) from None


def set_model_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` (moving it if it is elsewhere)."""
    configure()
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def model_aliases(name: str) -> dict[str, str]:
    """``{alias: version}`` of registered model ``name`` (empty when it does not exist)."""
    try:
        configure()
        model = MlflowClient().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code in ABSENT:
            return {}
        raise _registry_error(f"cannot read '{name}'", exc) from None
    return {str(k): str(v) for k, v in (model.aliases or {}).items()}


def why_no_alias(name: str, alias: str, remedy: str = "") -> str:
    """Why registered model ``name`` has no ``alias`` version, from its latest version's tags: nothing was
    registered, the latest version did not beat the baseline (the reason it was tagged with), its export run
    did not finish, or the alias was simply never set; ``remedy`` follows where a version exists."""
    try:
        configure()
        versions = MlflowClient().search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise _registry_error(f"cannot list the versions of '{name}'", exc) from None
    if not versions:
        return f"no version of '{name}' is registered (run the export stage with export.register: true)"
    latest = max(versions, key=lambda v: int(v.version))
    tags = latest.tags or {}
    if REFUSED_TAG in tags:
        why = f"its latest version {latest.version} was registered without @{CANDIDATE_ALIAS}: {tags[REFUSED_TAG]}"
    elif UNFINISHED_TAG in tags:
        why = f"its latest version {latest.version} is unvouched for: {tags[UNFINISHED_TAG]}"
    else:
        why = f"none of its {len(versions)} versions (latest {latest.version}) carries @{alias}"
    return why + remedy


def require_alias(name: str, alias: str, remedy: str = "") -> str:
    """The version of ``name`` that carries ``alias``, or a one-line :class:`DepthpipeError` saying why there is
    none (:func:`why_no_alias`, with ``remedy`` where a version exists)."""
    version = model_version_for_alias(name, alias)
    if version is None:
        raise DepthpipeError(
            f"registered model '{name}' has no @{alias} version in {registry_location()}: "
            f"{why_no_alias(name, alias, remedy)}"
        )
    return version


def registry_location() -> str:
    """The registry's store, fit to print (no credentials)."""
    return shown()


def download_version_artifacts(name: str, version: str, artifact_path: str, dst: Path) -> Path:
    """Download ``artifact_path`` of the run that logged version ``version`` of ``name`` into ``dst``."""
    try:
        configure()
        run_id = MlflowClient().get_model_version(name, version).run_id
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(dst)))
    except MlflowException as exc:
        raise _registry_error(f"cannot fetch {artifact_path} of '{name}' version {version}", exc) from None


class RegisteredModel:
    """A registered version loaded as ``mlflow models serve`` loads it: one image at a time, metres out."""

    def __init__(self, uri: str) -> None:
        configure()
        name, at, alias = uri.removeprefix("models:/").partition("@")
        if at:
            require_alias(name, alias, " (set it, or name another alias or version)")
        try:
            self.model = mlflow.pyfunc.load_model(uri)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a model it cannot load
            raise DepthpipeError(
                f"cannot load {uri} from {registry_location()} ({redacted_text(one_line(exc))})"
            ) from None
        lo, hi = self.model.unwrap_python_model().depth_range
        self.depth_range: tuple[float, float] = (float(lo), float(hi))

    def predict_image(self, rgb: np.ndarray) -> np.ndarray:
        """(H,W,3) uint8 RGB -> (H,W) depth in metres, through the served model's own input (a base64 PNG)."""
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        image = base64.b64encode(buf.getvalue()).decode()
        return np.asarray(self.model.predict(pd.DataFrame({served_model.IMAGE_COLUMN: [image]}))[0])


def load_registered_model(uri: str) -> RegisteredModel:
    """The registered model ``models:/<name>@<alias>`` (or ``/<version>``) of this project's store."""
    return RegisteredModel(uri)
