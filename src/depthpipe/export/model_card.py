"""The model card of an export: what a consumer of the exported files needs to know, in ``export.json``.

It describes the files (input, output, range, normalisation, test metrics, the data the weights came from);
who made them, when and from which commit is the registry version's business (its tags and description).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from depthpipe.export.runtimes import INPUT_NAME, OUTPUT_NAME
from depthpipe.models.layers import IMAGENET_MEAN, IMAGENET_STD

INPUT_SPEC = "float32 RGB in [0,1], NCHW"
OUTPUT_SPEC = "depth in metres (N,1,H,W)"


def normalisation_of(model: nn.Module) -> dict[str, list[float]]:
    """Mean/std of the model's first :class:`~depthpipe.models.layers.Normalize` (ImageNet when none is found)."""
    for module in model.modules():
        mean, std = getattr(module, "mean", None), getattr(module, "std", None)
        if isinstance(mean, Tensor) and isinstance(std, Tensor) and mean.numel() == 3 and std.numel() == 3:
            return {
                "mean": [round(float(v), 6) for v in mean.flatten()],
                "std": [round(float(v), 6) for v in std.flatten()],
            }
    return {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def significant(x: float) -> float | str:
    """A float rounded to 4 significant digits (stable across reruns); inf/nan as strings (valid JSON)."""
    if not math.isfinite(x):
        return str(x)
    return float(f"{x:.4g}")


def finite_json(obj: Any) -> Any:
    """``obj`` with NaN/inf floats replaced by ``None`` (export.json is strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def model_card(
    config: dict[str, Any], normalisation: dict[str, list[float]], metrics: dict[str, Any] | None
) -> dict[str, Any]:
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
        "training": {
            "data_sha256": config.get("data_sha256"),
            "precision": config.get("precision"),
        },
        "test_metrics": metrics,
        "limitations": (
            "Trained for indoor scenes like NYU Depth v2 (Kinect v1, 480x640); depth is clamped to the range "
            "above. Images of another size must be resized to the input size and the depth resized back."
        ),
    }
