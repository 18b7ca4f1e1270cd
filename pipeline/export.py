"""DVC stage `export@<variant>`: .pt2 + ONNX with a parity check on test frames -> exports/<variant>/."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage, variant_arg


def main(params: Params, workspace: Path) -> None:
    from depthpipe.data.prepared import TEST, PreparedSplit, split_path
    from depthpipe.export import export_model

    variant = variant_arg()
    cfg = params.export
    images = PreparedSplit(split_path(workspace / "data" / "prepared", TEST)).read("rgb", slice(0, cfg.parity_frames))
    card = export_model(workspace / "models" / variant, workspace / "exports" / variant, images, cfg.tolerance,
                        cfg.opset, metrics_path=workspace / "metrics" / f"{variant}.json",
                        summary_path=workspace / "reports" / "eval" / variant / "summary.json",
                        register=cfg.register_model, workspace=workspace, gate=params.gate,
                        onnx=cfg.onnx)
    print(f"export {variant}: parity {card.get('parity')}; registry {card.get('registry')}")


if __name__ == "__main__":
    run_stage("export", main)
