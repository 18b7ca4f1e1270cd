"""The prepare stage (depthpipe.data.prepare): targets, masks, class mapping, resizing, determinism."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from depthpipe.data.prepared.transforms import (
    map_labels_40,
    reciprocal_target,
    resize_depth,
    resize_labels,
    valid_depth,
)
from depthpipe.data.sources.metadata import load_class_mapping
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from helpers.nyu import (
    prepare_mat,
    real_test_frames,
    write_real_frames_nyu,
    write_simple_splits,
    write_small_nyu,
)
from helpers.sections import prep

CLASS_MAPPING = "data/classMapping40.mat"
PARAMS = prep("arrays", (32, 64), chunk_frames=2)


def test_reciprocal_target_and_mask():
    depth = np.array([[0.0, np.nan, 0.05, 0.1], [1.0, 2.5, 10.0, 12.0], [np.inf, -1.0, 5.0, 10.0]], np.float32)
    valid = valid_depth(depth, 10.0)
    assert valid.tolist() == [[False, False, True, True], [True, True, True, False], [False, False, True, True]]
    t = reciprocal_target(depth, valid, 0.1, 10.0)
    assert np.isfinite(t).all()
    assert t[0, 2] == pytest.approx(100.0)  # 0.05 m clipped to min_depth 0.1 -> 10 / 0.1
    assert t[1, 0] == pytest.approx(10.0) and t[1, 1] == pytest.approx(4.0) and t[1, 2] == pytest.approx(1.0)
    assert (t[~valid] == 0).all()
    assert t[valid].min() >= 1.0 and t[valid].max() <= 100.0


def test_resize_depth_uses_only_valid_pixels():
    depth = np.array([[2.0, 0.0, 4.0, 4.0], [2.0, 0.0, 4.0, 4.0]], np.float32)
    d, v = resize_depth(depth, depth > 0, (1, 2))
    assert v.tolist() == [[True, True]]
    assert d[0, 0] == pytest.approx(2.0)  # holes do not drag the average towards 0
    d, v = resize_depth(np.zeros((2, 2), np.float32), np.zeros((2, 2), bool), (1, 1))
    assert not v.any() and d[0, 0] == 0


def test_label_resize_is_nearest_and_mapping_is_40_class():
    lut, names40, _ = load_class_mapping(CLASS_MAPPING)
    lab = np.array([[21, 21, 11, 11], [21, 21, 11, 11], [0, 0, 157, 157], [0, 0, 157, 157]], np.uint16)
    m = map_labels_40(lab, lut, "x")
    assert [names40[k - 1] for k in (m[0, 0], m[0, 2], m[2, 2])] == ["wall", "floor", "bed"] and m[2, 0] == 0
    small = resize_labels(m, (2, 2))
    assert set(np.unique(small)) <= set(np.unique(m))  # no blended ids
    with pytest.raises(DepthpipeError, match="frame 7: label 900 out of range"):
        map_labels_40(np.array([[900]], np.uint16), lut, "f.mat: frame 7")


def test_prepare_outputs_shapes_order_and_bytes(tmp_path):
    mat = write_small_nyu(tmp_path / "x.mat", n=5, h=96, w=128, hole_frames={1: 0.3})
    splits = tmp_path / "splits.mat"
    write_simple_splits(splits, 5, 2)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    summary = prepare_mat(
        mat, splits, CLASS_MAPPING, out_a, PARAMS, source_sha256="sha", source="synthetic", progress=False
    )
    prepare_mat(mat, splits, CLASS_MAPPING, out_b, PARAMS, source_sha256="sha", source="synthetic", progress=False)
    for name in ("train.h5", "test.h5", "manifest.csv"):
        assert sha256_file(out_a / name) == sha256_file(out_b / name), name
    assert not list(out_a.glob("*.tmp-*"))
    with h5py.File(out_a / "train.h5") as tr, h5py.File(out_a / "test.h5") as te:
        n_tr, n_te = summary["train_frames"], summary["test_frames"]
        assert n_tr + n_te == 5 and n_te == 2
        assert tr["rgb"].shape == (n_tr, 32, 64, 3) and tr["rgb"].dtype == np.uint8
        for k in ("depth", "target", "mask", "label"):
            assert tr[k].shape == (n_tr, 16, 32)
        assert te["depth_full"].shape == (n_te, 96, 128) and te["label_full"].shape == (n_te, 96, 128)
        assert "depth_full" not in tr
        target, mask, depth = tr["target"][()], tr["mask"][()].astype(bool), tr["depth"][()]
        assert np.isfinite(target).all() and (target[~mask] == 0).all()
        np.testing.assert_allclose(target[mask], 10.0 / np.clip(depth[mask], 0.1, 10.0), rtol=1e-6)
        assert tr["label"][()].max() <= 40
        assert tr.attrs["mean_depth"] == pytest.approx(depth[mask].mean(), rel=1e-4)
        idx = np.concatenate([tr["index"][()], te["index"][()]])
        assert sorted(idx.tolist()) == [1, 2, 3, 4, 5]
    manifest = (out_a / "manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("split,position,nyu_index,scene") and len(manifest) == 6


def test_real_frames_full_resolution(tmp_path):
    lut, _, names894 = load_class_mapping(CLASS_MAPPING)
    mat = tmp_path / "real.mat"
    write_real_frames_nyu(mat, lut, names=names894)
    splits = tmp_path / "splits.mat"
    write_simple_splits(splits, 5, 2)
    params = PARAMS.model_copy(update={"input_size": (480, 640)})
    prepare_mat(mat, splits, CLASS_MAPPING, tmp_path / "p", params, progress=False)
    z = real_test_frames()
    with h5py.File(tmp_path / "p" / "test.h5") as te:
        i = int(te["index"][0]) - 1
        np.testing.assert_array_equal(te["rgb"][0], z["rgb"][i])  # 480x640 input: untouched
        np.testing.assert_array_equal(te["depth_full"][0], z["depth_m"][i])
        np.testing.assert_array_equal(te["label_full"][0], z["label40"][i])
        d = te["depth"][0]
        assert d.shape == (240, 320)
        # area resampling of a dense map: each output pixel is the mean of its 2x2 block
        np.testing.assert_allclose(d[10, 10], z["depth_m"][i][20:22, 20:22].mean(), rtol=1e-5)


def test_split_that_does_not_fit_is_rejected(tmp_path):
    mat = write_small_nyu(tmp_path / "x.mat", n=3, h=32, w=32)
    with pytest.raises(DepthpipeError, match=r"splits\.mat: key 'trainNdxs' has index \d+ outside 1..3"):
        prepare_mat(mat, "data/splits.mat", CLASS_MAPPING, tmp_path / "p", PARAMS, progress=False)
    assert not (tmp_path / "p" / "train.h5").exists()


def test_worker_pool_gives_the_same_bytes(tmp_path):
    mat = write_small_nyu(tmp_path / "x.mat", n=6, h=96, w=128)
    splits = tmp_path / "splits.mat"
    write_simple_splits(splits, 6, 2)
    prepare_mat(mat, splits, CLASS_MAPPING, tmp_path / "serial", PARAMS, progress=False)
    prepare_mat(mat, splits, CLASS_MAPPING, tmp_path / "pool", PARAMS.model_copy(update={"workers": 2}), progress=False)
    for name in ("train.h5", "test.h5", "manifest.csv"):
        assert sha256_file(tmp_path / "serial" / name) == sha256_file(tmp_path / "pool" / name), name
