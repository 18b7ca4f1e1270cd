"""The export stage's MLflow run: parity figures, and with ``export.register`` the servable model, its
registry version, the test metrics linked to it, and whether it becomes ``@candidate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import mlflow
from mlflow.tracking import MlflowClient

from depthpipe import registry, tracking


def candidate_refusals(metrics: Mapping[str, Any] | None, summary: Mapping[str, Any] | None) -> list[str]:
    """Why a new version must not become ``@candidate`` (empty: it may): it has to beat the mean-depth
    baseline on every depth metric of the standard protocol."""
    try:
        ours, baseline = metrics["standard"], summary["baseline"]["standard"]
    except (KeyError, TypeError):
        return ["no standard-protocol test metrics and baseline to compare (run the evaluate stage)"]
    worse = registry.beats_baseline(ours, baseline)
    return [f"not better than the mean-depth baseline on {', '.join(worse)}"] if worse else []


def _version_tags(config: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, str]:
    tags = {"depthpipe.variant": config["variant"], "depthpipe.stage": "export",
            "mlflow.source.git.commit": tracking.git_commit(),
            "depthpipe.data.prepared_sha256": str(config.get("data_sha256") or ""),
            "depthpipe.train_run": str(config.get("mlflow_run_id") or "")}
    for key, value in report["parity"]["max_abs_diff_m"].items():
        tags[f"depthpipe.parity.{key}_max_abs_m"] = str(value)
    return tags


def _test_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """``test/<metric>`` (standard protocol and semantic) and ``test_<protocol>/<metric>`` for the others."""
    out = {}
    for group, values in (metrics or {}).items():
        prefix = "test" if group in ("standard", "semantic") else f"test_{group}"
        out |= {f"{prefix}/{k}": float(v) for k, v in values.items() if isinstance(v, (int, float))}
    return out


def log_export(config: Mapping[str, Any], report: Mapping[str, Any], export_dir: Path,
               summary: Mapping[str, Any] | None, register: bool, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Log the export stage's run (``export_dir`` holds model.pt2 and export.json under those names); returns
    the registry entry (name, version, alias, run id, URIs) when ``register``, else None."""
    variant = config["variant"]
    tags = tracking.stage_tags("export", variant, None, None)
    tags |= {"depthpipe.train_run": str(config.get("mlflow_run_id") or ""),
             "depthpipe.data.prepared_sha256": str(config.get("data_sha256") or "")}
    with tracking.stage_run("export", variant, params, tags) as run:
        run.log_metrics({f"parity/{k}_max_abs_m": v for k, v in report["parity"]["max_abs_diff_m"].items()
                         if isinstance(v, (int, float))})
        run.log_artifact(export_dir / "export.json")
        if not register:
            return None
        card = report["model_card"]
        info = registry.log_servable_model(variant, export_dir, card)
        mlflow.log_metrics(_test_metrics(card.get("test_metrics")), model_id=info.model_id)
        version = str(info.registered_model_version)
        client = MlflowClient()
        registry.describe(client, variant, version, card, _version_tags(config, report))
        alias = registry.set_candidate(client, variant, version, candidate_refusals(card.get("test_metrics"), summary))
        name = registry.registered_model_name(variant)
        return {"name": name, "version": version, "alias": alias, "run_id": run.run_id, "model_id": info.model_id,
                "model_uri": f"models:/{name}/{version}", "logged_model_uri": info.model_uri}
