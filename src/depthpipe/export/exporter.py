"""Exporting a trained model as a self-contained ``.pt2`` and ``.onnx`` that output metres, checked.

``exports/<variant>/``
    ``model.pt2``    ``torch.export`` program of :class:`DepthInMetres` (``torch.export.load(...).module()``);
    ``model.onnx``   the same graph through the dynamo ONNX exporter (weights inside the file), unless
                     ``export.onnx`` is false (the ``.pt2`` is what the registry serves);
    ``export.json``  parity of each format against the eager model, the tolerance, pass/fail and the model
                     card (what the files are: no commit, run id, time or source path, so the same model gives
                     the same bytes in any checkout).

Both graphs take ``float32 RGB in [0, 1], NCHW`` at the trained input size with a dynamic batch dimension,
apply the model's own ImageNet normalisation, and return depth in metres ``(N,1,H,W)`` at the input
resolution, clamped to ``[min_depth, max_depth]``. Parity is measured on real test frames in batches of a size
other than the export example's, which proves the batch dimension is dynamic; beyond the tolerance,
``export.json`` says ``passed: false`` and the export fails. :func:`staged_export` yields the checked files in
a staging folder, under their final names, and moves them into place only when the caller's block succeeds
(logging and registering them: :mod:`depthpipe.export.registration`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depthpipe.errors import DepthpipeError
from depthpipe.export.model_card import finite_json, model_card, normalisation_of, significant
from depthpipe.export.runtimes import INPUT_NAME, OUTPUT_NAME, format_runner, images_to_tensor
from depthpipe.files import StagedFiles, read_json, write_json_atomic
from depthpipe.models import to_metres
from depthpipe.models.trained import load_trained

PT2_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
FORMAT_FILES = {"pt2": PT2_FILE, "onnx": ONNX_FILE}  # what each exported format is called in exports/<variant>/
EXPORT_JSON = "export.json"
EXAMPLE_BATCH = 2  # batch of the export example; parity runs in batches of PARITY_BATCH (and a remainder)
PARITY_BATCH = 3
MAX_BATCH = 4096


class DepthInMetres(nn.Module):
    """A trained network as ``RGB [0,1] (N,3,H,W) -> depth in metres (N,1,H,W)``.

    ``model(x)["depth"]`` (reciprocal target space, half resolution) -> :func:`depthpipe.models.to_metres`
    -> bilinear upsample (``align_corners=False``) to the input size -> clamp to ``[min_depth, max_depth]``.
    """

    def __init__(self, model: nn.Module, min_depth: float, max_depth: float) -> None:
        super().__init__()
        self.model = model
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    def forward(self, x: Tensor) -> Tensor:
        pred = self.model(x)["depth"]
        metres = to_metres(pred, max_depth=self.max_depth, min_depth=self.min_depth)
        if tuple(metres.shape[-2:]) != tuple(x.shape[-2:]):
            metres = F.interpolate(metres, size=(x.shape[-2], x.shape[-1]), mode="bilinear", align_corners=False)
        return metres.clamp(self.min_depth, self.max_depth)


def wrap_trained(model_dir: str | os.PathLike[str]) -> tuple[DepthInMetres, dict[str, Any]]:
    """The trained model of ``model_dir`` wrapped in :class:`DepthInMetres` (eval, CPU), with its config."""
    model, config = load_trained(model_dir)
    for key in ("variant", "input_size", "min_depth", "max_depth"):
        if key not in config:
            raise DepthpipeError(f"{Path(model_dir) / 'config.json'}: missing key '{key}'")
    return DepthInMetres(model, min_depth=config["min_depth"], max_depth=config["max_depth"]).eval(), config


def export_program(module: nn.Module, example: Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` of ``module`` on ``example`` with a dynamic batch dimension (1..MAX_BATCH), without the
    Python stack traces torch records per graph node: they hold the absolute paths of the source files, so the same
    model exported from another checkout would give other bytes (and ONNX copies them into its metadata)."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
    for graph_module in program.graph_module.modules():
        if isinstance(graph_module, torch.fx.GraphModule):
            for node in graph_module.graph.nodes:
                node.meta.pop("stack_trace", None)
    return program


def export_pt2(program: torch.export.ExportedProgram, path: Path) -> None:
    """Save ``program`` to ``path`` (``torch.export.load(path).module()`` runs it)."""
    torch.export.save(program, str(path))


def export_onnx(program: torch.export.ExportedProgram, path: Path, opset: int) -> None:
    """Dynamo ONNX export of ``program`` (its dynamic batch is kept; weights inside the file), checked with
    ``onnx.checker``. Graph optimisation is left to ONNX Runtime, which does it when a session is created (the
    exporter's own optimiser pass took 40 % of the export time and changed no parity figure)."""
    with torch.no_grad():
        torch.onnx.export(
            program,
            (),
            str(path),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            external_data=False,
            optimize=False,
            verbose=False,
        )
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - the exporters raise any type; named in one line
        raise DepthpipeError(
            f"{path.name}: exported ONNX model fails onnx.checker ({str(exc).splitlines()[0]})"
        ) from None


def parity(
    eager: nn.Module, pt2_path: Path, onnx_path: Path | None, images: np.ndarray, batch_size: int = PARITY_BATCH
) -> dict[str, Any]:
    """Max |eager - exported| in metres for each format (ONNX when ``onnx_path``) over ``images`` (N,H,W,3)
    uint8, run in batches."""
    runners = {"pt2": format_runner(pt2_path, "pt2")}
    if onnx_path is not None:
        runners["onnx"] = format_runner(onnx_path, "onnx")
    x_all = images_to_tensor(images)
    diffs, sizes = dict.fromkeys(runners, 0.0), []
    with torch.no_grad():
        for start in range(0, len(x_all), batch_size):
            x = x_all[start : start + batch_size]
            sizes.append(int(x.shape[0]))
            ref = eager(x).numpy()
            for name, runner in runners.items():
                out = runner(x)
                if out.shape != ref.shape:
                    raise DepthpipeError(
                        f"{name} output shape {tuple(out.shape)} != eager {tuple(ref.shape)} "
                        f"for a batch of {x.shape[0]}"
                    )
                d = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
                diffs[name] = max(diffs[name], d if math.isfinite(d) else math.inf)
    return {"max_abs_diff_m": diffs, "frames": int(len(x_all)), "batch_sizes": sizes}


def _export_files(
    wrapped: DepthInMetres, images: np.ndarray, pt2: Path, onnx_path: Path | None, opset: int, where: Path
) -> None:
    """Write the ``.pt2`` and (with ``onnx_path``) the ``.onnx`` of ``wrapped`` (a one-line error naming the step
    that failed)."""
    reps = -(-EXAMPLE_BATCH // len(images))
    example = images_to_tensor(np.concatenate([images] * reps)[:EXAMPLE_BATCH])
    try:
        program = export_program(wrapped, example)
        export_pt2(program, pt2)
    except Exception as exc:  # noqa: BLE001 - the exporters raise any type; named in one line
        raise DepthpipeError(
            f"{where}: torch.export failed ({type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]})"
        ) from None
    if onnx_path is None:
        return
    try:
        export_onnx(program, onnx_path, opset)
    except DepthpipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the exporters raise any type; named in one line
        raise DepthpipeError(
            f"{where}: ONNX export (opset {opset}) failed ({type(exc).__name__}: "
            f"{(str(exc).strip().splitlines() or [''])[0]})"
        ) from None


def _report(
    config: dict[str, Any],
    wrapped: DepthInMetres,
    checked: dict[str, Any],
    tolerance: float,
    opset: int,
    metrics: dict[str, Any] | None,
) -> dict[str, Any]:
    """The content of ``export.json``."""
    diffs = checked["max_abs_diff_m"]
    dynamic = {"batch": [1, MAX_BATCH]}
    formats: dict[str, Any] = {"pt2": {"torch": torch.__version__.split("+")[0], "dynamic_dims": dynamic}}
    if "onnx" in diffs:
        formats["onnx"] = {
            "opset": int(opset),
            "onnxruntime": ort.__version__,
            "provider": "CPUExecutionProvider",
            "dynamic_dims": dynamic,
        }
    return {
        "variant": config["variant"],
        "files": {name: FORMAT_FILES[name] for name in formats},
        "formats": formats,
        "parity": {
            "max_abs_diff_m": {k: significant(v) for k, v in sorted(diffs.items())},
            "frames": checked["frames"],
            "batch_sizes": checked["batch_sizes"],
            "export_example_batch": EXAMPLE_BATCH,
        },
        "tolerance_m": float(tolerance),
        "passed": all(d <= tolerance for d in diffs.values()),
        "model_card": model_card(config, normalisation_of(wrapped.model), metrics),
    }


def _check_images(images: np.ndarray, config: dict[str, Any], model_dir: Path) -> None:
    h, w = (int(v) for v in config["input_size"])
    if images.ndim != 4 or images.shape[1:] != (h, w, 3) or images.dtype != np.uint8:
        raise DepthpipeError(
            f"export: parity images must be (N,{h},{w},3) uint8 at the model input size of "
            f"{model_dir} (got {images.shape} {images.dtype})"
        )
    if len(images) == 0:
        raise DepthpipeError("export: no parity images (params.yaml export.parity_frames must be >= 1)")


class CheckedExport(NamedTuple):
    """An export written and checked in its staging folder, not yet in place."""

    config: dict[str, Any]  # the trained model's config.json
    report: dict[str, Any]  # the content of export.json
    folder: Path  # holds model.pt2, export.json (and model.onnx) under their final names


@contextlib.contextmanager
def staged_export(
    model_dir: Path,
    out_dir: Path,
    parity_images: np.ndarray,
    tolerance: float,
    opset: int,
    metrics_path: Path | None = None,
    parity_batch: int = PARITY_BATCH,
    onnx: bool = True,
) -> Iterator[CheckedExport]:
    """Export ``model_dir`` for ``out_dir`` (see the module docstring) into a staging folder and yield it,
    checked; the files move into ``out_dir`` when the ``with`` block ends without an error (an error there
    leaves the previous export untouched).

    ``metrics_path``: the evaluation's metrics file (the card's test metrics); ``onnx``: also write and check
    ``model.onnx``. Raises :class:`DepthpipeError` (after writing ``export.json`` with ``passed: false``)
    when a format differs from the eager model beyond ``tolerance`` m.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    wrapped, config = wrap_trained(model_dir)
    images = np.asarray(parity_images)
    _check_images(images, config, model_dir)
    if parity_batch == EXAMPLE_BATCH:
        raise DepthpipeError(f"export: parity_batch must differ from the export example batch ({EXAMPLE_BATCH})")
    metrics = finite_json(read_json(metrics_path, "the evaluate stage's output")) if metrics_path else None
    out_dir.mkdir(parents=True, exist_ok=True)
    with StagedFiles() as staged:
        pt2, onnx_path = staged.path(out_dir / PT2_FILE), staged.path(out_dir / ONNX_FILE) if onnx else None
        _export_files(wrapped, images, pt2, onnx_path, opset, model_dir)
        # batches of parity_batch (and a remainder), or of 1 with fewer frames: never only the example's 2
        checked = parity(wrapped, pt2, onnx_path, images, parity_batch if len(images) >= parity_batch else 1)
        report = _report(config, wrapped, checked, tolerance, opset, metrics)
        if not report["passed"]:
            write_json_atomic(out_dir / EXPORT_JSON, report)  # the verdict stays; the model files do not
            diffs = checked["max_abs_diff_m"]
            worst = max(diffs, key=diffs.get)
            raise DepthpipeError(
                f"{out_dir / EXPORT_JSON}: parity failed: {worst} differs from the eager model by "
                f"{diffs[worst]:.3g} m > tolerance {tolerance:g} m"
            )
        write_json_atomic(staged.path(out_dir / EXPORT_JSON), report)
        yield CheckedExport(config, report, pt2.parent)
        staged.commit()
    if not onnx:
        (out_dir / ONNX_FILE).unlink(missing_ok=True)  # a former export's file would not match this one


def read_export(export_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``export.json`` of an export directory."""
    return read_json(Path(export_dir) / EXPORT_JSON, "an export directory")
