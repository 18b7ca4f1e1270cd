"""The per-frame target maths (depthpipe.data.prepared.transforms): ``prepare.target_resize`` ``densedepth``
against DenseDepth's own recipe (its data.py: ``DepthNorm`` in centimetres, then skimage's ``resize``) on the
real frames of tests/data/nyu, and ``area`` (the default) as it always was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import resize

from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.prepared.hdf5 import PreparedSplit
from depthpipe.data.prepared.transforms import DEPTH_KEYS, frame_arrays, reciprocal_target, resize_depth, valid_depth
from depthpipe.data.sources.nyu50k import Nyu50kZip
from helpers.nyu import real_raw_frames, real_test_frames
from helpers.nyu50k import real_test_frames as real_test_pairs
from helpers.nyu50k import synthetic_frames, write_nyu50k_zip
from helpers.sections import MAPPING, prep

FULL, HALF = (480, 640), (240, 320)
MIN_DEPTH, MAX_DEPTH = 0.1, 10.0


def _arrays(depth_m: np.ndarray, target_resize: str, size: tuple[int, int] = HALF) -> dict[str, np.ndarray]:
    return frame_arrays(None, depth_m, None, DEPTH_KEYS, FULL, size, MIN_DEPTH, MAX_DEPTH, target_resize)


def _densedepth_as_coded(depth_mm: np.ndarray) -> np.ndarray:
    """DenseDepth's data.py on a 16-bit millimetre PNG: ``y = png / 10`` (cm), ``DepthNorm(y, 1000) = 1000 / y``,
    then ``nyu_resize(y, 240)``: skimage's resize to 240x320, preserve_range, mode reflect, anti_aliasing."""
    y = 1000.0 / (depth_mm.astype(np.float64).reshape(480, 640, 1) / 10.0)
    return resize(y, (240, 320), preserve_range=True, mode="reflect", anti_aliasing=True)[..., 0]


@pytest.fixture(scope="module")
def test_frames() -> np.ndarray:
    return real_test_frames()["depth_m"]


def test_densedepth_target_is_densedepths_resize_on_real_frames(test_frames: np.ndarray) -> None:
    for depth in test_frames:
        assert valid_depth(depth, MAX_DEPTH).all()  # the labeled set's depth is dense: DenseDepth's case
        got = _arrays(depth, "densedepth")
        want = _densedepth_as_coded(np.rint(depth.astype(np.float64) * 1000))
        assert got["target"].dtype == np.float32 and got["target"].shape == HALF
        np.testing.assert_allclose(got["target"], want, rtol=1e-6, atol=0)
        # a Gaussian of sigma 0.5 (mirrored at the border), then the mean of each 2x2 block
        blurred = ndimage.gaussian_filter(MAX_DEPTH / depth.astype(np.float64), 0.5, mode="mirror")
        np.testing.assert_allclose(got["target"], blurred.reshape(240, 2, 320, 2).mean(axis=(1, 3)), rtol=1e-6)
        area = _arrays(depth, "area")
        assert np.array_equal(got["depth"], area["depth"]) and np.array_equal(got["mask"], area["mask"])
        assert not np.array_equal(got["target"], area["target"])  # the two recipes do differ


def test_densedepth_target_has_no_lower_clip() -> None:
    depth = np.full((4, 4), 0.05, np.float32)  # 5 cm: nearer than min_depth
    t = frame_arrays(None, depth, None, DEPTH_KEYS, (4, 4), (2, 2), MIN_DEPTH, MAX_DEPTH, "densedepth")["target"]
    np.testing.assert_allclose(t, 200.0, rtol=1e-6)  # 10 / 0.05, where area clips to 10 / 0.1 = 100
    assert (_arrays(np.full(FULL, 0.05, np.float32), "area")["target"] == 100.0).all()


def test_densedepth_target_skips_holes_on_sparse_real_frames() -> None:
    for depth in real_raw_frames()["depth_m"]:
        valid = valid_depth(depth, MAX_DEPTH)
        got, area = _arrays(depth, "densedepth"), _arrays(depth, "area")
        assert np.array_equal(got["depth"], area["depth"]) and np.array_equal(got["mask"], area["mask"])
        mask = got["mask"].astype(bool)
        assert np.isfinite(got["target"]).all() and (got["target"][~mask] == 0).all()
        assert got["target"][mask].min() >= 1.0 - 1e-6
        # where every pixel the resize reads (radius 2 around each 2x2 block) is valid, holes change nothing
        whole = ndimage.minimum_filter(valid, size=7)[0::2, 0::2] & mask
        recip = np.where(valid, MAX_DEPTH / np.where(valid, depth, 1.0).astype(np.float64), 0.0)
        plain = resize(recip, HALF, order=1, mode="reflect", anti_aliasing=True, preserve_range=True)
        assert whole.mean() > 0.3
        np.testing.assert_allclose(got["target"][whole], plain[whole], rtol=1e-6)


def test_area_is_the_default_and_unchanged(test_frames: np.ndarray) -> None:
    depth = real_raw_frames()["depth_m"][0]
    default = frame_arrays(None, depth, None, DEPTH_KEYS, FULL, HALF, MIN_DEPTH, MAX_DEPTH)
    depth_o, valid_o = resize_depth(depth, valid_depth(depth, MAX_DEPTH), HALF)
    assert np.array_equal(default["target"], reciprocal_target(depth_o, valid_o, MIN_DEPTH, MAX_DEPTH))
    for key, value in _arrays(depth, "area").items():
        assert np.array_equal(value, default[key]), key


def test_encoded_layout_reads_the_densedepth_targets_the_arrays_layout_holds(tmp_path: Path) -> None:
    """Both layouts, nyu_data.zip-style (8-bit train PNGs, 16-bit test PNGs): the encoded reader makes its targets
    as the file's ``target_resize`` attribute says; files made with the default carry no such attribute."""
    zip_path = write_nyu50k_zip(tmp_path / "nyu_data.zip", synthetic_frames(2), real_test_pairs(2))
    with Nyu50kZip(zip_path) as z:
        for layout in ("arrays", "encoded"):
            cfg = prep(layout, (64, 96), target_resize="densedepth")
            prepare_source(z, MAPPING, tmp_path / layout, cfg, "sha", "nyu50k", progress=False)
        prepare_source(z, MAPPING, tmp_path / "area", prep("encoded", (64, 96)), "sha", "nyu50k", progress=False)
    for split in ("train", "test"):
        a, e = (PreparedSplit(tmp_path / layout / f"{split}.h5") for layout in ("arrays", "encoded"))
        assert a.info.target_resize == e.info.target_resize == "densedepth"
        for key in DEPTH_KEYS:
            np.testing.assert_array_equal(a.read(key, [1, 0]), e.read(key, [1, 0]), err_msg=f"{split} {key}")
        area = PreparedSplit(tmp_path / "area" / f"{split}.h5")
        assert area.info.target_resize == "area" and "target_resize" not in area.info.to_attrs()
        assert not np.array_equal(area.read("target", [0]), e.read("target", [0]))
