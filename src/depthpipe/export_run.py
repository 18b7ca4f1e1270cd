"""The export stage's MLflow run: parity figures, and with ``export.register`` the servable model, its
registry version, the test metrics linked to it, and whether it becomes ``@candidate``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow
from mlflow.tracking import MlflowClient

from depthpipe import registry, tracking
from depthpipe.config import GateConfig
from depthpipe.evidence import PER_FRAME, PER_FRAME_CLASSES, GateError, Workspace, eval_path, pair, read_side

EVIDENCE = "evidence"  # the export run's copy of the per-frame test evidence (what a later version is gated on)


def candidate_refusals(metrics: Mapping[str, Any] | None, summary: Mapping[str, Any] | None) -> list[str]:
    """Why a new version must not become ``@candidate`` (empty: it may): it has to beat the mean-depth
    baseline on every depth metric of the standard protocol."""
    try:
        ours, baseline = metrics["standard"], summary["baseline"]["standard"]
    except (KeyError, TypeError):
        return ["no standard-protocol test metrics and baseline to compare (run the evaluate stage)"]
    worse = registry.beats_baseline(ours, baseline)
    return [f"not better than the mean-depth baseline on {', '.join(worse)}"] if worse else []


def champion_refusals(variant: str, workspace: Path, gate: GateConfig) -> list[str]:
    """Why the new version must not become ``@candidate`` against ``@champion``: the merge gate's paired
    bootstrap of the workspace's per-frame evidence against the champion's finds a regression, or the two
    cannot be compared (another test split). Empty when there is no champion."""
    from depthpipe.gate import compare

    name = registry.registered_model_name(variant)
    version = registry.model_version_for_alias(name, registry.CHAMPION_ALIAS)
    if version is None:
        return []
    run_id = MlflowClient().get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / eval_path(variant, "")
        folder.mkdir(parents=True)
        try:
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=EVIDENCE, dst_path=str(folder.parent))
            (folder.parent / EVIDENCE).rename(folder)
            base, cand = pair(variant, read_side(Workspace(Path(tmp)), variant), read_side(Workspace(workspace), variant))
        except (GateError, OSError, TypeError, mlflow.exceptions.MlflowException) as exc:
            return [f"not comparable with @{registry.CHAMPION_ALIAS} (version {version}): {str(exc).splitlines()[0]}"]
        result = compare({variant: (base, cand)}, gate, workspace)
    worse = [f"{c.group}/{c.metric}" for c in result.comparisons if c.verdict == "regressed"]
    return [f"regressed against @{registry.CHAMPION_ALIAS} (version {version}) on {', '.join(worse)}"] if worse else []


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
               summary: Mapping[str, Any] | None, register: bool, params: Mapping[str, Any],
               workspace: Path | None = None, gate: GateConfig | None = None) -> dict[str, Any] | None:
    """Log the export stage's run (``export_dir`` holds model.pt2 and export.json under those names); returns
    the registry entry (name, version, alias, run id, URIs) when ``register``, else None.

    With ``workspace`` and ``gate``, the workspace's per-frame evidence is logged too, and a new version
    becomes ``@candidate`` only if it also passes the gate against ``@champion`` (:func:`champion_refusals`).
    """
    variant = config["variant"]
    tags = tracking.stage_tags("export", variant, None, None)
    tags |= {"depthpipe.train_run": str(config.get("mlflow_run_id") or ""),
             "depthpipe.data.prepared_sha256": str(config.get("data_sha256") or "")}
    with tracking.stage_run("export", variant, params, tags) as run:
        run.log_metrics({f"parity/{k}_max_abs_m": v for k, v in report["parity"]["max_abs_diff_m"].items()
                         if isinstance(v, (int, float))})
        run.log_artifact(export_dir / "export.json")
        for name in (PER_FRAME, PER_FRAME_CLASSES) if workspace is not None else ():
            run.log_artifact(Path(workspace) / eval_path(variant, name), artifact_path=EVIDENCE)
        if not register:
            return None
        card = report["model_card"]
        info = registry.log_servable_model(variant, export_dir, card)
        mlflow.log_metrics(_test_metrics(card.get("test_metrics")), model_id=info.model_id)
        version = str(info.registered_model_version)
        client = MlflowClient()
        registry.describe(client, variant, version, card, _version_tags(config, report))
        refusals = candidate_refusals(card.get("test_metrics"), summary)
        if workspace is not None and gate is not None and not refusals:
            refusals = champion_refusals(variant, Path(workspace), gate)
        alias = registry.set_candidate(client, variant, version, refusals)
        name = registry.registered_model_name(variant)
        return {"name": name, "version": version, "alias": alias, "run_id": run.run_id, "model_id": info.model_id,
                "model_uri": f"models:/{name}/{version}", "logged_model_uri": info.model_uri}
