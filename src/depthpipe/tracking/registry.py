"""The MLflow model registry: exported models logged as servable MLflow models, registered, described, aliased.

The export stage logs :mod:`depthpipe.tracking.served_model` (a photo of any size in, metres out) with the
exported program and its card in its own run, links the test metrics to that logged model, and registers it as
``depthpipe-<variant>`` with descriptions from the model card. ``@candidate`` moves to the new version only
when it beats the mean-depth baseline on every depth metric (:func:`candidate_refusals`, decided from the
stage's own inputs); otherwise the version stays without the alias and the reason is printed and tagged.
``@champion`` is ``depthpipe promote``'s alone (:mod:`depthpipe.gate.promote`). Load a version with
``mlflow.pyfunc.load_model("models:/depthpipe-<variant>@champion")``.

A registry that cannot be read is an error naming the store, never "no such alias".
"""

from __future__ import annotations

import base64
import io
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
from depthpipe.tracking import served_model
from depthpipe.tracking.store import configure, redacted, redacted_text, tracking_uri

REGISTERED_MODEL_PREFIX = "depthpipe-"
CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"
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
    returns the ModelInfo (registered as ``depthpipe-<variant>``, a new version)."""
    h, w = card["input"]["size"]
    return mlflow.pyfunc.log_model(
        name=registered_model_name(variant),
        python_model=Path(served_model.__file__),
        artifacts={"program": str(export_dir / "model.pt2"), "card": str(export_dir / "export.json")},
        signature=_signature(),
        input_example=pd.DataFrame({served_model.IMAGE_COLUMN: [_example_image((max(8, h // 4), max(8, w // 4)))]}),
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"mlflow=={mlflow.__version__}",
            "numpy",
            "pillow",
        ],
        registered_model_name=registered_model_name(variant),
        metadata={
            "depthpipe.variant": variant,
            "input": "RGB image of any size (base64 PNG/JPEG, or an array)",
            "output": "depth in metres at the image's size",
        },
    )


def describe(
    client: MlflowClient, variant: str, version: str, card: Mapping[str, Any], tags: Mapping[str, str]
) -> None:
    """Registered-model and version descriptions from the model card, and the version's tags."""
    name = registered_model_name(variant)
    h, w = card["input"]["size"]
    lo, hi = card["depth_range_m"]
    client.update_registered_model(
        name,
        description=(
            f"depthpipe {variant} ({card['task']}): an RGB photo of any size in, depth in metres ({lo:g}-{hi:g} m) at "
            f"the photo's size out; the network sees {h}x{w}. {card['limitations']}"
        ),
    )
    metrics = card.get("test_metrics") or {}
    figures = "; ".join(
        f"{group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items())
        for group, values in metrics.items()
        if isinstance(values, Mapping)
    )
    training = card.get("training", {})
    client.update_model_version(
        name,
        version,
        description=(
            f"Exported from commit {tags.get('mlflow.source.git.commit', 'unknown')} (train run "
            f"{tags.get('depthpipe.train_run') or 'unknown'}), prepared data sha256 {training.get('data_sha256')}. "
            f"Test split: {figures or 'no metrics'}. Architecture: {card.get('architecture')}."
        ),
    )
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def set_candidate(client: MlflowClient, variant: str, version: str, refusals: list[str]) -> str | None:
    """Point ``@candidate`` at ``version`` unless there are ``refusals``; returns the alias set (or None)."""
    name = registered_model_name(variant)
    if refusals:
        reason = "; ".join(refusals)
        client.set_model_version_tag(name, version, "depthpipe.candidate_refused", reason[:5000])
        print(f"registry: {name} version {version} registered without @{CANDIDATE_ALIAS}: {reason}", flush=True)
        return None
    client.set_registered_model_alias(name, CANDIDATE_ALIAS, version)
    return CANDIDATE_ALIAS


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


def registry_location() -> str:
    """The registry's store, fit to print (no credentials)."""
    return redacted(tracking_uri())


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
        try:
            self.model = mlflow.pyfunc.load_model(uri)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a model it cannot load
            raise DepthpipeError(
                f"predict: cannot load {uri} from {registry_location()} ({redacted_text(one_line(exc))})"
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
