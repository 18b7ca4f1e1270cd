"""The MLflow model that serves depth: a photo of any size in, depth in metres out, in bounded memory.

The export stage logs this file as an MLflow "model from code", beside the exported program (``model.pt2``)
and its card (``export.json``); it needs only torch, numpy, Pillow and mlflow, not depthpipe, so
``mlflow models serve -m models:/depthpipe-densedepth@champion`` runs it anywhere. Input, one row per image:

- a column ``image`` holding the image file (PNG or JPEG) base64-encoded: what an HTTP client posts,
  ``{"dataframe_split": {"columns": ["image"], "data": [["<base64>"]]}}``;
- or, from Python, an RGB array (H,W,3) of uint8 (0..255) or float (0..1).

Output: per image, its depth in metres (H,W) at the image's own size, or, for an image above
``MAX_DEPTH_PIXELS`` (4 megapixels), at its size divided by the smallest integer that brings it within.

Memory stays bounded whatever the photo (:func:`open_photo`): a baseline JPEG is decoded at 1/2, 1/4 or 1/8
scale (``PIL.Image.draft``), no smaller than the model input, up to ``MAX_JPEG_PIXELS`` (150 megapixels);
every other image (PNG, progressive JPEG, ...) must be decoded whole, so it may have ``MAX_DECODED_PIXELS``
(50 megapixels). The decoded image is box-reduced by an integer factor while it stays at least the model
input size, then resized (bilinear, antialiased) to the input size and run through the program
(normalisation is inside it); the depth is resized (bilinear) to the output size. One request returns at
most ``MAX_REQUEST_DEPTH_PIXELS`` (16 megapixels) of depth. An image that is refused (too large, not an
image) is an HTTP 400 whose message names the row and the reason; any other failure a 500 naming the
row and the type of error, with no traceback or server path in the answer.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from typing import IO, Any

import mlflow
import numpy as np
import torch
import torch.nn.functional as F
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.pyfunc import PythonModel
from PIL import Image

IMAGE_COLUMN = "image"
MAX_JPEG_PIXELS = 150_000_000  # a baseline JPEG, decoded at reduced scale (libjpeg holds a few rows)
MAX_DECODED_PIXELS = 50_000_000  # anything decoded whole (PNG, progressive JPEG, arrays): 3-4 bytes a pixel
MAX_DEPTH_PIXELS = 1 << 22  # one served depth map (JSON floats): 4 megapixels
MAX_REQUEST_DEPTH_PIXELS = 1 << 24  # all depth maps of one request: 16 megapixels
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})  # modes Image.reduce takes
_log = logging.getLogger(__name__)
# The schema is the explicit signature the export stage logs, so MLflow's advice to add type hints is moot.
warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")


class ImageRejected(ValueError):
    """An image this model refuses (not an image, or too large); the message is the reason, in one line."""


class ImageTooLarge(ImageRejected):
    """An image with more pixels than its decoder may hold (see the module docstring)."""


def megapixels(n: int) -> str:
    """``n`` pixels in megapixels, for messages (``144.0 megapixels``)."""
    return f"{n / 1e6:.1f} megapixels"


def output_size(size: Sequence[int], max_pixels: int) -> tuple[int, int]:
    """``(H, W)`` itself when it has at most ``max_pixels``, else ``ceil(H/k), ceil(W/k)`` for the smallest
    integer ``k`` that brings it within."""
    h, w = int(size[0]), int(size[1])
    k = max(1, math.isqrt(max(0, h * w - 1) // max_pixels))
    while math.ceil(h / k) * math.ceil(w / k) > max_pixels:
        k += 1
    return math.ceil(h / k), math.ceil(w / k)


def _to_rgb8(img: Image.Image) -> Image.Image:
    """8-bit RGB of any mode (16-bit and 32-bit grey scaled to 0..255 by the image's own range: 255 or 65535)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        hi = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr.astype(np.float32) * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8))
    return img if img.mode == "RGB" else img.convert("RGB")


def open_photo(
    source: str | os.PathLike[str] | IO[bytes], min_size: Sequence[int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """A photo's RGB, decoded at a reduced scale no smaller than ``min_size`` (H, W) where the photo allows,
    as (h,w,3) uint8, and the photo's own ``(H, W)``. Raises :class:`ImageRejected` for a file that is not an
    image or holds more pixels than its decoder may (see the module docstring)."""
    min_h, min_w = max(1, int(min_size[0])), max(1, int(min_size[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limits below are ours
        try:
            opened = Image.open(source)
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"more than {megapixels(MAX_JPEG_PIXELS)}, the largest photo read") from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for a file it cannot identify
            raise ImageRejected(f"not a PNG or JPEG image ({_reason(exc)})") from None
        with opened:
            w, h = opened.size
            drafted = opened.format == "JPEG" and not opened.info.get("progressive")
            limit = MAX_JPEG_PIXELS if drafted else MAX_DECODED_PIXELS
            if w * h > limit:
                kind = "a baseline JPEG" if drafted else f"a {opened.format or 'image'} decoded whole"
                raise ImageTooLarge(f"{w}x{h} is {megapixels(w * h)}, above the {megapixels(limit)} {kind} may have")
            try:
                if drafted:
                    opened.draft("RGB", (min_w, min_h))  # 1/2, 1/4 or 1/8 scale, at least the model input
                opened.load()
                img: Image.Image = opened
                k = min(img.height // min_h, img.width // min_w)  # box-reduce while >= the model input
                if k >= 2:
                    img = img.reduce(k) if img.mode in _REDUCIBLE else _to_rgb8(img).reduce(k)
                img = _to_rgb8(img)
                rgb = np.asarray(img, dtype=np.uint8).copy()
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - PIL raises many types for a corrupt file
                raise ImageRejected(f"truncated or corrupt {opened.format or 'image'} ({_reason(exc)})") from None
    return rgb, (h, w)


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def decode_image(value: Any, min_size: Sequence[int]) -> tuple[np.ndarray, tuple[int, int]]:
    """An image as ((h,w,3) float32 RGB in [0, 1] at a reduced scale, its own (H, W)): from base64 PNG/JPEG
    text or bytes, or from an array (H,W,3)."""
    if isinstance(value, (str, bytes)):
        try:
            data = base64.b64decode(value)
        except (binascii.Error, ValueError):
            raise ImageRejected("not base64 text (send the PNG or JPEG file base64-encoded)") from None
        rgb, size = open_photo(io.BytesIO(data), min_size)
        return rgb.astype(np.float32) / 255.0, size
    array = np.asarray(value)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageRejected(f"an image must be (H, W, 3) RGB, got shape {array.shape}")
    size = (int(array.shape[0]), int(array.shape[1]))
    if size[0] * size[1] > MAX_DECODED_PIXELS:
        raise ImageRejected(f"an array of {megapixels(size[0] * size[1])}, above {megapixels(MAX_DECODED_PIXELS)}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0, size
    rgb = array.astype(np.float32)
    return (rgb / 255.0 if rgb.max() > 1.5 else rgb), size  # 0..255 values sent as numbers


class DepthModel(PythonModel):
    """Runs the exported program on images of any size (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        self.program = torch.export.load(context.artifacts["program"]).module()
        with open(context.artifacts["card"]) as fh:
            card = json.load(fh)["model_card"]
        self.input_size = tuple(card["input"]["size"])
        self.depth_range = tuple(card["depth_range_m"])

    @torch.no_grad()
    def predict_image(self, rgb: np.ndarray, size: Sequence[int] | None = None) -> np.ndarray:
        """(h,w,3) float RGB in [0, 1] -> float32 depth in metres at ``size`` (default: the image's (h, w))."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        depth = self.program(x.clamp(0.0, 1.0).contiguous())
        out = tuple(size) if size is not None else rgb.shape[:2]
        return F.interpolate(depth, size=out, mode="bilinear", align_corners=False)[0, 0].numpy()

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads type hints as a schema
        if hasattr(model_input, "columns") or isinstance(
            model_input, dict
        ):  # a pandas DataFrame (what the scoring server passes)
            values = list(model_input[IMAGE_COLUMN])
        else:
            array = np.asarray(model_input)
            values = [array] if array.ndim == 3 else list(array)
        depths, returned = [], 0
        for row, value in enumerate(values):
            try:
                rgb, size = decode_image(value, self.input_size)
                out = output_size(size, MAX_DEPTH_PIXELS)
                returned += out[0] * out[1]
                if returned > MAX_REQUEST_DEPTH_PIXELS:
                    raise ImageRejected(
                        f"the request's depth maps reach {megapixels(returned)}, above the "
                        f"{megapixels(MAX_REQUEST_DEPTH_PIXELS)} one request may return: send fewer images"
                    )
                depths.append(self.predict_image(rgb, out))
            except ImageRejected as exc:  # the client's to fix: 400, the reason, nothing of the server
                raise MlflowException.invalid_parameter_value(f"image {row}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - the server's fault: 500, logged here, no paths in the answer
                _log.exception("image %d", row)
                raise MlflowException(
                    f"image {row}: the model failed ({type(exc).__name__}); the server's log has the details",
                    error_code=INTERNAL_ERROR,
                ) from None
        return depths


mlflow.models.set_model(DepthModel())
