"""The MLflow model registry: exported models logged as servable MLflow models, registered, described, aliased.

The export stage logs :mod:`depthpipe.serve_model` (a photo of any size in, metres out) with the exported
program and its card in its own run, links the test metrics to that logged model, and registers it as
``depthpipe-<variant>`` with descriptions from the model card. ``@candidate`` moves to the new version only
when it beats the mean-depth baseline on every depth metric (and, once the gate supplies a comparison, the
current ``@champion``); otherwise the version stays without the alias and the reason is printed and tagged.
``depthpipe promote`` moves ``@champion`` to ``@candidate`` when the metrics gate passes. Load a version
with ``mlflow.pyfunc.load_model("models:/depthpipe-<variant>@champion")``.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Mapping

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient

from depthpipe import serve_model
from depthpipe.mlflow_store import configure, tracking_uri
from depthpipe.metrics import DEPTH_METRICS

REGISTERED_MODEL_PREFIX = "depthpipe-"
CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"
HIGHER_IS_BETTER = frozenset({"delta1", "delta2", "delta3", "miou", "pixel_acc"})


def registered_model_name(variant: str) -> str:
    """The registry name of a variant: ``depthpipe-<variant>``."""
    return f"{REGISTERED_MODEL_PREFIX}{variant}"


def beats_baseline(metrics: Mapping[str, float], baseline: Mapping[str, float]) -> list[str]:
    """The depth metrics on which the model is not better than the mean-depth baseline (empty: it beats it)."""
    worse = []
    for k in DEPTH_METRICS:
        better = metrics[k] > baseline[k] if k in HIGHER_IS_BETTER else metrics[k] < baseline[k]
        if not better:
            worse.append(f"{k} {metrics[k]:.4g} vs baseline {baseline[k]:.4g}")
    return worse


def _example_image(size: tuple[int, int]) -> str:
    """A small base64 PNG for the logged model's input example."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", serve_model.IMAGE_COLUMN)]))


def log_servable_model(variant: str, export_dir: Path, card: Mapping[str, Any]) -> Any:
    """Log :mod:`depthpipe.serve_model` with ``export_dir``'s program and card to the active run; returns the
    ModelInfo (registered as ``depthpipe-<variant>``, a new version)."""
    import pandas as pd
    import torch

    h, w = card["input"]["size"]
    return mlflow.pyfunc.log_model(
        name=registered_model_name(variant),
        python_model=Path(serve_model.__file__),
        artifacts={"program": str(export_dir / "model.pt2"), "card": str(export_dir / "export.json")},
        signature=_signature(),
        input_example=pd.DataFrame({serve_model.IMAGE_COLUMN: [_example_image((max(8, h // 4), max(8, w // 4)))]}),
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}", "numpy",
                          "pillow"],
        registered_model_name=registered_model_name(variant),
        metadata={"depthpipe.variant": variant, "input": "RGB image of any size (base64 PNG/JPEG, or an array)",
                  "output": "depth in metres at the image's size"},
    )


def describe(client: MlflowClient, variant: str, version: str, card: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Registered-model and version descriptions from the model card, and the version's tags."""
    name = registered_model_name(variant)
    h, w = card["input"]["size"]
    lo, hi = card["depth_range_m"]
    client.update_registered_model(name, description=(
        f"depthpipe {variant} ({card['task']}): an RGB photo of any size in, depth in metres ({lo:g}-{hi:g} m) at "
        f"the photo's size out; the network sees {h}x{w}. {card['limitations']}"))
    metrics = card.get("test_metrics") or {}
    figures = "; ".join(f"{group}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items())
                        for group, values in metrics.items() if isinstance(values, Mapping))
    source = card.get("source", {})
    client.update_model_version(name, version, description=(
        f"Trained from commit {source.get('git_commit')}, prepared data sha256 {source.get('data_sha256')}. "
        f"Test split: {figures or 'no metrics'}. Architecture: {card.get('architecture')}."))
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


def promote(variant: str, gate_ok: bool) -> str:
    """Move ``@champion`` of ``depthpipe-<variant>`` to the ``@candidate`` version when the gate passed.

    Raises a one-line :class:`~depthpipe.errors.DepthpipeError` when the gate did not pass or there is no
    candidate. Returns the version now ``@champion``.
    """
    from depthpipe.errors import DepthpipeError

    name = registered_model_name(variant)
    candidate = model_version_for_alias(name, CANDIDATE_ALIAS)
    if candidate is None:
        raise DepthpipeError(f"promote: registered model '{name}' has no '{CANDIDATE_ALIAS}' version in "
                             f"{tracking_uri()} (run the export stage with export.register: true)")
    champion = model_version_for_alias(name, CHAMPION_ALIAS)
    if not gate_ok:
        raise DepthpipeError(f"promote: the metrics gate did not pass; '{name}' {CHAMPION_ALIAS} stays at "
                             f"{'version ' + champion if champion else 'no version'} (candidate is version {candidate})")
    set_model_alias(name, CHAMPION_ALIAS, candidate)
    return candidate
