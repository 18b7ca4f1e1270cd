"""DVC stage `export@<variant>`: .pt2 + ONNX with a parity check on test frames -> exports/<variant>/."""

from pathlib import Path

from depthpipe.stage import run_stage, variant_arg


def main(params: dict, root: Path) -> int:
    import h5py

    from depthpipe.export import export_model, export_params_check

    variant = variant_arg(params)
    tolerance, opset, parity_frames, register = export_params_check(params["export"])
    with h5py.File(root / "data" / "prepared" / "test.h5", "r") as f:
        images = f["rgb"][:parity_frames]
    card = export_model(root / "models" / variant, root / "exports" / variant, images, tolerance, opset, root,
                        metrics_path=root / "metrics" / f"{variant}.json", register=register,
                        experiment=params["tracking"]["experiment"])
    print(f"export {variant}: parity {card.get('parity')}; registry {card.get('registry')}")
    return 0


if __name__ == "__main__":
    run_stage("export", main)
