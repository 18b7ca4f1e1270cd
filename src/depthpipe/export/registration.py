"""An export's MLflow record: its run with the parity figures and the per-frame evidence, and with
``register`` the servable model, its registry version, the test metrics linked to it, and whether it becomes
``@candidate`` (through :mod:`depthpipe.tracking`).

The run, and the version, are linked to the train run that made the weights (found by the sha256 of
``model.pt``, :func:`~depthpipe.tracking.runs.train_run_of`): the trained files carry no run ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthpipe.files import sha256_file
from depthpipe.gate.evidence import EVIDENCE, PER_FRAME, PER_FRAME_CLASSES
from depthpipe.models.trained import MODEL_FILE
from depthpipe.tracking import registry, runs
from depthpipe.tracking.provenance import git_commit, stage_tags
from depthpipe.workspace import WorkspacePaths


def _version_tags(config: Mapping[str, Any], report: Mapping[str, Any], train_run: str) -> dict[str, str]:
    tags = {
        "depthpipe.variant": config["variant"],
        "depthpipe.stage": "export",
        "mlflow.source.git.commit": git_commit(),
        "depthpipe.data.prepared_sha256": str(config.get("data_sha256") or ""),
        "depthpipe.train_run": train_run,
    }
    for key, value in report["parity"]["max_abs_diff_m"].items():
        tags[f"depthpipe.parity.{key}_max_abs_m"] = str(value)
    return tags


def _test_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """``test/<metric>`` (standard protocol and semantic) and ``test_<protocol>/<metric>`` for the others."""
    out: dict[str, float] = {}
    for group, values in (metrics or {}).items():
        prefix = "test" if group in ("standard", "semantic") else f"test_{group}"
        out |= {f"{prefix}/{k}": float(v) for k, v in values.items() if isinstance(v, (int, float))}
    return out


def log_export(
    config: Mapping[str, Any],
    report: Mapping[str, Any],
    export_dir: Path,
    summary: Mapping[str, Any] | None,
    register: bool,
    params: Mapping[str, Any],
    paths: WorkspacePaths,
) -> dict[str, Any] | None:
    """Log the export run of the model ``config`` describes (``export_dir`` holds model.pt2 and export.json
    under those names, ``report`` is export.json's content) with the workspace's per-frame evidence (what
    ``depthpipe promote`` gates a later version on); returns the registry entry (name, version, alias, run id,
    URIs) when ``register``, else None. ``summary``: the evaluation summary (the baseline to beat)."""
    variant = config["variant"]
    model_sha = sha256_file(paths.model_dir(variant) / MODEL_FILE)
    train_run = runs.train_run_of(model_sha, variant) or ""
    tags = stage_tags("export", variant, None, None)
    tags |= {
        "depthpipe.train_run": train_run,
        runs.MODEL_SHA_TAG: model_sha,
        "depthpipe.data.prepared_sha256": str(config.get("data_sha256") or ""),
    }
    with runs.stage_run("export", variant, params, tags) as run:
        client = registry.registry_client()
        registry.label_unfinished_versions(client, variant, run.run_id)
        run.log_metrics(
            {
                f"parity/{k}_max_abs_m": v
                for k, v in report["parity"]["max_abs_diff_m"].items()
                if isinstance(v, (int, float))
            }
        )
        run.log_artifact(export_dir / "export.json")
        for name in (PER_FRAME, PER_FRAME_CLASSES):
            run.log_artifact(paths.eval_reports(variant) / name, artifact_path=EVIDENCE)
        if not register:
            return None
        card = report["model_card"]
        info = registry.log_servable_model(variant, export_dir, card)
        registry.log_model_metrics(info.model_id, _test_metrics(card.get("test_metrics")))
        refusals = registry.candidate_refusals(card.get("test_metrics"), summary)
        # registered last, born with its description and tags: a kill before this leaves no version at all
        version_tags = _version_tags(config, report, train_run) | registry.refusal_tags(refusals)
        version = registry.register(client, variant, info, run.run_id, card, version_tags)
        alias = registry.set_candidate(client, variant, version, refusals)
        name = registry.registered_model_name(variant)
        return {
            "name": name,
            "version": version,
            "alias": alias,
            "run_id": run.run_id,
            "model_id": info.model_id,
            "model_uri": f"models:/{name}/{version}",
            "logged_model_uri": info.model_uri,
        }
