"""``depthpipe predict``: depth maps for arbitrary PNG/JPEG images with an exported or registered model.

For every image: decode it in bounded memory at a reduced scale, no smaller than the model input
(:func:`depthpipe.serving.photo.open_photo`, shared with the served model: a baseline JPEG of up to 150
megapixels is decoded at 1/2-1/8 scale; a PNG or progressive JPEG, decoded whole, may have 50), resize it
bilinearly (antialiased) to the model input size, run the exported graph (ONNX Runtime by default, or the
``.pt2`` program) and resize the depth in metres bilinearly to the output size: the photo's own size up to
``MAX_DEPTH_PIXELS`` (16.8 megapixels, 4096x4096), else the photo's size divided by the smallest integer that
brings it within (a 12000x12000 photo: 4000x4000, said on stderr). Written, atomically, into ``out_dir``:

- ``<name>_depth.png``    16-bit greyscale PNG, depth in millimetres (``round(m * 1000)``, clipped to 65535);
- ``<name>_preview.png``  a picture of the depth with a colour bar in metres, in the project's depth colours
  (:mod:`depthpipe.viz.style`: near = light). Colours span the 2nd-98th percentile of the image's own predicted
  depth (``preview_range="robust"``, the default) or the fixed range ``[min_depth, max_depth]`` of
  ``export.json`` (``"fixed"``), comparable across images.

``<name>`` is the image's stem, or its whole file name where two inputs share a stem (``x.jpg`` and ``x.png``
write ``x.jpg_depth.png`` and ``x.png_depth.png``); inputs that would still write the same file (``a/x.jpg``
and ``b/x.jpg``) are refused, naming both, before anything is read. An ``out_dir`` that is a file, or lies
under one, is a one-line error. An image that cannot be read or is too large is reported on stderr as
``predict: <file>: <reason>`` and skipped; the others are still processed.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from PIL import Image

from depthpipe.errors import DepthpipeError
from depthpipe.export.exporter import FORMAT_FILES, read_export
from depthpipe.export.runtimes import format_runner
from depthpipe.files import atomic_path
from depthpipe.serving.photo import (
    ImageRejected,
    ImageTooLarge,
    open_photo,
    output_size,
    to_model_input,
    to_original_size,
)
from depthpipe.tracking.registry import load_registered_model
from depthpipe.viz.maps import save_preview

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_DEPTH_PIXELS = 1 << 24  # a written depth map: 16.8 megapixels (4096x4096), 32 MB of uint16
PREVIEW_PIXELS = 1 << 21  # the depth a preview draws (its figure is about 900 px wide)


class Predictor(NamedTuple):
    """A model as predict uses it: ``run`` maps (h,w,3) uint8 RGB to depth in metres ((1,1,h',w') or (h',w'),
    any size: it is resized to the output), with the input size and depth range of its card."""

    run: Callable[[np.ndarray], np.ndarray]
    input_size: tuple[int, int]
    depth_range: tuple[float, float]


def read_photo(path: str | os.PathLike[str], min_size: Sequence[int]) -> tuple[np.ndarray, tuple[int, int]]:
    """(h,w,3) uint8 RGB of a PNG/JPEG decoded at a reduced scale no smaller than ``min_size`` where the
    photo allows (palette, grey, 16-bit and alpha images converted), and the photo's own (H, W).

    Raises :class:`~depthpipe.serving.photo.ImageRejected` (not an image, too many pixels) or
    :class:`OSError` (a file that cannot be opened)."""
    with open(path, "rb") as fh:
        return open_photo(fh, min_size)


def depth_to_png16(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (rounded, clipped to [0, 65535]; NaN -> 0), with one float32 temporary."""
    mm = np.multiply(np.asarray(depth_m, dtype=np.float32), np.float32(1000.0), dtype=np.float32)
    np.nan_to_num(mm, copy=False, nan=0.0, posinf=65535.0, neginf=0.0)
    np.rint(mm, out=mm)
    np.clip(mm, 0, 65535, out=mm)
    return mm.astype(np.uint16)


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


def make_predictor(model: str | os.PathLike[str], backend: str) -> Predictor:
    """The :class:`Predictor` of an export directory (ONNX or pt2) or a registry URI
    (``models:/depthpipe-densedepth@champion``, served as ``mlflow models serve`` would)."""
    if str(model).startswith("models:/"):
        served = load_registered_model(str(model))
        h, w = served.model.unwrap_python_model().input_size
        return Predictor(served.predict_image, (int(h), int(w)), served.depth_range)
    model_dir = Path(model)
    input_size, lo, hi = _export_info(model_dir)
    runner = make_runner(model_dir, backend)
    return Predictor(lambda rgb: runner(to_model_input(rgb, input_size)), input_size, (lo, hi))


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


def output_names(images: Sequence[Path]) -> list[str]:
    """The ``<name>`` of each image's outputs: its stem, or its file name where inputs share a stem.

    Inputs that would still write the same files are a :class:`DepthpipeError` naming both."""
    stems = Counter(p.stem for p in images)
    names = [p.name if stems[p.stem] > 1 else p.stem for p in images]
    first: dict[str, Path] = {}
    for image, name in zip(images, names, strict=True):
        if name in first:
            raise DepthpipeError(
                f"{first[name]} and {image} would both write {name}_depth.png "
                "(rename one, or predict them into different --out folders)"
            )
        first[name] = image
    return names


def check_out_dir(out_dir: Path) -> None:
    """A :class:`DepthpipeError` when ``out_dir`` is a file or lies under one (it may not exist yet)."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "is a file" if folder == out_dir else f"lies under {folder}, a file"
                raise DepthpipeError(f"--out {out_dir} {where}; give a directory")
            return


def _write(
    image: Path,
    name: str,
    out_dir: Path,
    depth_work: np.ndarray,
    size: tuple[int, int],
    fixed: tuple[float, float] | None,
    err: Any,
) -> None:
    """The depth PNG and preview of one image from its depth at the working size."""
    out = output_size(size, MAX_DEPTH_PIXELS)
    if out != size:
        print(
            f"predict: {image}: {size[1]}x{size[0]} photo, depth written at {out[1]}x{out[0]} "
            f"(maps above {MAX_DEPTH_PIXELS / 1e6:.1f} megapixels are scaled down)",
            file=err,
        )
    depth = to_original_size(depth_work, out)
    _save_png(out_dir / f"{name}_depth.png", depth_to_png16(depth))
    preview_size = output_size(out, PREVIEW_PIXELS)
    if preview_size != out:
        del depth  # the preview draws the depth at its own, smaller size
        depth = to_original_size(depth_work, preview_size)
    save_preview(depth, out_dir / f"{name}_preview.png", image.name, fixed=fixed)


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

    Errors about the outputs (``out_dir`` not a directory, two inputs writing the same files) and about the
    model (missing files, bad ``export.json``, unknown backend) raise :class:`DepthpipeError` before any image
    is read; an unreadable or too large image is reported on ``stderr`` and skipped.
    """
    if preview_range not in ("robust", "fixed"):
        raise DepthpipeError(f"predict: preview_range must be robust or fixed (got {preview_range!r})")
    out_dir = Path(out_dir)
    images = [Path(p) for p in images]
    err = stderr if stderr is not None else sys.stderr
    check_out_dir(out_dir)
    names = output_names(images)
    predictor = make_predictor(model_dir, backend)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthpipeError(f"--out {out_dir}: cannot create it ({exc.strerror or exc})") from None
    fixed = predictor.depth_range if preview_range == "fixed" else None
    results: list[tuple[Path, str | None]] = []
    for image, name in zip(images, names, strict=True):
        try:
            rgb, size = read_photo(image, predictor.input_size)
        except (ImageRejected, OSError) as exc:  # too large; not an image, truncated; missing, unreadable
            if isinstance(exc, ImageTooLarge):
                msg = str(exc)
            else:
                msg = f"cannot read image ({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc})"
            print(f"predict: {image}: {msg}", file=err)
            results.append((image, msg))
            continue
        _write(image, name, out_dir, predictor.run(rgb), size, fixed, err)
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
