"""Stage ``export@<variant>``: ``.pt2`` and ONNX files checked against the eager model, logged and registered."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthpipe.config import Params
from depthpipe.data.prepared.hdf5 import TEST, PreparedSplit, split_path
from depthpipe.export.exporter import export_model
from depthpipe.files import read_json
from depthpipe.stages.runner import variant_arg
from depthpipe.tracking.export_run import log_export


def main(params: Params, workspace: Path) -> None:
    """Export the variant named on the command line under ``export``; writes ``exports/<variant>/``."""
    variant = variant_arg()
    cfg = params.export
    images = PreparedSplit(split_path(workspace / "data" / "prepared", TEST)).read("rgb", slice(0, cfg.parity_frames))
    summary = read_json(workspace / "reports" / "eval" / variant / "summary.json", "the evaluate stage's output")
    logged = {
        "export.tolerance": cfg.tolerance,
        "export.opset": cfg.opset,
        "export.register": cfg.register_model,
        "export.parity_frames": len(images),
        "export.onnx": cfg.onnx,
    }

    def log(config: Mapping[str, Any], report: Mapping[str, Any], folder: Path) -> dict[str, Any] | None:
        return log_export(config, report, folder, summary, cfg.register_model, logged, workspace)

    card = export_model(
        workspace / "models" / variant,
        workspace / "exports" / variant,
        images,
        cfg.tolerance,
        cfg.opset,
        metrics_path=workspace / "metrics" / f"{variant}.json",
        onnx=cfg.onnx,
        log=log,
    )
    print(f"export {variant}: parity {card.get('parity')}; registry {card.get('registry')}")
