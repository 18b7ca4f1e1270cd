"""Checked params sections built in a test, like ``params.yaml``'s, with overrides: ``data``, ``validate``,
``prepare`` (for the data tests, which call the library without a whole params file)."""

from __future__ import annotations

from typing import Any

from depthpipe.config import DataConfig, PrepareConfig, ValidateConfig
from helpers.paths import REPO

MAPPING = REPO / "data" / "classMapping40.mat"
MAX_DEPTH = 10.0  # prepare.max_depth, which validate and evaluate take beside their sections


def prep(layout: str, size: tuple[int, int] = (480, 640), **over: Any) -> PrepareConfig:
    """A ``prepare`` section in ``layout`` at input ``size`` (one worker, chunks of 3 frames)."""
    return PrepareConfig(
        **{
            "input_size": size,
            "output_scale": 0.5,
            "min_depth": 0.1,
            "max_depth": 10.0,
            "chunk_frames": 3,
            "workers": 1,
            "layout": layout,
            "rgb_codec": "jpeg",
            "jpeg_quality": 95,
            "target_resize": "area",
            **over,
        }
    )


def check(**over: Any) -> ValidateConfig:
    """A ``validate`` section for 480x640 frames (valid fraction at least 0.2; pass ``MAX_DEPTH`` beside it)."""
    return ValidateConfig(
        **{
            "min_valid_fraction": 0.2,
            "max_label": 894,
            "expected_frames": None,
            "expected_test_frames": None,
            "frame_size": (480, 640),
            "test_sets_max_diff_mm": 0.5,
            **over,
        }
    )


def data_cfg(source: str, **over: Any) -> DataConfig:
    """A ``data`` section for ``source``; ``over`` keys may be dotted (``"nyu50k.url"``, ``"nyu_test.use"``)."""
    dl = {
        "url": "http://127.0.0.1:9/x",
        "size": None,
        "sha256": None,
        "cache_dir": "cache",
        "retries": 1,
        "backoff_s": 0.01,
        "timeout_s": 10,
    }
    raw: dict[str, Any] = {
        "source": source,
        "file": "data/external",
        "splits_file": "data/splits.mat",
        "class_mapping": str(MAPPING),
        "nyu": dl,
        "nyu50k": dict(dl),
        "nyu_h5_tree": dict(dl),
        "nyu_test": {**dl, "use": False, "file": "data/external"},
        "synthetic": {"frames": 6, "seed": 0, "test_fraction": 0.2},
    }
    for key, value in over.items():
        section, _, leaf = key.rpartition(".")
        (raw[section] if section else raw)[leaf] = value
    return DataConfig.model_validate(raw)
