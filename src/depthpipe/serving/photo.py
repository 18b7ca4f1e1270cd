"""Photos read in bounded memory, and their pixels fitted to a model input and back: shared by ``depthpipe
predict`` and the served MLflow model (:mod:`depthpipe.tracking.served_model`).

Memory stays bounded whatever the photo (:func:`open_photo`): a baseline JPEG is decoded at 1/2, 1/4 or 1/8
scale (``PIL.Image.draft``), no smaller than the model input, up to ``MAX_JPEG_PIXELS`` (150 megapixels);
every other image (PNG, progressive JPEG, ...) must be decoded whole, so it may have ``MAX_DECODED_PIXELS``
(50 megapixels). A photo's EXIF orientation is applied, so its pixels and ``(H, W)`` are the photo as viewers
display it (a portrait phone photo stored sideways comes out portrait). The decoded image is box-reduced by an
integer factor while it stays at least the model input size; :func:`to_model_input` resizes it (bilinear,
antialiased) to the input size and :func:`to_original_size` resizes a depth map (bilinear) to an output size.
An image refused (too large, not an image) raises :class:`ImageRejected` with the reason in one line.

It imports nothing of depthpipe: the served model carries this file (its ``code_paths``) and needs only
torch, numpy and Pillow to run it.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import warnings
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MAX_JPEG_PIXELS = 150_000_000  # a baseline JPEG, decoded at reduced scale (libjpeg holds a few rows)
MAX_DECODED_PIXELS = 50_000_000  # anything decoded whole (PNG, progressive JPEG, arrays): 3-4 bytes a pixel
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})  # modes Image.reduce takes
_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that shows the stored pixels as viewers display them (2-8; 1: as stored)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIDEWAYS = frozenset({5, 6, 7, 8})  # orientations whose displayed width is the stored height


class ImageRejected(ValueError):
    """An image refused (not an image, or too large); the message is the reason, in one line."""


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
            turn = _orientation(opened)
            w, h = opened.size
            drafted = opened.format == "JPEG" and not opened.info.get("progressive")
            limit = MAX_JPEG_PIXELS if drafted else MAX_DECODED_PIXELS
            if w * h > limit:
                kind = "a baseline JPEG" if drafted else f"a {opened.format or 'image'} decoded whole"
                raise ImageTooLarge(f"{w}x{h} is {megapixels(w * h)}, above the {megapixels(limit)} {kind} may have")
            if turn in _SIDEWAYS:  # the stored pixels are the displayed photo turned a quarter
                w, h = h, w
            try:
                rgb = _decoded(opened, drafted, min_h, min_w, turn)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - PIL raises many types for a corrupt file
                raise ImageRejected(f"truncated or corrupt {opened.format or 'image'} ({_reason(exc)})") from None
    return rgb, (h, w)


def _orientation(opened: Image.Image) -> int:
    """The EXIF orientation of a photo (1: as stored; an unreadable EXIF block counts as 1, as viewers take it)."""
    try:
        value = opened.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block leaves the pixels readable
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _decoded(opened: Image.Image, drafted: bool, min_h: int, min_w: int, turn: int) -> np.ndarray:
    """The pixels of ``opened`` as (h,w,3) uint8 RGB as the photo is displayed (EXIF ``turn`` applied), at a
    reduced scale no smaller than ``(min_h, min_w)`` (given for the displayed photo)."""
    stored_h, stored_w = (min_w, min_h) if turn in _SIDEWAYS else (min_h, min_w)
    if drafted:
        opened.draft("RGB", (stored_w, stored_h))  # 1/2, 1/4 or 1/8 scale, at least the model input
    opened.load()
    img: Image.Image = opened
    k = min(img.height // stored_h, img.width // stored_w)  # box-reduce while >= the model input
    if k >= 2:
        img = img.reduce(k) if img.mode in _REDUCIBLE else _to_rgb8(img).reduce(k)
    img = _to_rgb8(img)
    if turn in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[turn])
    return np.asarray(img, dtype=np.uint8).copy()


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


def to_model_input(rgb: np.ndarray, size: Sequence[int]) -> torch.Tensor:
    """(H,W,3) RGB, uint8 or float in [0, 1] -> (1,3,h,w) float32 in [0,1] at ``size`` (bilinear, antialiased
    when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
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
