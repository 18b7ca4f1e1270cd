"""Both evaluation protocols on real NYU test frames read from a nyu_data.zip (encoded layout), against an
independent numpy computation that decodes the zip's PNGs with PIL and writes every metric out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from depthpipe.config import EvaluateConfig
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.prepared.hdf5 import PreparedSplit
from depthpipe.data.sources.nyu50k import Nyu50kZip
from depthpipe.evaluation.scoring import headline, score_test_split
from helpers.nyu50k import real_test_frames, synthetic_frames, write_nyu50k_zip
from helpers.paths import REPO
from helpers.reference_metrics import DENSEDEPTH, EIGEN, independent_metrics, zip_test_frames
from helpers.sections import prep

MAPPING = REPO / "data" / "classMapping40.mat"
SHIFT = 7  # columns: makes the stand-in model's output change under mirroring, so flip TTA matters


class ShiftedRed(torch.nn.Module):
    """A stand-in network: reciprocal target ``1 + 9 * red`` of the pixel SHIFT columns to the left."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"depth": 1.0 + 9.0 * torch.roll(x[:, :1], shifts=SHIFT, dims=-1)}


def independent_prediction(rgb: np.ndarray, mirrored: bool) -> np.ndarray:
    """What ShiftedRed predicts in metres, in float32 as torch computes it; with ``mirrored`` the prediction of
    the mirrored image, mirrored back, averaged with the plain one (flip TTA)."""

    def metres(red: np.ndarray) -> np.ndarray:
        target = np.float32(1.0) + np.float32(9.0) * np.roll(red, SHIFT, axis=1)
        return np.float32(10.0) / np.clip(target, np.float32(1.0), np.float32(100.0))

    red = rgb[..., 0].astype(np.float32) / np.float32(255.0)
    plain = metres(red)
    pred = np.float32(0.5) * (plain + metres(red[:, ::-1])[:, ::-1]) if mirrored else plain
    return np.clip(pred, 1e-3, 10.0).astype(np.float64)


def test_both_protocols_agree_with_an_independent_computation(tmp_path: Path) -> None:
    zip_path = write_nyu50k_zip(tmp_path / "nyu_data.zip", synthetic_frames(2), real_test_frames(5))
    with Nyu50kZip(zip_path) as z:
        prepare_source(
            z,
            MAPPING,
            tmp_path / "p",
            prep("encoded", chunk_frames=2),
            progress=False,
        )
    cfg = EvaluateConfig(
        protocols=["standard", "densedepth"],
        crop="eigen",
        min_depth=1e-3,
        flip_tta=False,
        batch_size=2,
        grid_frames=1,
        depth_bins=[0, 2, 4, 6, 8, 10],
    )
    test = PreparedSplit(tmp_path / "p" / "test.h5", keys=("depth_full",))
    config = {"variant": "densedepth", "model": {}, "max_depth": 10.0, "min_depth": 0.1}
    got = headline(score_test_split(ShiftedRed().eval(), config, test, cfg, 10.0, 3.0, progress=False), cfg)

    rgbs, gts = zip_test_frames(zip_path)
    want = {
        "standard": independent_metrics([independent_prediction(r, False) for r in rgbs], gts, EIGEN, False),
        "densedepth": independent_metrics([independent_prediction(r, True) for r in rgbs], gts, DENSEDEPTH, True),
    }
    assert set(got) == {"standard", "densedepth"}
    for protocol, metrics in want.items():
        for key, value in metrics.items():
            assert got[protocol][key] == pytest.approx(value, rel=2e-5, abs=2e-6), (protocol, key)
    assert got["standard"]["abs_rel"] != pytest.approx(got["densedepth"]["abs_rel"], rel=1e-3)  # they differ
