"""``depthpipe predict``: depth maps for arbitrary PNG/JPEG images with an exported or registered model.

For every image: read it as RGB (any size), resize bilinearly (float, antialiased when shrinking) to the
model input size, run the exported graph (ONNX Runtime by default, or the ``.pt2`` program), resize the
depth in metres bilinearly back to the original size and write, atomically, into ``out_dir``:

- ``<stem>_depth.png``    16-bit greyscale PNG, depth in millimetres (``round(m * 1000)``, clipped to 65535);
- ``<stem>_preview.png``  a picture of the depth with a colour bar in metres, in the project's depth colours
  (:mod:`depthpipe.viz.style`: near = light). Colours span the 2nd-98th percentile of the image's own predicted
  depth (``preview_range="robust"``, the default) or the fixed range ``[min_depth, max_depth]`` of
  ``export.json`` (``"fixed"``), comparable across images.

An image that cannot be read is reported on stderr as ``predict: <file>: cannot read image (<reason>)``
and skipped; the others are still processed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from depthpipe.errors import DepthpipeError
from depthpipe.export.exporter import FORMAT_FILES, read_export
from depthpipe.export.runtimes import format_runner
from depthpipe.files import atomic_path
from depthpipe.tracking.registry import load_registered_model
from depthpipe.viz.maps import save_preview

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """(H,W,3) uint8 RGB of a PNG/JPEG (palette, grey, 16-bit and alpha images converted)."""
    with Image.open(path) as opened:
        opened.load()
        img: Image.Image = opened
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            hi = 65535.0 if arr.max() > 255 else 255.0
            img = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def to_model_input(rgb: np.ndarray, size: Sequence[int]) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,h,w) float32 in [0,1] at ``size`` (bilinear, antialiased when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255.0)
    h, w = int(size[0]), int(size[1])
    if tuple(x.shape[-2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0).contiguous()


def to_original_size(depth: np.ndarray | torch.Tensor, size: Sequence[int]) -> np.ndarray:
    """(1,1,h,w) or (h,w) depth -> (H,W) float32 at ``size`` (bilinear, ``align_corners=False``)."""
    d = torch.as_tensor(np.asarray(depth, dtype=np.float32)).reshape(1, 1, *np.asarray(depth).shape[-2:])
    h, w = int(size[0]), int(size[1])
    if tuple(d.shape[-2:]) != (h, w):
        d = F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)
    return d[0, 0].numpy()


def depth_to_png16(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (rounded, clipped to [0, 65535]; NaN -> 0)."""
    mm = np.nan_to_num(np.asarray(depth_m, dtype=np.float64) * 1000.0, nan=0.0, posinf=65535.0, neginf=0.0)
    return np.clip(np.rint(mm), 0, 65535).astype(np.uint16)


def _save_png(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def make_runner(model_dir: Path, backend: str) -> Callable[[torch.Tensor], np.ndarray]:
    """``(N,3,h,w) float32 [0,1] -> (N,1,h,w) metres`` with the ONNX or pt2 file of an export directory."""
    if backend not in FORMAT_FILES:
        raise DepthpipeError(f"predict: backend must be onnx or pt2 (got {backend!r})")
    path = model_dir / FORMAT_FILES[backend]
    if not path.exists():
        hint = "; with export.onnx: false, use --backend pt2" if backend == "onnx" else ""
        raise DepthpipeError(f"{path}: not found (run the export stage first{hint})")
    return format_runner(path, backend)


def predict_array(
    rgb: np.ndarray, runner: Callable[[torch.Tensor], np.ndarray], input_size: Sequence[int]
) -> np.ndarray:
    """(H,W,3) uint8 -> (H,W) float32 depth in metres at the image's own size."""
    out = runner(to_model_input(rgb, input_size))
    return to_original_size(out, rgb.shape[:2])


def make_predictor(
    model: str | os.PathLike[str], backend: str
) -> tuple[Callable[[np.ndarray], np.ndarray], float, float]:
    """``(H,W,3) uint8 -> (H,W) metres`` for an export directory (ONNX or pt2) or a registry URI
    (``models:/depthpipe-densedepth@champion``, served as ``mlflow models serve`` would), and its depth range."""
    if str(model).startswith("models:/"):
        served = load_registered_model(str(model))
        return served.predict_image, *served.depth_range
    model_dir = Path(model)
    input_size, lo, hi = _export_info(model_dir)
    runner = make_runner(model_dir, backend)
    return (lambda rgb: predict_array(rgb, runner, input_size)), lo, hi


def _export_info(model_dir: Path) -> tuple[tuple[int, int], float, float]:
    info = read_export(model_dir)
    try:
        card = info["model_card"]
        h, w = card["input"]["size"]
        lo, hi = card["depth_range_m"]
    except (KeyError, TypeError, ValueError):
        raise DepthpipeError(
            f"{model_dir / 'export.json'}: missing model_card.input.size or model_card.depth_range_m"
        ) from None
    if not info.get("passed", False):
        raise DepthpipeError(f"{model_dir / 'export.json'}: the export failed its parity check (passed: false)")
    return (int(h), int(w)), float(lo), float(hi)


def predict_images(
    images: list[Path],
    model_dir: Path | str,
    out_dir: Path,
    backend: Literal["onnx", "pt2"] = "onnx",
    preview_range: Literal["robust", "fixed"] = "robust",
    stderr: Any = None,
) -> list[tuple[Path, str | None]]:
    """Depth PNG + preview (colours on ``preview_range``) for each image; returns ``(image, error or None)``
    per image, in order.

    Errors about the model (missing files, bad ``export.json``, unknown backend) raise :class:`DepthpipeError`
    before any image is read; an unreadable image is reported on ``stderr`` and skipped.
    """
    if preview_range not in ("robust", "fixed"):
        raise DepthpipeError(f"predict: preview_range must be robust or fixed (got {preview_range!r})")
    out_dir = Path(out_dir)
    err = stderr if stderr is not None else sys.stderr
    predict, lo, hi = make_predictor(model_dir, backend)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[Path, str | None]] = []
    for image in images:
        image = Path(image)
        try:
            rgb = read_rgb(image)
        except Exception as exc:  # noqa: BLE001 - missing, truncated, not an image, ...
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            msg = f"cannot read image ({reason})"
            print(f"predict: {image}: {msg}", file=err)
            results.append((image, msg))
            continue
        depth = predict(rgb)
        _save_png(out_dir / f"{image.stem}_depth.png", depth_to_png16(depth))
        save_preview(
            depth,
            out_dir / f"{image.stem}_preview.png",
            image.name,
            fixed=(lo, hi) if preview_range == "fixed" else None,
        )
        results.append((image, None))
    return results


def expand_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; directories expanded to their PNG/JPEG files (sorted). For the CLI.

    A directory without any PNG/JPEG file is an error saying so (nothing would be predicted).
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise DepthpipeError(
                    f"{p}: a directory without PNG or JPEG images (give image files or a directory that holds some)"
                )
            out.extend(found)
        else:
            out.append(p)
    return out
