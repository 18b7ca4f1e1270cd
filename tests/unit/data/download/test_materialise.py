"""The download stage's source switch (``depthpipe.data.download.materialise.materialise_source``)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from depthpipe.data.download.materialise import materialise_source
from depthpipe.data.sources.metadata import load_class_mapping, read_splits
from depthpipe.data.sources.nyu_mat import NYULabeledFile
from depthpipe.data.synthetic import LABEL_CLASSES, label_ids
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from helpers.http_server import FileServer
from helpers.nyu import write_simple_splits, write_small_nyu
from helpers.paths import REPO
from helpers.sections import data_cfg

ROOT = REPO
MAPPING = ROOT / "data" / "classMapping40.mat"


@pytest.fixture
def small_nyu(tmp_path: Path) -> Path:
    """A project root holding a small NYU-layout file (4 frames of 48x64) and a split for it."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    write_small_nyu(root / "data" / "small.mat", n=4, h=48, w=64)
    write_simple_splits(root / "data" / "splits.mat", 4, n_test=1)
    return root


# -- synthetic --------------------------------------------------------------------------------
def test_synthetic_is_deterministic_and_nyu_readable(tmp_path: Path) -> None:
    a = materialise_source(data_cfg("synthetic"), tmp_path, tmp_path / "a", progress=False)
    b = materialise_source(data_cfg("synthetic"), tmp_path, tmp_path / "b", progress=False)
    assert a == b
    assert a["source"] == "synthetic" and a["frames"] == 6 and (a["train"], a["test"]) == (5, 1)
    assert a["data_sha256"] == sha256_file(tmp_path / "a" / "labeled.mat")
    assert a["splits_sha256"] == sha256_file(tmp_path / "a" / "splits.mat")
    assert (tmp_path / "a" / "labeled.mat").read_bytes() == (tmp_path / "b" / "labeled.mat").read_bytes()
    lut, names40, names894 = load_class_mapping(MAPPING)
    ids = label_ids(MAPPING)
    with NYULabeledFile(tmp_path / "a" / "labeled.mat") as f:
        assert len(f) == 6 and (f.height, f.width) == (480, 640)
        names = f.names()
        assert len(names) == 894 and names[20] == "wall" and names[10] == "floor" and names[3] == "ceiling"
        assert all(re.match(r"synthetic_(bedroom|living_room|office|kitchen)_\d{4}$", s) for s in f.scenes())
        seen: set[int] = set()
        for fr in f.frames(raw_depth=True):
            assert fr.rgb.dtype == np.uint8 and fr.rgb.shape == (480, 640, 3)
            assert fr.depth.dtype == np.float32 and fr.depth.min() > 0 and fr.depth.max() <= 10
            assert fr.raw_depth is not None and 0 < (fr.raw_depth == 0).mean() < 0.3
            present = np.unique(fr.label)
            seen |= set(present.tolist())
            for k in present:  # every id is named, and maps to the 40-class of the object it was drawn as
                name = names[k - 1]
                assert ids[name] == k and names40[lut[k] - 1] == LABEL_CLASSES[name]
    assert {ids["wall"], ids["floor"]} <= seen


def test_synthetic_split_fits(tmp_path: Path) -> None:
    s = materialise_source(
        data_cfg("synthetic", **{"synthetic.frames": 5, "synthetic.test_fraction": 0.4}),
        tmp_path,
        tmp_path / "out",
        progress=False,
    )
    train, test = read_splits(tmp_path / "out" / "splits.mat", 5)
    assert (train.size, test.size) == (3, 2) == (s["train"], s["test"])


# -- file -------------------------------------------------------------------------------------
def test_file_source_copies(small_nyu: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    s = materialise_source(data_cfg("file", file="data/small.mat"), small_nyu, out, progress=False)
    src = small_nyu / "data" / "small.mat"
    assert s["source"] == "file" and s["frames"] == 4 and (s["train"], s["test"]) == (3, 1)
    assert s["file"] == "data/small.mat" and s["splits_file"] == "data/splits.mat"
    assert s["data_sha256"] == sha256_file(src) == sha256_file(out / "labeled.mat")
    assert (out / "splits.mat").read_bytes() == (small_nyu / "data" / "splits.mat").read_bytes()
    assert not os.path.samefile(src, out / "labeled.mat")  # a user's file is copied, never hard-linked
    # again: replaces the outputs atomically, leaves no temporaries
    materialise_source(data_cfg("file", file=str(src)), small_nyu, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["labeled.mat", "splits.mat"]


def test_file_source_errors(small_nyu: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(
        DepthpipeError,
        match=r"^params.yaml: data.file names .*data, which is a directory; it must "
        r"name a NYU-layout labeled .mat$",
    ):
        materialise_source(data_cfg("file", file="data"), small_nyu, out)
    with pytest.raises(DepthpipeError, match=r"^params.yaml: data.file names .*nope.mat, which does not exist$"):
        materialise_source(data_cfg("file", file="data/nope.mat"), small_nyu, out)
    (small_nyu / "data" / "text.mat").write_text("not a mat file")
    with pytest.raises(DepthpipeError, match="text.mat: not a readable MATLAB v7.3"):
        materialise_source(data_cfg("file", file="data/text.mat"), small_nyu, out)
    write_simple_splits(small_nyu / "data" / "big_splits.mat", 10, n_test=2)
    with pytest.raises(DepthpipeError, match=r"big_splits.mat: key 'trainNdxs' has index 5 outside 1..4"):
        materialise_source(data_cfg("file", file="data/small.mat", splits_file="data/big_splits.mat"), small_nyu, out)
    with pytest.raises(
        DepthpipeError, match=r"^params.yaml: data.splits_file names .*missing.mat, which does not exist$"
    ):
        materialise_source(data_cfg("file", file="data/small.mat", splits_file="data/missing.mat"), small_nyu, out)
    assert not out.exists() or not any(out.iterdir())


# -- nyu --------------------------------------------------------------------------------------
def test_nyu_source_downloads_then_reuses(small_nyu: Path, tmp_path: Path, file_server: FileServer) -> None:
    blob = (small_nyu / "data" / "small.mat").read_bytes()
    url = file_server.add("/mit/nyu_depth_v2_labeled.mat", blob)
    sha = hashlib.sha256(blob).hexdigest()
    data = data_cfg("nyu", **{"nyu.url": url, "nyu.size": len(blob), "nyu.sha256": sha})
    out = tmp_path / "out"
    file_server.cut_next = 1  # the first transfer breaks half-way
    s = materialise_source(data, small_nyu, out, progress=False)
    assert s["source"] == "nyu" and s["url"] == url and s["frames"] == 4
    assert s["data_sha256"] == sha == sha256_file(out / "labeled.mat")
    cached = small_nyu / "cache" / "nyu_depth_v2_labeled.mat"
    assert cached.read_bytes() == blob
    assert os.path.samefile(cached, out / "labeled.mat")  # our own download cache: hard-linked
    assert len(file_server.requests) == 2  # cut, then completed (resuming: see test_download)
    # a second run finds the verified download in the cache: no request
    s2 = materialise_source(data, small_nyu, tmp_path / "out2", progress=False)
    assert s2 == s and len(file_server.requests) == 2


def test_nyu_source_checksum_error(small_nyu: Path, tmp_path: Path, file_server: FileServer) -> None:
    blob = (small_nyu / "data" / "small.mat").read_bytes()
    url = file_server.add("/nyu_depth_v2_labeled.mat", blob)
    data = data_cfg("nyu", **{"nyu.url": url, "nyu.sha256": "a" * 64})
    with pytest.raises(DepthpipeError, match="sha256 mismatch: expected a{64}"):
        materialise_source(data, small_nyu, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "labeled.mat").exists()


# -- params -----------------------------------------------------------------------------------
def test_missing_class_mapping(tmp_path: Path) -> None:
    """Values are checked by the schema (tests/test_config.py); files are checked when the stage runs."""
    with pytest.raises(
        DepthpipeError, match=r"^params.yaml: data.class_mapping names .*nope.mat, which does not exist$"
    ):
        materialise_source(data_cfg("synthetic", class_mapping="nope.mat"), tmp_path, tmp_path / "out")


def test_link_or_copy_falls_back_to_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depthpipe.data.download import materialise as src_mod

    src = tmp_path / "a.bin"
    src.write_bytes(b"payload")

    def no_link(*args: object) -> None:
        raise OSError("cross-device link")

    monkeypatch.setattr(src_mod.os, "link", no_link)
    assert src_mod.link_or_copy(src, tmp_path / "out" / "b.bin") == "copy"
    assert (tmp_path / "out" / "b.bin").read_bytes() == b"payload"
    assert not os.path.samefile(src, tmp_path / "out" / "b.bin")
