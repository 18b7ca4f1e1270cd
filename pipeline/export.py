"""DVC stage `export@<variant>`: .pt2 and ONNX files checked against the eager model on test frames
-> exports/<variant>/, moved into place once the stage's MLflow run has logged them (and, with
`export.register`, the registry holds the servable model)."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

from depthpipe.config import Params
from depthpipe.data.prepared.hdf5 import TEST, PreparedSplit, split_path
from depthpipe.export.exporter import staged_export
from depthpipe.export.registration import log_export
from depthpipe.files import read_json
from depthpipe.stage_runner import run_stage, variant_arg
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Export the variant named on the command line under ``export``, log it and register it."""
    variant = variant_arg()
    cfg = params.export
    images = PreparedSplit(split_path(paths.prepared, TEST)).read("rgb", slice(0, cfg.parity_frames))
    summary = read_json(paths.eval_reports(variant) / "summary.json", "the evaluate stage's output")
    logged = {
        "export.tolerance": cfg.tolerance,
        "export.opset": cfg.opset,
        "export.register": cfg.register_model,
        "export.parity_frames": len(images),
        "export.onnx": cfg.onnx,
    }
    with staged_export(
        paths.model_dir(variant),
        paths.exports(variant),
        images,
        cfg.tolerance,
        cfg.opset,
        metrics_path=paths.metrics(variant),
        onnx=cfg.onnx,
    ) as checked:
        entry = log_export(checked.config, checked.report, checked.folder, summary, cfg.register_model, logged, paths)
    print(f"export {variant}: parity {checked.report.get('parity')}; registry {entry or None}")


if __name__ == "__main__":
    run_stage("export", main)
