"""DVC stage `export@<variant>`: .pt2 + ONNX with a parity check on test frames -> exports/<variant>/."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage, variant_arg


def main(params: Params, workspace: Path) -> None:
    import h5py

    from depthpipe.export import export_model

    variant = variant_arg()
    cfg = params.export
    with h5py.File(workspace / "data" / "prepared" / "test.h5", "r") as f:
        images = f["rgb"][: cfg.parity_frames]
    card = export_model(workspace / "models" / variant, workspace / "exports" / variant, images, cfg.tolerance,
                        cfg.opset, metrics_path=workspace / "metrics" / f"{variant}.json",
                        register=cfg.register_model)
    print(f"export {variant}: parity {card.get('parity')}; registry {card.get('registry')}")


if __name__ == "__main__":
    run_stage("export", main)
