"""The MLflow model that serves depth: a photo of any size in, depth in metres out, in bounded memory.

:func:`~depthpipe.tracking.registry.log_servable_model` logs this file as an MLflow "model from code", beside
the exported program (``model.pt2``) and its card (``export.json``), with :mod:`depthpipe.serving.photo` and
:mod:`depthpipe.serving.program` as its code; it needs only torch, numpy, Pillow and mlflow, not an installed
depthpipe, so ``mlflow models serve -m models:/depthpipe-densedepth@champion`` runs it anywhere. Input, one row
per image:

- a column ``image`` holding the image file (PNG or JPEG) base64-encoded: what an HTTP client posts,
  ``{"dataframe_split": {"columns": ["image"], "data": [["<base64>"]]}}``;
- or, from Python, an RGB array (H,W,3) of uint8 (0..255) or float (0..1).

Output: per image, its depth in metres (H,W) at the image's own size, or, for an image above
``MAX_DEPTH_PIXELS`` (4 megapixels), at its size divided by the smallest integer that brings it within.

Each photo is decoded in bounded memory and fitted to the model input (:mod:`depthpipe.serving.photo`, which
the logged model carries as its code), run through the program (normalisation is inside it), and its depth is
resized (bilinear) to the output size. One request returns at
most ``MAX_REQUEST_DEPTH_PIXELS`` (16 megapixels) of depth. An image that is refused (too large, not an
image) is an HTTP 400 whose message names the row and the reason; any other failure a 500 naming the
row and the type of error, with no traceback or server path in the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.pyfunc import PythonModel

from depthpipe.serving.photo import (
    ImageRejected,
    decode_image,
    megapixels,
    output_size,
    to_model_input,
    to_original_size,
)
from depthpipe.serving.program import load_program

IMAGE_COLUMN = "image"
MAX_DEPTH_PIXELS = 1 << 22  # one served depth map (JSON floats): 4 megapixels
MAX_REQUEST_DEPTH_PIXELS = 1 << 24  # all depth maps of one request: 16 megapixels
_log = logging.getLogger(__name__)


class DepthModel(PythonModel):
    """Runs the exported program on images of any size (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        try:
            self.program = load_program(context.artifacts["program"])
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt archive
            raise MlflowException(
                f"the model's program cannot be loaded ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
            ) from None
        with open(context.artifacts["card"]) as fh:
            card = json.load(fh)["model_card"]
        self.input_size = tuple(card["input"]["size"])
        self.depth_range = tuple(card["depth_range_m"])

    @torch.no_grad()
    def predict_image(self, rgb: np.ndarray, size: Sequence[int] | None = None) -> np.ndarray:
        """(h,w,3) float RGB in [0, 1] -> float32 depth in metres at ``size`` (default: the image's (h, w))."""
        depth = self.program(to_model_input(rgb, self.input_size))
        return to_original_size(depth, tuple(size) if size is not None else rgb.shape[:2])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[np.ndarray]:
        """Depth in metres per image of ``model_input`` (a DataFrame with an ``image`` column, or from Python an
        array or a list of arrays); the logged signature, not this hint, is the schema."""
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
