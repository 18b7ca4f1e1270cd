"""Data validation (``depthpipe.data.validation``): per-frame statistics, the GX suite, the report and its lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

from depthpipe.config import ValidateConfig, load_config
from depthpipe.data.sources.metadata import load_class_mapping, write_splits
from depthpipe.data.sources.nyu_mat import NYULabeledFile
from depthpipe.data.validation import frame_stats
from depthpipe.data.validation import suite as v
from depthpipe.errors import DepthpipeError
from helpers.nyu import (
    real_test_frames,
    write_real_frames_nyu,
    write_simple_splits,
    write_small_nyu,
)
from helpers.paths import CLASS_MAPPING, REPO

N, H, W = 5, 48, 64  # small frames: the reader takes any size


def make_params(**over: Any) -> ValidateConfig:
    section = {
        "min_valid_fraction": 0.5,
        "max_label": 894,
        "expected_frames": None,
        "expected_test_frames": None,
        "frame_size": None,
        "test_sets_max_diff_mm": 0.5,
    }
    section.update(over)
    return ValidateConfig.model_validate(section)


def run(
    tmp_path: Path,
    mat: Path,
    splits: Path,
    params: ValidateConfig | None = None,
    tag: str = "",
    max_depth: float = 10.0,
) -> dict[str, Any]:
    return v.validate_dataset(
        mat,
        splits,
        params or make_params(),
        max_depth,
        tmp_path / f"report{tag}.json",
        tmp_path / f"stats{tag}.csv",
        progress=False,
    )


def small(tmp_path: Path, n: int = N, **hooks: Any) -> tuple[Path, Path]:
    mat = write_small_nyu(tmp_path / "small.mat", n=n, h=H, w=W, **hooks)
    return mat, write_simple_splits(tmp_path / "splits.mat", n, n_test=2)


# -- the real frames pass --------------------------------------------------------------------------------
def test_real_frames_pass(tmp_path: Path) -> None:
    lut, _, names894 = load_class_mapping(CLASS_MAPPING)
    mat = tmp_path / "real.mat"
    write_real_frames_nyu(mat, lut, names894)
    z = real_test_frames()
    with NYULabeledFile(mat) as f:
        assert (len(f), f.height, f.width) == (5, 480, 640)
        frame = f.frame(4)
        assert np.array_equal(lut[frame.label], z["label40"][4])
        assert np.array_equal(frame.depth, z["depth_m"][4])
    splits = write_simple_splits(tmp_path / "splits.mat", 5, n_test=2)

    report = run(tmp_path, mat, splits, make_params(expected_frames=5))

    assert report["success"] is True, v.failure_lines(report)
    assert report["failed"] == [] and v.failure_lines(report) == []
    assert (report["frames"], report["train_frames"], report["test_frames"]) == (5, 3, 2)
    assert report["evaluated_expectations"] == report["successful_expectations"] == 10
    stats = pd.read_csv(tmp_path / "stats.csv")
    assert list(stats.columns) == list(frame_stats.COLUMNS)
    assert stats["frame"].tolist() == list(range(5)) and stats["nyu_index"].tolist() == list(range(1, 6))
    assert (stats["valid_fraction"] == 1.0).all() and stats["depth_min"].min() > 0.8 and stats["depth_max"].max() < 10
    assert stats["label_max"].max() <= 894 and stats["content_hash"].is_unique
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_repo_params_build_the_suite() -> None:
    params = load_config(REPO / "params.yaml")
    suite = v.build_suite(params.validate_, params.prepare.max_depth, 360)
    assert len(suite.expectations) == 12 and suite.expectations[0].value == 360  # 10 + height and width


# -- statistics ------------------------------------------------------------------------------------------
def test_frame_statistics_values_and_single_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mat, splits = small(tmp_path, nan_frames=[1], neg_frames=[2], labels={3: 900}, hole_frames={4: 1.0})
    reads: list[int] = []
    original = NYULabeledFile.frame

    def counting(self: NYULabeledFile, i: int, raw_depth: bool = False):  # type: ignore[no-untyped-def]
        reads.append(i)
        return original(self, i, raw_depth=raw_depth)

    monkeypatch.setattr(NYULabeledFile, "frame", counting)
    stats = frame_stats.frame_statistics(mat, splits, max_depth=10.0, progress=False)

    assert sorted(reads) == list(range(N))  # each frame read exactly once
    assert list(stats.columns) == list(frame_stats.COLUMNS) and len(stats) == N
    assert stats["split"].tolist() == ["train", "train", "train", "test", "test"]
    assert (stats["height"] == H).all() and (stats["width"] == W).all()
    row = stats.set_index("frame")
    assert row.loc[1, "nan_count"] == 4 and row.loc[0, "nan_count"] == 0
    assert row.loc[2, "neg_count"] == 4 and row.loc[2, "valid_fraction"] == pytest.approx(1 - 4 / (H * W))
    assert row.loc[3, "label_max"] == 900 and row.loc[0, "label_min"] == 0
    assert row.loc[4, "valid_fraction"] == 0.0 and np.isnan(row.loc[4, "depth_max"])  # no valid pixel
    assert row.loc[0, "depth_min"] == pytest.approx(1.0) and row.loc[0, "depth_max"] == pytest.approx(7.0)
    assert 0 < row.loc[0, "rgb_std"] < 128 and 0 < row.loc[0, "n_classes"] <= 40
    assert stats["content_hash"].str.fullmatch(r"[0-9a-f]{40}").all()


# -- rejections ------------------------------------------------------------------------------------------
CASES = {
    # name: (write_small_nyu hooks, params overrides, failing column, offending frames, text in the line)
    "nan_depth": (
        {"nan_frames": [1, 3]},
        {},
        "nan_count",
        [1, 3],
        "NaN depth (expected nan_count == 0): 2 frames [1, 3]",
    ),
    "inf_depth": ({"inf_frames": [2]}, {}, "inf_count", [2], "infinite depth (expected inf_count == 0): 1 frame [2]"),
    "negative_depth": (
        {"neg_frames": [0]},
        {},
        "neg_count",
        [0],
        "negative depth (expected neg_count == 0): 1 frame [0]",
    ),
    "depth_over_max": (
        {"far_frames": {3: 12.5}},
        {},
        "depth_max",
        [3],
        "expected depth_max <= 10 m): 1 frame [3] (depth_max: 12.5)",
    ),
    "label_over_894": (
        {"labels": {1: 900, 4: 895}},
        {},
        "label_max",
        [1, 4],
        "expected label_max <= 894): 2 frames [1, 4] (label_max: 900, 895)",
    ),
    "duplicate_frames": (
        {"duplicates": {3: 0}},
        {},
        "content_hash",
        [0, 3],
        "duplicate frames (expected content_hash unique",
    ),
    "low_valid_fraction": ({"hole_frames": {2: 0.75}}, {}, "valid_fraction", [2], "expected valid_fraction >= 0.5"),
    "no_valid_pixels": ({"hole_frames": {2: 1.0}}, {}, "valid_fraction", [2], "(valid_fraction: 0.0)"),
    "strict_max_depth": ({}, {"max_depth": 5.0}, "depth_max", [0, 1, 2, 3, 4], "expected depth_max <= 5 m): 5 frames"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejects_bad_frames(tmp_path: Path, name: str) -> None:
    hooks, over, column, frames, text = CASES[name]
    mat, splits = small(tmp_path, **hooks)

    over = dict(over)
    max_depth = over.pop("max_depth", 10.0)  # prepare's, passed beside the section
    report = run(tmp_path, mat, splits, make_params(**over), max_depth=max_depth)

    assert report["success"] is False
    assert [f["column"] for f in report["failed"]] == [column]  # exactly the injected problem fails
    (failure,) = report["failed"]
    assert failure["frames"] == frames and failure["count"] == len(frames)
    (line,) = v.failure_lines(report)
    assert line.startswith("validate: ") and text in line and "\n" not in line
    assert report["evaluated_expectations"] - report["successful_expectations"] == 1
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_rejects_frames_in_no_split_or_both(tmp_path: Path) -> None:
    mat = write_small_nyu(tmp_path / "small.mat", n=N, h=H, w=W)
    splits = tmp_path / "splits.mat"
    write_splits(splits, np.array([0, 1, 3]), np.array([3, 4]))  # frame 2 in neither, frame 3 in both

    report = run(tmp_path, mat, splits)

    (failure,) = report["failed"]
    assert (failure["column"], failure["frames"], failure["values"]) == ("split", [2, 3], ["none", "both"])
    (line,) = v.failure_lines(report)
    assert "frames in no split or in both" in line and "2 frames [2, 3] (split: none, both)" in line
    assert (report["train_frames"], report["test_frames"]) == (2, 1)


def test_rejects_frames_of_another_size(tmp_path: Path) -> None:
    """A NYU-source file of 48x64 frames is refused frame by frame (the Eigen crop would silently rescale)."""
    mat, splits = small(tmp_path)
    report = run(tmp_path, mat, splits, make_params(frame_size=[480, 640]))
    assert [f["column"] for f in report["failed"]] == ["height", "width"]
    assert v.failure_lines(report)[0] == (
        f"validate: frames not 480x640 (validate.frame_size; expected height == 480): {N} frames "
        f"{list(range(N))} (height: {', '.join([str(H)] * N)})"
    )
    assert run(tmp_path, mat, splits, make_params(frame_size=[H, W]))["success"] is True


def test_rejects_wrong_frame_count(tmp_path: Path) -> None:
    mat, splits = small(tmp_path)
    report = run(tmp_path, mat, splits, make_params(expected_frames=1449))
    (failure,) = report["failed"]
    assert failure["expectation"] == "expect_table_row_count_to_equal" and failure["count"] == N
    assert v.failure_lines(report) == [f"validate: expected 1449 frames (validate.expected_frames): found {N}"]


def test_reports_every_problem_and_caps_frame_lists(tmp_path: Path) -> None:
    n = v.MAX_LISTED_FRAMES + 5
    mat = write_small_nyu(tmp_path / "many.mat", n=n, h=8, w=8, nan_frames=range(n), labels={7: 900})
    splits = write_simple_splits(tmp_path / "splits.mat", n, n_test=5)

    report = run(tmp_path, mat, splits, make_params(expected_frames=n + 1))

    assert [f["column"] for f in report["failed"]] == [None, "nan_count", "label_max"]  # suite order
    nan = report["failed"][1]
    assert nan["count"] == n and nan["frames"] == list(range(v.MAX_LISTED_FRAMES))
    lines = v.failure_lines(report)
    assert len(lines) == 3 and f"(first {v.MAX_LISTED_FRAMES} of {n})" in lines[1]
    assert "1 frame [7] (label_max: 900)" in lines[2]


# -- opening errors --------------------------------------------------------------------------------------
def test_missing_depths_key(tmp_path: Path) -> None:
    mat, splits = small(tmp_path)
    with h5py.File(mat, "r+") as f:
        del f["depths"]
    with pytest.raises(DepthpipeError, match=r"small\.mat: missing key 'depths'") as err:
        run(tmp_path, mat, splits)
    assert str(mat) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "stats.csv").exists()


def test_wrong_label_shape(tmp_path: Path) -> None:
    mat, splits = small(tmp_path)
    with h5py.File(mat, "r+") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.zeros((N, W, H + 1), np.uint16))
    with pytest.raises(DepthpipeError, match=r"key 'labels' has shape \(5, 64, 49\)") as err:
        frame_stats.frame_statistics(mat, splits, max_depth=10.0, progress=False)
    assert str(mat) in str(err.value)


def test_truncated_file(tmp_path: Path) -> None:
    mat, splits = small(tmp_path)
    size = mat.stat().st_size
    with open(mat, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(DepthpipeError, match="truncated or corrupt") as err:
        run(tmp_path, mat, splits)
    assert str(mat) in str(err.value) and "\n" not in str(err.value)


def test_split_file_errors(tmp_path: Path) -> None:
    mat, _ = small(tmp_path)
    only_train = tmp_path / "only_train.mat"
    sio.savemat(only_train, {"trainNdxs": np.arange(1, N + 1, dtype=np.uint16).reshape(-1, 1)})
    with pytest.raises(DepthpipeError, match=r"only_train\.mat: missing key 'testNdxs'"):
        frame_stats.frame_statistics(mat, only_train, max_depth=10.0, progress=False)
    too_far = write_simple_splits(tmp_path / "too_far.mat", N + 1, n_test=1)  # lists frame 6 of a 5-frame file
    with pytest.raises(DepthpipeError, match=r"too_far\.mat: key 'testNdxs' has index 6 outside 1\.\.5"):
        frame_stats.frame_statistics(mat, too_far, max_depth=10.0, progress=False)
    with pytest.raises(DepthpipeError, match="split file not found"):
        frame_stats.frame_statistics(mat, tmp_path / "absent.mat", max_depth=10.0, progress=False)


# -- determinism -----------------------------------------------------------------------------------------
def test_deterministic_outputs(tmp_path: Path) -> None:
    mat, splits = small(tmp_path, nan_frames=[2], duplicates={4: 1}, hole_frames={3: 1.0})
    first = run(tmp_path, mat, splits, tag="1")
    second = run(tmp_path, mat, splits, tag="2")
    assert first == second
    assert (tmp_path / "report1.json").read_bytes() == (tmp_path / "report2.json").read_bytes()
    assert (tmp_path / "stats1.csv").read_bytes() == (tmp_path / "stats2.csv").read_bytes()
    assert list(tmp_path.glob("*.tmp-*")) == []  # atomic writes leave nothing behind
    text = (tmp_path / "report1.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
