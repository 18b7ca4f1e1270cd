"""The raw-derived NYU set in both layouts (nyu_data.zip, the nyudepthv2 .h5 tree) through the library: readers,
refusals of corrupt members, download over a real HTTP server, validation, both prepared layouts, the loader,
and the booster's refusal of unlabeled data. The DVC end-to-end run is tests/test_nyu50k_pipeline.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from depthpipe.data.download.materialise import materialise_source
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.prepared.hdf5 import PreparedSplit
from depthpipe.data.sources.nyu50k import Nyu50kZip
from depthpipe.data.sources.nyu_h5_tree import NyuH5Tree
from depthpipe.data.sources.nyu_mat import MatFrames
from depthpipe.data.sources.raw_folder import open_raw
from depthpipe.data.validation.suite import failure_lines, validate_source
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from depthpipe.training.loader import EpochBatchSampler, PreparedBatches, make_loader
from helpers.http_server import FileServer
from helpers.nyu import write_simple_splits, write_small_nyu
from helpers.nyu50k import (
    real_raw_frames,
    real_test_frames,
    synthetic_frames,
    tar_tree,
    write_h5_tree,
    write_nyu50k_zip,
)
from helpers.sections import MAPPING, MAX_DEPTH, check, data_cfg, prep


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert len(text.splitlines()) == 1, text
    return text


@pytest.fixture
def small_zip(tmp_path: Path) -> Path:
    """5 synthetic train frames + 2 synthetic test frames (no shared files needed)."""
    return write_nyu50k_zip(tmp_path / "nyu_data.zip", synthetic_frames(5), synthetic_frames(2, first=10))


@pytest.fixture
def real_zip(tmp_path: Path) -> Path:
    """Train: 3 synthetic + the 3 real sparse raw frames; test: 3 real labeled test frames (dense depth)."""
    (tmp_path / "real").mkdir()
    return write_nyu50k_zip(
        tmp_path / "real" / "nyu_data.zip", synthetic_frames(3) + real_raw_frames(), real_test_frames(3)
    )


# -- readers ----------------------------------------------------------------------------------------------
def test_zip_reads_the_bit_depth_of_each_png(real_zip: Path) -> None:
    raw, test = real_raw_frames(), real_test_frames(3)
    with Nyu50kZip(real_zip) as z:
        assert len(z) == 9 and z.membership() == ["train"] * 6 + ["test"] * 3
        assert z.scene(0) == "scene_0_out" and z.scene(7) == ""
        sparse = z.frame(3)  # 8-bit train depth: 255 = 10 m, 0 = no measurement
        assert sparse.encoded.depth_scale == pytest.approx(10 / 255) and sparse.label is None
        measured = raw[0][1] > 0
        assert np.array_equal(sparse.depth > 0, np.rint(raw[0][1] / 10 * 255) > 0)
        assert np.abs(sparse.depth[measured] - raw[0][1][measured]).max() <= 10 / 255 / 2 + 1e-6
        np.testing.assert_array_equal(sparse.rgb.shape, (480, 640, 3))
        dense = z.frame(7)  # 16-bit test depth: millimetres
        assert dense.encoded.depth_scale == 0.001 and dense.name.endswith("data/nyu2_test/00001_colors.png")
        np.testing.assert_array_equal(dense.rgb, test[1][0])  # PNG: lossless
        assert np.abs(dense.depth - test[1][1]).max() <= 0.0005 + 1e-6


def test_zip_refuses_corrupt_members_naming_them(tmp_path: Path) -> None:
    bad = write_nyu50k_zip(tmp_path / "cut.zip", synthetic_frames(3), synthetic_frames(1, first=9), truncate_jpeg=[1])
    with Nyu50kZip(bad) as z, pytest.raises(DepthpipeError) as exc:
        z.frame(1)
    assert "data/nyu2_train/scene_1_out/1.jpg: truncated or corrupt JPEG" in one_line(exc)
    bad = write_nyu50k_zip(
        tmp_path / "8bit.zip", synthetic_frames(2), synthetic_frames(2, first=9), test_depth_8bit=[1]
    )
    with Nyu50kZip(bad) as z, pytest.raises(DepthpipeError) as exc:
        z.frame(3)
    assert "data/nyu2_test/00001_depth.png: 8-bit depth PNG in the test split" in one_line(exc)
    bad = write_nyu50k_zip(tmp_path / "gone.zip", synthetic_frames(2), synthetic_frames(1, first=9), missing_rows=1)
    with pytest.raises(DepthpipeError) as exc:
        Nyu50kZip(bad)
    assert "data/nyu2_train.csv line 3 names 'data/nyu2_train/gone/0.jpg', which is not in the archive" in one_line(exc)
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(DepthpipeError, match="text.zip: not a readable zip archive"):
        Nyu50kZip(tmp_path / "text.zip")


def test_h5_tree_reads_in_natural_order_and_refuses_a_frame_without_depth(tmp_path: Path) -> None:
    raw = real_raw_frames()
    tree = write_h5_tree(tmp_path, synthetic_frames(11) + raw, raw[:2], drop_depth=[("train", 4)])
    with NyuH5Tree(tmp_path) as t:  # the folder holding nyudepthv2/ is accepted too
        assert len(t) == 16 and t.membership().count("test") == 2
        scene0 = [m for m in t.members if "/scene_0/" in m]
        assert scene0[:3] == ["train/scene_0/00001.h5", "train/scene_0/00003.h5", "train/scene_0/00005.h5"]
        assert scene0.index("train/scene_0/00011.h5") > scene0.index("train/scene_0/00009.h5")  # not 0001 < 0011 < 0003
        real = t.frame(t.members.index("train/scene_1/00012.h5"))
        np.testing.assert_array_equal(real.rgb, raw[0][0])
        np.testing.assert_array_equal(real.depth, raw[0][1])  # float32 metres, exactly; 0 = no measurement
        with pytest.raises(DepthpipeError) as exc:
            t.frame(t.members.index("train/scene_0/00005.h5"))
    assert one_line(exc).startswith("nyudepthv2/train/scene_0/00005.h5: missing dataset 'depth'")
    (tree / "train" / "scene_0" / "00001.h5").write_text("truncated")
    with NyuH5Tree(tree) as t, pytest.raises(DepthpipeError, match=r"00001.h5: not a readable HDF5 file"):
        t.frame(0)
    write_h5_tree(tmp_path / "half", synthetic_frames(1, h=8, w=8), [])
    with pytest.raises(DepthpipeError, match="missing folder 'val/'"):
        NyuH5Tree(tmp_path / "half")


# -- download -----------------------------------------------------------------------------------------------
def test_zip_download_resumes_and_records_the_fetched_sha256(
    small_zip: Path, tmp_path: Path, file_server: FileServer
) -> None:
    blob = small_zip.read_bytes()
    url = file_server.add("/densedepth/nyu_data.zip", blob)
    data = data_cfg("nyu50k", **{"nyu50k.url": url})
    file_server.cut_next = 1
    s = materialise_source(data, tmp_path, tmp_path / "raw", progress=False)
    sha = hashlib.sha256(blob).hexdigest()
    assert s == {
        "source": "nyu50k",
        "url": url,
        "fetched_sha256": sha,
        "sha256_published": False,
        "frames": 7,
        "train": 5,
        "test": 2,
        "data_sha256": sha,
        "data_bytes": len(blob),
    }
    assert len(file_server.requests) == 2  # cut half-way, then completed (resuming: see test_download)
    assert os.path.samefile(tmp_path / "cache" / "nyu_data.zip", tmp_path / "raw" / "nyu_data.zip")
    pinned = data_cfg("nyu50k", **{"nyu50k.url": url, "nyu50k.sha256": sha, "nyu50k.size": len(blob)})
    again = materialise_source(pinned, tmp_path, tmp_path / "raw2", progress=False)
    assert again["sha256_published"] is True and again["data_sha256"] == sha and len(file_server.requests) == 2
    with pytest.raises(DepthpipeError, match="sha256 mismatch"):
        materialise_source(
            data_cfg("nyu50k", **{"nyu50k.url": url, "nyu50k.sha256": "0" * 64}),
            tmp_path / "elsewhere",
            tmp_path / "raw3",
            progress=False,
        )


def test_a_zip_naming_a_missing_member_places_nothing(tmp_path: Path) -> None:
    bad = write_nyu50k_zip(tmp_path / "bad.zip", synthetic_frames(2), synthetic_frames(1, first=9), missing_rows=1)
    with pytest.raises(DepthpipeError) as exc:
        materialise_source(data_cfg("nyu50k", file=str(bad)), tmp_path, tmp_path / "raw", progress=False)
    assert "which is not in the archive" in one_line(exc)
    assert not (tmp_path / "raw" / "nyu_data.zip").exists()


def test_tree_from_the_tar_download_and_from_a_folder_agree(tmp_path: Path, file_server: FileServer) -> None:
    tree = write_h5_tree(tmp_path / "mine", synthetic_frames(4, h=48, w=64), synthetic_frames(2, h=48, w=64, first=7))
    (tree / "train" / "README").write_text("not a frame")
    url = file_server.add("/sparse-to-dense/nyudepthv2.tar.gz", tar_tree(tree, tmp_path / "t.tar.gz").read_bytes())
    fetched = materialise_source(
        data_cfg("nyu_h5_tree", **{"nyu_h5_tree.url": url}), tmp_path, tmp_path / "a", progress=False
    )
    copied = materialise_source(
        data_cfg("nyu_h5_tree", file=str(tmp_path / "mine")), tmp_path, tmp_path / "b", progress=False
    )
    assert (fetched["frames"], fetched["train"], fetched["test"]) == (6, 4, 2) and copied["file"]
    assert fetched["data_sha256"] == copied["data_sha256"] and fetched["sha256_published"] is False
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert "nyudepthv2/train/scene_0/00001.h5" in files and not any("README" in f for f in files)
    assert not list(tmp_path.glob("a/*.tmp-*"))
    (tmp_path / "empty" / "nyudepthv2" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "nyudepthv2" / "val").mkdir()
    with pytest.raises(DepthpipeError, match=r"no .h5 frames under train/"):
        materialise_source(data_cfg("nyu_h5_tree", file=str(tmp_path / "empty")), tmp_path, tmp_path / "c")
    assert not (tmp_path / "c" / "nyudepthv2").exists()


# -- validate ----------------------------------------------------------------------------------------------
def test_validate_both_layouts_without_labels(real_zip: Path, tmp_path: Path) -> None:
    raw = real_raw_frames()
    write_h5_tree(tmp_path / "t", synthetic_frames(2) + raw, real_test_frames(2))
    for source in (Nyu50kZip(real_zip), NyuH5Tree(tmp_path / "t")):
        with source:
            report = validate_source(
                source, check(), MAX_DEPTH, tmp_path / "r.json", tmp_path / "s.csv", progress=False
            )
        assert report["success"] is True, failure_lines(report)
        stats = (tmp_path / "s.csv").read_text().splitlines()
        assert stats[1].split(",")[-4:-1] == ["", "", ""]  # label_min, label_max, n_classes: empty, skipped
    with Nyu50kZip(real_zip) as source:
        report = validate_source(
            source,
            check(min_valid_fraction=0.8, expected_test_frames=654),
            MAX_DEPTH,
            tmp_path / "r.json",
            tmp_path / "s.csv",
            progress=False,
        )
    lines = failure_lines(report)
    assert any(line.startswith("validate: too few valid depth pixels") and "[3, 4, 5]" in line for line in lines)
    assert "validate: expected 654 test frames (validate.expected_test_frames): found 3" in lines
    truncated = write_nyu50k_zip(
        tmp_path / "cut.zip", synthetic_frames(2), synthetic_frames(1, first=5), truncate_jpeg=[0]
    )
    with Nyu50kZip(truncated) as source, pytest.raises(DepthpipeError) as exc:
        validate_source(source, check(), MAX_DEPTH, tmp_path / "r2.json", tmp_path / "s2.csv", progress=False)
    assert "nyu2_train/scene_0_out/0.jpg: truncated or corrupt JPEG" in one_line(exc)
    assert not (tmp_path / "r2.json").exists()


# -- prepare: both layouts give the same arrays --------------------------------------------------------------
def _read_all(path: Path, positions: list[int]) -> dict[str, np.ndarray]:
    split = PreparedSplit(path)
    return split.read_many(list(split.info.keys()), positions)


@pytest.mark.parametrize("size", [(480, 640), (64, 96)])
def test_both_layouts_read_the_same_arrays(real_zip: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    with Nyu50kZip(real_zip) as z:
        for layout in ("arrays", "encoded"):
            prepare_source(z, MAPPING, tmp_path / layout, prep(layout, size), "sha", "nyu50k", progress=False)
    for split, positions in (("train", [5, 0, 3, 3]), ("test", [2, 0, 1])):
        a, e = (_read_all(tmp_path / layout / f"{split}.h5", positions) for layout in ("arrays", "encoded"))
        assert a.keys() == e.keys() and ("depth_full" in a) == (split == "test") and "label_full" not in a
        for key in a:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"{split} {key}")
        assert not e["label"].any()  # no labels: all void
    info = PreparedSplit(tmp_path / "encoded" / "train.h5").info
    assert info.layout == "encoded" and info.has_labels is False and info.full_size == (480, 640)
    assert info.mean_depth == PreparedSplit(tmp_path / "arrays" / "train.h5").info.mean_depth
    assert (tmp_path / "encoded" / "manifest.csv").read_bytes() == (tmp_path / "arrays" / "manifest.csv").read_bytes()


def test_encoded_prepare_is_deterministic_and_keeps_the_zip_bytes(real_zip: Path, tmp_path: Path) -> None:
    with Nyu50kZip(real_zip) as z:
        prepare_source(z, MAPPING, tmp_path / "one", prep("encoded"), progress=False)
        prepare_source(z, MAPPING, tmp_path / "pool", prep("encoded", workers=2), progress=False)
        rgb0 = z._member(z.rows[0][0])
    for name in ("train.h5", "test.h5", "manifest.csv"):
        assert sha256_file(tmp_path / "one" / name) == sha256_file(tmp_path / "pool" / name), name
    train = PreparedSplit(tmp_path / "one" / "train.h5")
    assert train._bytes("rgb", 0).tobytes() == rgb0  # the source's JPEG, stored as it is
    prepared = sum(os.path.getsize(tmp_path / "one" / f"{s}.h5") for s in ("train", "test"))
    assert prepared <= 1.3 * real_zip.stat().st_size


def test_tree_and_labeled_mat_in_the_encoded_layout(tmp_path: Path) -> None:
    """Decoded sources are encoded by prepare: PNG RGB is lossless, depth is kept in millimetres, labels too."""
    write_h5_tree(tmp_path / "t", synthetic_frames(3, h=96, w=128), synthetic_frames(2, h=96, w=128, first=5))
    mat = write_small_nyu(tmp_path / "x.mat", n=5, h=96, w=128)
    splits = write_simple_splits(tmp_path / "s.mat", 5, 2)
    for name, source in (("tree", NyuH5Tree(tmp_path / "t")), ("mat", MatFrames(mat, splits))):
        with source:
            for layout in ("arrays", "encoded"):
                prepare_source(
                    source, MAPPING, tmp_path / name / layout, prep(layout, (64, 96), rgb_codec="png"), progress=False
                )
        a, e = (_read_all(tmp_path / name / layout / "test.h5", [1, 0]) for layout in ("arrays", "encoded"))
        assert a.keys() == e.keys() and ("label_full" in a) == (name == "mat")
        for key in ("rgb", "mask", "label", "label_full", "index"):
            if key in a:
                np.testing.assert_array_equal(a[key], e[key], err_msg=f"{name} {key}")
        for key in ("depth", "depth_full"):
            np.testing.assert_allclose(e[key], a[key], atol=5e-4 + 1e-6, err_msg=f"{name} {key}")


def test_loader_decodes_in_workers_the_same_batches(real_zip: Path, tmp_path: Path) -> None:
    with Nyu50kZip(real_zip) as z:
        prepare_source(z, MAPPING, tmp_path / "e", prep("encoded", (64, 96)), progress=False)
        prepare_source(z, MAPPING, tmp_path / "a", prep("arrays", (64, 96)), progress=False)
    encoded, arrays = PreparedBatches(tmp_path / "e" / "train.h5"), PreparedBatches(tmp_path / "a" / "train.h5")
    sampler = EpochBatchSampler(len(encoded), 2, seed=3)
    inline = list(make_loader(encoded, sampler, workers=0, pin_memory=False))
    workers = list(make_loader(encoded, sampler, workers=2, pin_memory=False))
    assert len(inline) == len(workers) == 3
    for batch, in_worker, idx in zip(inline, workers, sampler):
        assert batch["rgb"].shape == (2, 3, 64, 96) and batch["mask"].dtype == torch.bool
        for key in batch:
            assert torch.equal(batch[key], in_worker[key]) and torch.equal(batch[key], arrays[idx][key]), key


def test_the_booster_refuses_unlabeled_training_data(real_zip: Path, tmp_path: Path, tiny_params) -> None:
    from depthpipe.training.trainer import Trainer

    with Nyu50kZip(real_zip) as z:
        prepare_source(z, MAPPING, tmp_path / "p", prep("encoded", (64, 96)), source="nyu50k", progress=False)
    with pytest.raises(DepthpipeError) as exc:
        Trainer(
            "semantic_booster",
            tiny_params.train_config("semantic_booster"),
            tiny_params.model_config_of("semantic_booster"),
            tmp_path / "p",
            tmp_path / "m",
            tmp_path / "r",
            progress=False,
        )
    assert "no semantic labels (data source nyu50k): the semantic booster is labeled-only" in one_line(exc)


def test_open_raw_names_an_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(DepthpipeError, match=r"unknown data source 'kitti'"):
        open_raw(tmp_path, "kitti")
