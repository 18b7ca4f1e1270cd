"""The MLflow model that serves depth: a photo of any size in, depth in metres at that photo's size out.

The export stage logs this file as an MLflow "model from code", beside the exported program (``model.pt2``)
and its card (``export.json``); it needs only torch, numpy, Pillow and mlflow, not depthpipe, so
``mlflow models serve -m models:/depthpipe-densedepth@champion`` runs it anywhere. Input, one row per image:

- a column ``image`` holding the image file (PNG or JPEG, any size) base64-encoded: what an HTTP client posts,
  ``{"dataframe_split": {"columns": ["image"], "data": [["<base64>"]]}}``;
- or, from Python, an RGB array (H,W,3) of uint8 (0..255) or float (0..1).

Output: per image, its depth in metres, (H,W) at the image's own size. Inside: the image is resized
(bilinear, antialiased) to the model's input size, run through the program (normalisation is inside it) and
the depth resized back.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from typing import Any

import mlflow
import numpy as np
import torch
import torch.nn.functional as F
from mlflow.pyfunc import PythonModel
from PIL import Image

IMAGE_COLUMN = "image"
# The schema is the explicit signature the export stage logs, so MLflow's advice to add type hints is moot.
warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")


def decode_image(value: Any) -> np.ndarray:
    """An image as (H,W,3) float32 RGB in [0, 1]: from base64 PNG/JPEG text or bytes, or from an array."""
    if isinstance(value, (str, bytes)):
        with Image.open(io.BytesIO(base64.b64decode(value))) as img:
            value = np.asarray(img.convert("RGB"))
    rgb = np.asarray(value)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"an image must be (H, W, 3) RGB, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    rgb = rgb.astype(np.float32)
    return rgb / 255.0 if rgb.max() > 1.5 else rgb  # 0..255 values sent as numbers


class DepthModel(PythonModel):
    """Runs the exported program on images of any size (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        self.program = torch.export.load(context.artifacts["program"]).module()
        with open(context.artifacts["card"]) as fh:
            card = json.load(fh)["model_card"]
        self.input_size = tuple(card["input"]["size"])
        self.depth_range = tuple(card["depth_range_m"])

    @torch.no_grad()
    def predict_image(self, rgb: np.ndarray) -> np.ndarray:
        """(H,W,3) float RGB in [0, 1] -> (H,W) float32 depth in metres."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        depth = self.program(x.clamp(0.0, 1.0).contiguous())
        return F.interpolate(depth, size=rgb.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads type hints as a schema
        if hasattr(model_input, "columns") or isinstance(
            model_input, dict
        ):  # a pandas DataFrame (what the scoring server passes)
            values = list(model_input[IMAGE_COLUMN])
        else:
            array = np.asarray(model_input)
            values = [array] if array.ndim == 3 else list(array)
        return [self.predict_image(decode_image(v)) for v in values]


mlflow.models.set_model(DepthModel())
