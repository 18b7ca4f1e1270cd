"""The NYU labeled .mat reader and writer (depthpipe.data.nyu_mat) and the metadata files (data.meta)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from depthpipe.data.sources.metadata import load_class_mapping, read_splits, write_splits
from depthpipe.data.sources.nyu_mat import NYULabeledFile, NYULabeledWriter
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from helpers.nyu import (
    real_test_frames,
    small_frame,
    write_real_frames_nyu,
    write_small_nyu,
)

CLASS_MAPPING = "data/classMapping40.mat"


def test_round_trip_in_nyu_orientation(tmp_path):
    path = write_small_nyu(tmp_path / "x.mat", n=3, h=48, w=64)
    with h5py.File(path, "r") as f:  # the on-disk layout is MATLAB's, reversed by h5py
        assert f["images"].shape == (3, 3, 64, 48) and f["images"].dtype == np.uint8
        assert f["depths"].shape == (3, 64, 48) and f["depths"].dtype == np.float32
        assert f["labels"].shape == (3, 64, 48) and f["labels"].dtype == np.uint16
        assert f["names"].dtype == h5py.ref_dtype and f["names"].shape == (1, 894)
        assert f["depths"].attrs["MATLAB_class"] == b"single"
    with open(path, "rb") as fh:
        assert fh.read(19) == b"MATLAB 7.3 MAT-file"
    with NYULabeledFile(path) as nyu:
        assert (len(nyu), nyu.height, nyu.width) == (3, 48, 64)
        for i in range(3):
            rgb, depth, label = small_frame(i, 48, 64)
            fr = nyu.frame(i)
            np.testing.assert_array_equal(fr.rgb, rgb)
            np.testing.assert_array_equal(fr.depth, depth)
            np.testing.assert_array_equal(fr.label, label)
        assert nyu.names()[20] == "class21"
        assert nyu.scenes() == ["synthetic_0000", "synthetic_0001", "synthetic_0002"]
        assert [f.index for f in nyu.frames([2, 0])] == [2, 0]


def test_writer_is_deterministic(tmp_path):
    a = write_small_nyu(tmp_path / "a.mat", n=2, h=32, w=40)
    b = write_small_nyu(tmp_path / "b.mat", n=2, h=32, w=40)
    assert sha256_file(a) == sha256_file(b)


def test_real_frames_read_back_exactly(tmp_path):
    lut, names40, names894 = load_class_mapping(CLASS_MAPPING)
    path = tmp_path / "real.mat"
    write_real_frames_nyu(path, lut, names=names894)
    z = real_test_frames()
    with NYULabeledFile(path) as nyu:
        assert (len(nyu), nyu.height, nyu.width) == (5, 480, 640)
        fr = nyu.frame(3)
        np.testing.assert_array_equal(fr.rgb, z["rgb"][3])
        np.testing.assert_array_equal(fr.depth, z["depth_m"][3])
        np.testing.assert_array_equal(lut[fr.label], z["label40"][3])
        assert nyu.names()[20] == "wall" and names40[0] == "wall"


def test_missing_key_names_the_key(tmp_path):
    path = tmp_path / "nolabels.mat"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((1, 3, 8, 6), np.uint8)
        f["depths"] = np.ones((1, 8, 6), np.float32)
    with pytest.raises(DepthpipeError, match=r"nolabels\.mat: missing key 'labels'"):
        NYULabeledFile(path)


def test_wrong_shape_names_the_key(tmp_path):
    path = tmp_path / "shape.mat"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3, 8, 6), np.uint8)
        f["depths"] = np.ones((2, 8, 6), np.float32)
        f["labels"] = np.zeros((2, 8, 5), np.uint16)
    with pytest.raises(DepthpipeError, match=r"key 'labels' has shape \(2, 8, 5\), expected \(2, 8, 6\)"):
        NYULabeledFile(path)


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    path = write_small_nyu(tmp_path / "t.mat", n=3, h=48, w=64)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DepthpipeError, match=r"t\.mat"), NYULabeledFile(path) as nyu:
        for _ in nyu.frames():
            pass


def test_not_hdf5_and_absent(tmp_path):
    bad = tmp_path / "junk.mat"
    bad.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DepthpipeError, match="junk.mat: not a readable MATLAB v7.3"):
        NYULabeledFile(bad)
    with pytest.raises(DepthpipeError, match="file not found"):
        NYULabeledFile(tmp_path / "absent.mat")


def test_writer_rejects_wrong_frame_shape_and_missing_frames(tmp_path):
    w = NYULabeledWriter(tmp_path / "w.mat", n_frames=2, names=["a"], height=8, width=10)
    with pytest.raises(DepthpipeError, match="frame 0: depth has shape"):
        w.write(0, np.zeros((8, 10, 3), np.uint8), np.zeros((8, 9), np.float32), np.zeros((8, 10), np.uint16))
    w.write(0, np.zeros((8, 10, 3), np.uint8), np.ones((8, 10), np.float32), np.zeros((8, 10), np.uint16))
    with pytest.raises(DepthpipeError, match="never written"):
        w.close()


def test_official_splits_and_checks(tmp_path):
    train, test = read_splits("data/splits.mat", 1449)
    assert (train.size, test.size) == (795, 654)
    assert train.min() >= 0 and max(train.max(), test.max()) <= 1448
    assert np.intersect1d(train, test).size == 0
    assert test[:5].tolist() == [0, 1, 8, 13, 14]  # 1-based 1, 2, 9, 14, 15 (shared/nyu README)
    with pytest.raises(DepthpipeError, match=r"splits\.mat: key 'trainNdxs' has index \d+ outside 1..100"):
        read_splits("data/splits.mat", 100)
    p = tmp_path / "s.mat"
    write_splits(p, np.array([0, 2]), np.array([1]))
    assert [x.tolist() for x in read_splits(p, 3)] == [[0, 2], [1]]
    first = p.read_bytes()
    write_splits(p, np.array([0, 2]), np.array([1]))
    assert p.read_bytes() == first  # no timestamp in the header
    write_splits(p, np.array([0, 1]), np.array([1]))
    with pytest.raises(DepthpipeError, match="frame 2 is in both"):
        read_splits(p, 3)


def test_class_mapping_40():
    lut, names40, names894 = load_class_mapping(CLASS_MAPPING)
    assert lut.shape == (895,) and lut[0] == 0 and lut.max() == 40
    assert len(names40) == 40 and len(names894) == 894
    for name, nyu_id in {"wall": 21, "floor": 11, "ceiling": 4, "bed": 157, "chair": 5, "table": 19}.items():
        assert names894[nyu_id - 1] == name
        assert names40[lut[nyu_id] - 1] == name
