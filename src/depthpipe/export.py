"""The export stage: a trained model as a self-contained ``.pt2`` and ``.onnx`` that output metres.

``exports/<variant>/``
    ``model.pt2``    ``torch.export`` program of :class:`DepthInMetres` (``torch.export.load(...).module()``);
    ``model.onnx``   the same graph through the dynamo ONNX exporter (weights inside the file);
    ``export.json``  parity of both formats against the eager model, the tolerance, pass/fail and a model card.

Both graphs take ``float32 RGB in [0, 1], NCHW`` at the trained input size with a dynamic batch dimension,
apply the model's own ImageNet normalisation, and return depth in metres ``(N,1,H,W)`` at the input
resolution, clamped to ``[min_depth, max_depth]``.

Parity is measured on real test frames in batches of a size different from the export example, which proves
the batch dimension really is dynamic. When it exceeds the tolerance, ``export.json`` is written with
``passed: false`` and the stage fails. With ``register``, the model is logged to the variant's train run
(``pt2`` serialization), registered as ``depthpipe-<variant>`` and given the alias ``candidate``;
``depthpipe promote`` moves ``champion`` to it once the metrics gate has passed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depthpipe.errors import DepthpipeError
from depthpipe.io import atomic_path, write_json_atomic

PT2_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
EXPORT_JSON = "export.json"
INPUT_NAME = "rgb"
OUTPUT_NAME = "depth_m"
INPUT_SPEC = "float32 RGB in [0,1], NCHW"
OUTPUT_SPEC = "depth in metres (N,1,H,W)"
EXAMPLE_BATCH = 2  # batch of the export example; parity runs in batches of PARITY_BATCH (and a remainder)
PARITY_BATCH = 3
MAX_BATCH = 4096


class DepthInMetres(nn.Module):
    """A trained network as ``RGB [0,1] (N,3,H,W) -> depth in metres (N,1,H,W)``.

    ``model(x)["depth"]`` (reciprocal target space, half resolution) -> :func:`depthpipe.models.to_metres`
    -> bilinear upsample (``align_corners=False``) to the input size -> clamp to ``[min_depth, max_depth]``.
    """

    def __init__(self, model: nn.Module, min_depth: float = 0.1, max_depth: float = 10.0) -> None:
        super().__init__()
        self.model = model
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    def forward(self, x: Tensor) -> Tensor:
        from depthpipe.models import to_metres

        pred = self.model(x)["depth"]
        metres = to_metres(pred, max_depth=self.max_depth, min_depth=self.min_depth)
        if tuple(metres.shape[-2:]) != tuple(x.shape[-2:]):
            metres = F.interpolate(metres, size=(x.shape[-2], x.shape[-1]), mode="bilinear", align_corners=False)
        return metres.clamp(self.min_depth, self.max_depth)


def wrap_trained(model_dir: str | os.PathLike[str]) -> tuple[DepthInMetres, dict[str, Any]]:
    """The trained model of ``model_dir`` wrapped in :class:`DepthInMetres` (eval, CPU), with its config."""
    from depthpipe.checkpoint import load_trained

    model, config = load_trained(model_dir)
    for key in ("variant", "input_size", "min_depth", "max_depth"):
        if key not in config:
            raise DepthpipeError(f"{Path(model_dir) / 'config.json'}: missing key '{key}'")
    wrapped = DepthInMetres(model, min_depth=config["min_depth"], max_depth=config["max_depth"]).eval()
    return wrapped, config


def images_to_tensor(images: np.ndarray) -> Tensor:
    """(N,H,W,3) uint8 -> (N,3,H,W) float32 in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def normalisation_of(model: nn.Module) -> dict[str, list[float]]:
    """Mean/std of the model's first :class:`~depthpipe.models.layers.Normalize` (ImageNet when none is found)."""
    for module in model.modules():
        mean, std = getattr(module, "mean", None), getattr(module, "std", None)
        if isinstance(mean, Tensor) and isinstance(std, Tensor) and mean.numel() == 3 and std.numel() == 3:
            return {"mean": [round(float(v), 6) for v in mean.flatten()],
                    "std": [round(float(v), 6) for v in std.flatten()]}
    from depthpipe.models.layers import IMAGENET_MEAN, IMAGENET_STD

    return {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def _batch_dim() -> Any:
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def export_program(module: nn.Module, example: Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` of ``module`` on ``example`` with a dynamic batch dimension (1..MAX_BATCH)."""
    with torch.no_grad():
        return torch.export.export(module, (example,), dynamic_shapes={"x": {0: _batch_dim()}})


def export_pt2(program: torch.export.ExportedProgram, path: Path) -> None:
    """Save ``program`` atomically to ``path``."""
    with atomic_path(path) as tmp:
        torch.export.save(program, tmp)


def export_onnx(program: torch.export.ExportedProgram, path: Path, opset: int) -> None:
    """Dynamo ONNX export of ``program`` (its dynamic batch is kept; weights inside the file), checked with
    ``onnx.checker``, written atomically."""
    import onnx

    with atomic_path(path) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                program,
                (),
                str(tmp),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                external_data=False,
                optimize=True,
                verbose=False,
            )
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except Exception as exc:
            raise DepthpipeError(f"{path}: exported ONNX model fails onnx.checker ({str(exc).splitlines()[0]})") from None


def load_pt2(path: str | os.PathLike[str]) -> Callable[[Tensor], Tensor]:
    """The callable module of a saved ``.pt2`` program."""
    try:
        return torch.export.load(str(path)).module()
    except Exception as exc:
        raise DepthpipeError(f"{path}: cannot load exported program ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def onnx_session(path: str | os.PathLike[str]) -> Any:
    """An ONNX Runtime CPU session for ``path``.

    Its worker threads do not spin-wait between runs, which on a small CPU would starve the torch code running
    in between (eager parity, pre/post-processing).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise DepthpipeError(f"{path}: cannot load ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def parity(
    eager: nn.Module, pt2_path: Path, onnx_path: Path, images: np.ndarray, batch_size: int = PARITY_BATCH
) -> dict[str, Any]:
    """Max |eager - exported| in metres for both formats over ``images`` (N,H,W,3) uint8, run in batches."""
    pt2 = load_pt2(pt2_path)
    sess = onnx_session(onnx_path)
    x_all = images_to_tensor(images)
    diffs = {"pt2": 0.0, "onnx": 0.0}
    sizes = []
    with torch.no_grad():
        for sl in _batches(len(x_all), batch_size):
            x = x_all[sl]
            sizes.append(int(x.shape[0]))
            ref = eager(x).numpy()
            out_pt2 = pt2(x).numpy()
            (out_onnx,) = sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
            for name, out in (("pt2", out_pt2), ("onnx", out_onnx)):
                if out.shape != ref.shape:
                    raise DepthpipeError(
                        f"{pt2_path if name == 'pt2' else onnx_path}: output shape {tuple(out.shape)} "
                        f"!= eager {tuple(ref.shape)} for a batch of {x.shape[0]}"
                    )
                d = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
                diffs[name] = max(diffs[name], d if math.isfinite(d) else math.inf)
    return {"max_abs_diff_m": diffs, "frames": int(len(x_all)), "batch_sizes": sizes}


def _sig(x: float) -> float | str:
    """A float rounded to 4 significant digits (stable across reruns); inf/nan as strings (valid JSON)."""
    if not math.isfinite(x):
        return str(x)
    return float(f"{x:.4g}")


def _finite(obj: Any) -> Any:
    """``obj`` with NaN/inf floats replaced by ``None`` (export.json is strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _read_metrics(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return _finite(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise DepthpipeError(f"{path}: metrics file not found (run the evaluate stage first)") from None
    except json.JSONDecodeError as exc:
        raise DepthpipeError(f"{path}: not valid JSON ({exc})") from None


def model_card(config: dict[str, Any], normalisation: dict[str, list[float]], metrics: dict[str, Any] | None) -> dict[str, Any]:
    """What a consumer of the exported files needs to know."""
    h, w = (int(v) for v in config["input_size"])
    lo, hi = float(config["min_depth"]), float(config["max_depth"])
    variant = config["variant"]
    return {
        "name": f"depthpipe-{variant}",
        "variant": variant,
        "architecture": config.get("model", {}),
        "task": "monocular depth estimation (indoor, NYU Depth v2)",
        "input": {
            "name": INPUT_NAME,
            "spec": INPUT_SPEC,
            "dtype": "float32",
            "shape": ["batch", 3, h, w],
            "size": [h, w],
            "range": [0.0, 1.0],
        },
        "normalisation": {**normalisation, "applied": "inside the graph (do not normalise the input)"},
        "output": {
            "name": OUTPUT_NAME,
            "spec": OUTPUT_SPEC,
            "dtype": "float32",
            "shape": ["batch", 1, h, w],
        },
        "depth_range_m": [lo, hi],
        "source": {
            "git_commit": config.get("git_commit"),
            "data_sha256": config.get("data_sha256"),
            "mlflow_run_id": config.get("mlflow_run_id"),
            "mlflow_experiment": config.get("mlflow_experiment"),
        },
        "test_metrics": metrics,
        "limitations": (
            "Trained for indoor scenes like NYU Depth v2 (Kinect v1, 480x640); depth is clamped to the range "
            "above. Images of another size must be resized to the input size and the depth resized back."
        ),
    }


def export_model(
    model_dir: Path,
    out_dir: Path,
    parity_images: np.ndarray,
    tolerance: float,
    opset: int,
    metrics_path: Path | None = None,
    register: bool = False,
    parity_batch: int = PARITY_BATCH,
) -> dict[str, Any]:
    """Export ``model_dir`` to ``out_dir`` (``model.pt2``, ``model.onnx``, ``export.json``); see the module doc.

    Returns the ``export.json`` content, plus ``registry`` (name, version, run id, model URI) when registered.
    Raises :class:`DepthpipeError` (after writing ``export.json`` with ``passed: false``) when either format
    differs from the eager model by more than ``tolerance`` metres.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    wrapped, config = wrap_trained(model_dir)
    h, w = (int(v) for v in config["input_size"])
    images = np.asarray(parity_images)
    if images.ndim != 4 or images.shape[1:] != (h, w, 3) or images.dtype != np.uint8:
        raise DepthpipeError(
            f"export: parity images must be (N,{h},{w},3) uint8 at the model input size of {model_dir} "
            f"(got {images.shape} {images.dtype})"
        )
    if len(images) == 0:
        raise DepthpipeError("export: no parity images (params.yaml export.parity_frames must be >= 1)")
    if parity_batch == EXAMPLE_BATCH:
        raise DepthpipeError(f"export: parity_batch must differ from the export example batch ({EXAMPLE_BATCH})")
    metrics = _read_metrics(metrics_path)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / EXPORT_JSON).unlink(missing_ok=True)  # never leave a stale verdict beside new model files
    reps = -(-EXAMPLE_BATCH // len(images))
    example = images_to_tensor(np.concatenate([images] * reps)[:EXAMPLE_BATCH])
    try:
        program = export_program(wrapped, example)
    except Exception as exc:
        raise DepthpipeError(
            f"{model_dir}: torch.export failed ({type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]})"
        ) from None
    export_pt2(program, out_dir / PT2_FILE)
    try:
        export_onnx(program, out_dir / ONNX_FILE, opset)
    except DepthpipeError:
        raise
    except Exception as exc:
        raise DepthpipeError(
            f"{out_dir / ONNX_FILE}: ONNX export (opset {opset}) failed "
            f"({type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]})"
        ) from None
    del program

    # batches of parity_batch (and a remainder), or of 1 when there are fewer frames: never only the example's 2
    batch = parity_batch if len(images) >= parity_batch else 1
    par = parity(wrapped, out_dir / PT2_FILE, out_dir / ONNX_FILE, images, batch_size=batch)
    diffs = par["max_abs_diff_m"]
    passed = all(d <= tolerance for d in diffs.values())
    import onnxruntime as ort

    report: dict[str, Any] = {
        "variant": config["variant"],
        "files": {"pt2": PT2_FILE, "onnx": ONNX_FILE},
        "formats": {
            "pt2": {"torch": torch.__version__.split("+")[0], "dynamic_dims": {"batch": [1, MAX_BATCH]}},
            "onnx": {"opset": int(opset), "onnxruntime": ort.__version__, "provider": "CPUExecutionProvider",
                     "dynamic_dims": {"batch": [1, MAX_BATCH]}},
        },
        "parity": {
            "max_abs_diff_m": {k: _sig(v) for k, v in sorted(diffs.items())},
            "frames": par["frames"],
            "batch_sizes": par["batch_sizes"],
            "export_example_batch": EXAMPLE_BATCH,
        },
        "tolerance_m": float(tolerance),
        "passed": bool(passed),
        "model_card": model_card(config, normalisation_of(wrapped.model), metrics),
    }
    write_json_atomic(out_dir / EXPORT_JSON, report)
    if not passed:
        worst = max(diffs, key=lambda k: diffs[k])
        raise DepthpipeError(
            f"{out_dir / EXPORT_JSON}: parity failed: {worst} differs from the eager model by "
            f"{diffs[worst]:.3g} m > tolerance {tolerance:g} m"
        )

    result = dict(report)
    if register:
        from depthpipe import tracking

        with torch.no_grad():
            example_out = wrapped(example).numpy()
        result["registry"] = tracking.log_exported_model(
            variant=config["variant"],
            module=wrapped,
            input_example=example.numpy(),
            output_example=example_out,
            run_id=config.get("mlflow_run_id"),
            data_sha256=config.get("data_sha256"),
            export_dir=out_dir,
            parity_m={k: float(v) for k, v in diffs.items()},
        )
    return result


def promote(variant: str, gate_ok: bool) -> str:
    """Move alias ``champion`` of ``depthpipe-<variant>`` to the version aliased ``candidate``; returns it.

    Only when the metrics gate passed (``gate_ok``); raises :class:`DepthpipeError` otherwise, or when there
    is no ``candidate`` (run the export stage with ``export.register: true`` first).
    """
    from depthpipe import tracking

    name = tracking.registered_model_name(variant)
    candidate = tracking.model_version_for_alias(name, tracking.CANDIDATE_ALIAS)
    if candidate is None:
        raise DepthpipeError(
            f"promote: registered model '{name}' has no '{tracking.CANDIDATE_ALIAS}' version in "
            f"{tracking.tracking_uri()} (run the export stage with export.register: true)"
        )
    champion = tracking.model_version_for_alias(name, tracking.CHAMPION_ALIAS)
    if not gate_ok:
        raise DepthpipeError(
            f"promote: the metrics gate did not pass; '{name}' {tracking.CHAMPION_ALIAS} stays at "
            f"{'version ' + champion if champion else 'no version'} (candidate is version {candidate})"
        )
    tracking.set_model_alias(name, tracking.CHAMPION_ALIAS, candidate)
    return candidate


def read_export(export_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``export.json`` of an export directory."""
    from depthpipe.io import read_json

    return read_json(Path(export_dir) / EXPORT_JSON, "an export directory")


__all__: Sequence[str] = (
    "DepthInMetres",
    "export_model",
    "images_to_tensor",
    "load_pt2",
    "onnx_session",
    "promote",
    "read_export",
    "wrap_trained",
)
