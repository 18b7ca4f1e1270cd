"""Encoded image bytes <-> arrays: JPEG/PNG decoding (a PNG's bit depth read from its own header, never assumed)
and the encoders of the prepared format's encoded layout.

Decoding uses ``torchvision.io`` (libjpeg-turbo, libpng): in a DataLoader worker it runs on that worker's one
thread. On a GPU, ``torchvision.io.decode_jpeg(list_of_tensors, device="cuda")`` decodes a whole batch of
JPEGs with nvJPEG; the prepared files hold exactly those bytes, so a GPU-side decoder can read them as they
are. Every failure is a one-line :class:`~depthpipe.errors.DepthpipeError` naming ``where`` (the file and
member). Encoding is deterministic: the same array gives the same bytes. torch and torchvision are imported by
the functions that use them: a stage that never decodes (the download and validation of a ``.mat``) does not
pay their three seconds of import.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

from depthpipe.errors import DepthpipeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
PNG_GRAY, PNG_RGB = 0, 2  # IHDR colour types
MM = 0.001  # metres per unit of a 16-bit millimetre depth PNG
MAX_PNG16_M = 65535 * MM


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields that decide how a PNG is read."""

    height: int
    width: int
    bit_depth: int
    color_type: int


def _buffer(data: bytes | np.ndarray) -> bytes:
    return data.tobytes() if isinstance(data, np.ndarray) else bytes(data)


def png_header(data: bytes | np.ndarray, where: str) -> PngHeader:
    """The IHDR of a PNG (signature, then the 13-byte IHDR chunk), or an error naming ``where``."""
    head = _buffer(data[:33])
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DepthpipeError(f"{where}: not a PNG file (no PNG signature and IHDR header)")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", head[16:26])
    return PngHeader(height, width, bit_depth, color_type)


def _tensor(data: bytes | np.ndarray):
    import torch

    array = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    return torch.from_numpy(np.array(array, dtype=np.uint8, copy=True))


def _decode(data: bytes | np.ndarray, where: str, what: str, rgb: bool) -> np.ndarray:
    from torchvision.io import ImageReadMode, decode_image

    try:
        image = decode_image(_tensor(data), mode=ImageReadMode.RGB if rgb else ImageReadMode.UNCHANGED)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1].split(", ")[-1] if str(exc).strip() else "decoder error"
        raise DepthpipeError(f"{where}: truncated or corrupt {what} ({detail})") from None
    return image.permute(1, 2, 0).numpy() if rgb else image[0].numpy()


def decode_rgb(data: bytes | np.ndarray, where: str) -> np.ndarray:
    """A JPEG or 8-bit PNG colour image -> (H, W, 3) uint8 RGB."""
    head = _buffer(data[:8])
    if head.startswith(JPEG_SOI):
        what = "JPEG"
    elif head == PNG_SIGNATURE:
        header = png_header(data, where)
        if header.bit_depth != 8:
            raise DepthpipeError(f"{where}: {header.bit_depth}-bit colour PNG (expected 8 bits per channel)")
        what = "PNG"
    else:
        raise DepthpipeError(f"{where}: neither a JPEG nor a PNG image")
    return np.ascontiguousarray(_decode(data, where, what, rgb=True))


def decode_gray_png(data: bytes | np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """A grayscale PNG -> ((H, W) uint8 or uint16, its bit depth 8 or 16, as its header says)."""
    header = png_header(data, where)
    if header.color_type != PNG_GRAY or header.bit_depth not in (8, 16):
        raise DepthpipeError(
            f"{where}: PNG colour type {header.color_type}, {header.bit_depth}-bit "
            f"(expected an 8- or 16-bit grayscale PNG)"
        )
    array = _decode(data, where, "PNG", rgb=False)
    if array.shape != (header.height, header.width):
        raise DepthpipeError(f"{where}: decoded {array.shape}, but the PNG header says {header.height}x{header.width}")
    dtype = np.uint16 if header.bit_depth == 16 else np.uint8
    return np.ascontiguousarray(array.astype(dtype, copy=False)), header.bit_depth


def depth_metres(units: np.ndarray, scale: float) -> np.ndarray:
    """A depth PNG's integers -> float32 metres (``units * scale`` in float64, then rounded once); 0 stays 0."""
    return (units.astype(np.float64) * float(scale)).astype(np.float32)


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """Float metres -> uint16 millimetres (rounded); NaN, inf, <= 0 and beyond 65.535 m become 0 (no measurement)."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(depth) & (depth > 0) & (depth <= MAX_PNG16_M)
    return np.where(ok, np.rint(np.where(ok, depth, 0) / MM), 0).astype(np.uint16)


def encode_png(array: np.ndarray) -> bytes:
    """(H, W) uint8/uint16 grayscale or (H, W, 3) uint8 RGB -> PNG bytes (zlib level 6, no metadata)."""
    gray16 = array.dtype == np.uint16 and array.ndim == 2
    gray8_or_rgb = array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3))
    if not (gray16 or gray8_or_rgb):
        raise ValueError(f"encode_png: unsupported array {array.shape} {array.dtype}")
    image = Image.fromarray(np.ascontiguousarray(array))  # uint16 -> mode I;16, uint8 -> L or RGB
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """(H, W, 3) uint8 RGB -> baseline JPEG bytes at ``quality`` (libjpeg-turbo through torchvision)."""
    import torch
    from torchvision.io import encode_jpeg as tv_encode_jpeg

    chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).contiguous()
    return tv_encode_jpeg(chw, quality=int(quality)).numpy().tobytes()
