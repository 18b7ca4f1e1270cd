"""DenseDepth's nyu_test.zip (eigen_test_{rgb,depth,crop}.npy) through the library: its reader and refusals, the
test split of nyu50k taken from it (download, data/raw, prepare), and its frame-by-frame comparison with
nyu_data.zip's test PNGs in validate. Every archive is a real zip with real .npy members, written here."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from depthpipe.data.download.materialise import materialise_source
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.prepared.hdf5 import PreparedSplit
from depthpipe.data.sources.nyu50k import Nyu50kZip
from depthpipe.data.sources.nyu_test_zip import DENSEDEPTH_CROP as NYU_TEST_CROP
from depthpipe.data.sources.nyu_test_zip import Nyu50kWithTestZip, NyuTestZip
from depthpipe.data.sources.raw_folder import open_raw, open_test_sets
from depthpipe.data.validation.set_agreement import compare_test_sets, comparison_lines
from depthpipe.data.validation.suite import failure_lines, validate_source
from depthpipe.errors import DepthpipeError
from depthpipe.metrics.depth import CROPS_480x640
from helpers.http_server import FileServer
from helpers.nyu50k import DENSEDEPTH_CROP, real_test_frames, synthetic_frames, write_nyu50k_zip, write_nyu_test_zip
from helpers.sections import MAPPING, MAX_DEPTH, check, data_cfg, prep

TRAIN = 3


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert len(text.splitlines()) == 1, text
    return text


@pytest.fixture(scope="module")
def frames() -> list[tuple[np.ndarray, np.ndarray]]:
    """The 3 real labeled test frames (dense depth, whole millimetres, as DenseDepth's test PNGs hold them)."""
    return real_test_frames(3)


@pytest.fixture
def both(tmp_path: Path, frames) -> tuple[Path, Path]:
    """nyu_data.zip (3 synthetic train frames, the real test frames as PNGs) and a nyu_test.zip of the same frames."""
    data = write_nyu50k_zip(tmp_path / "nyu_data.zip", synthetic_frames(TRAIN), frames)
    return data, write_nyu_test_zip(tmp_path / "nyu_test.zip", frames)


# -- the reader ----------------------------------------------------------------------------------------------
def test_both_test_set_layouts_read_the_same_arrays(both: tuple[Path, Path], frames, tmp_path: Path) -> None:
    data, test = both
    with NyuTestZip(test) as t, Nyu50kZip(data) as z:
        assert len(t) == 3 and t.membership() == ["test"] * 3 and t.full_size(0) == (480, 640)
        assert t.crop == DENSEDEPTH_CROP
        for j in (2, 0, 1):  # out of order: a seek back into the compressed member
            got, png = t.frame(j), z.frame(TRAIN + j)
            assert got.index == j and got.label is None and got.encoded is None
            assert got.rgb.dtype == np.uint8 and got.depth.dtype == np.float32
            np.testing.assert_array_equal(got.rgb, frames[j][0])
            np.testing.assert_array_equal(got.rgb, png.rgb)
            np.testing.assert_allclose(got.depth, png.depth, rtol=0, atol=1e-6)  # metres: same to 0.001 mm
    with Nyu50kWithTestZip(data, test) as combined, Nyu50kZip(data) as z:
        assert len(combined) == len(z) == TRAIN + 3 and combined.membership() == z.membership()
        assert combined.scene(0) == z.scene(0) and combined.frame(1).rgb.tobytes() == z.frame(1).rgb.tobytes()
        assert combined.frame(1).encoded == z.frame(1).encoded  # the train JPEG/PNG bytes, as they are
        last = pickle.loads(pickle.dumps(combined)).frame(TRAIN + 2)  # what a pool of prepare workers gets
        assert last.index == TRAIN + 2 and "eigen_test_rgb.npy" in last.name
        np.testing.assert_array_equal(last.rgb, frames[2][0])
    for name, source in (("png", Nyu50kZip(data)), ("npy", Nyu50kWithTestZip(data, test))):
        with source:
            prepare_source(source, MAPPING, tmp_path / name, prep("encoded", (64, 96), rgb_codec="png"), progress=False)
    png, npy = (PreparedSplit(tmp_path / name / "test.h5") for name in ("png", "npy"))
    for key in png.keys:
        np.testing.assert_array_equal(png.read(key, slice(None)), npy.read(key, slice(None)), err_msg=key)


def _bad(tmp_path: Path, frames, **kw) -> str:
    path = write_nyu_test_zip(tmp_path / f"bad{len(list(tmp_path.glob('bad*')))}.zip", frames, **kw)
    with pytest.raises(DepthpipeError) as exc, NyuTestZip(path) as t:
        for j in range(len(t)):
            t.frame(j)
    return one_line(exc)


def test_bad_members_are_one_line_naming_the_member(tmp_path: Path, frames) -> None:
    assert "missing member 'eigen_test_crop.npy' (DenseDepth's nyu_test.zip holds" in _bad(
        tmp_path, frames, leave_out="eigen_test_crop.npy"
    )
    depth64 = np.stack([d for _, d in frames]).astype(np.float64)
    assert "eigen_test_depth.npy: expected float32 metres (3, 480, 640)" in _bad(
        tmp_path, frames, replace={"eigen_test_depth.npy": depth64}
    )
    assert (
        "eigen_test_depth.npy: expected float32 metres (3, 480, 640) (the (N, H, W) of eigen_test_rgb.npy), got "
        "float32 (2, 480, 640)"
        in _bad(tmp_path, frames, replace={"eigen_test_depth.npy": depth64[:2].astype(np.float32)})
    )
    gray = np.stack([rgb[..., 0] for rgb, _ in frames])
    assert "eigen_test_rgb.npy: expected uint8 (N, H, W, 3), got uint8 (3, 480, 640)" in _bad(
        tmp_path, frames, replace={"eigen_test_rgb.npy": gray}
    )
    fortran = np.asfortranarray(np.stack([d for _, d in frames]))
    assert "eigen_test_depth.npy: a Fortran-ordered array" in _bad(
        tmp_path, frames, replace={"eigen_test_depth.npy": fortran}
    )
    assert "eigen_test_crop.npy: expected 4 numbers" in _bad(
        tmp_path, frames, replace={"eigen_test_crop.npy": np.zeros((2, 2))}
    )
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert "eigen_test_rgb.npy: cut short at frame 1 (its header says 3 frames)" in _bad(
            tmp_path, frames, cut="eigen_test_rgb.npy", compression=compression
        )
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(DepthpipeError, match="text.zip: not a readable zip archive"):
        NyuTestZip(tmp_path / "text.zip")


def test_a_crop_other_than_the_densedepth_protocols_is_one_line_naming_both(tmp_path: Path, frames) -> None:
    r0, r1, c0, c1 = CROPS_480x640["densedepth"]  # half-open; the file holds the last row and column inclusive
    assert DENSEDEPTH_CROP == NYU_TEST_CROP == (r0, r1 - 1, c0, c1 - 1)
    with NyuTestZip(write_nyu_test_zip(tmp_path / "ok.zip", frames, crop=np.asarray(DENSEDEPTH_CROP, np.int32))) as t:
        assert t.crop == DENSEDEPTH_CROP  # any integer dtype
    half_open = (r0, r1, c0, c1)  # the protocol's crop written as an exclusive end: one row and column too many
    msg = _bad(tmp_path, frames, crop=half_open)
    assert (
        msg.endswith(
            "eigen_test_crop.npy: crop [20, 460, 24, 616] differs from the densedepth protocol's [20, 459, 24, 615] "
            "(first row, last row, first column, last column, inclusive)"
        )
        and str(tmp_path / "bad0.zip") in msg
    )


# -- download and data/raw ---------------------------------------------------------------------------------
def test_nyu_test_zip_is_placed_beside_nyu_data_zip_and_gives_the_test_split(
    both: tuple[Path, Path], tmp_path: Path, file_server: FileServer
) -> None:
    data, test = both
    mine = data_cfg("nyu50k", file=str(data), **{"nyu_test.use": True, "nyu_test.file": str(test)})
    s = materialise_source(mine, tmp_path, tmp_path / "raw", progress=False)
    assert (s["frames"], s["train"], s["test"]) == (TRAIN + 3, TRAIN, 3)
    assert s["test_zip"]["file"] == str(test) and s["test_zip"]["crop"] == list(DENSEDEPTH_CROP)
    assert (tmp_path / "raw" / "nyu_test.zip").read_bytes() == test.read_bytes()
    with open_raw(tmp_path / "raw", "nyu50k") as source:
        assert isinstance(source, Nyu50kWithTestZip)
    pair = open_test_sets(tmp_path / "raw", "nyu50k")
    assert pair is not None and [type(p) for p in pair] == [Nyu50kZip, NyuTestZip]
    url = file_server.add("/densedepth/nyu_test.zip", test.read_bytes())
    fetched = materialise_source(
        data_cfg("nyu50k", file=str(data), **{"nyu_test.use": True, "nyu_test.url": url}),
        tmp_path,
        tmp_path / "raw2",
        progress=False,
    )
    assert fetched["test_zip"]["url"] == url and fetched["test_zip"]["sha256_published"] is False
    without = materialise_source(data_cfg("nyu50k", file=str(data)), tmp_path, tmp_path / "raw3", progress=False)
    assert "test_zip" not in without and open_test_sets(tmp_path / "raw3", "nyu50k") is None
    bad = write_nyu_test_zip(tmp_path / "bad.zip", real_test_frames(1), leave_out="eigen_test_depth.npy")
    with pytest.raises(DepthpipeError) as exc:
        materialise_source(
            data_cfg("nyu50k", file=str(data), **{"nyu_test.use": True, "nyu_test.file": str(bad)}),
            tmp_path,
            tmp_path / "raw4",
            progress=False,
        )
    assert "bad.zip: missing member 'eigen_test_depth.npy'" in one_line(exc)
    assert not (tmp_path / "raw4" / "nyu_test.zip").exists()


# -- validate: the two test sets compared ----------------------------------------------------------------------
def test_the_comparison_finds_a_one_millimetre_change_and_a_hole(both: tuple[Path, Path], frames, tmp_path) -> None:
    data, test = both
    with Nyu50kZip(data) as z, NyuTestZip(test) as t:
        same = compare_test_sets(z, t, 0.5, progress=False)
    assert same["success"] and same["max_diff_mm"] < 0.01 and same["rgb_max_diff"] == 0 and same["frames"] == 3
    assert comparison_lines(same)[0].endswith(
        "the 3 frames agree: depth within 0 mm (mean 0 mm), no hole in one set only, RGB identical"
    )
    moved = [(rgb, depth.copy()) for rgb, depth in frames]
    moved[1][1][200, 300] += 0.001  # 1 mm further, in one pixel of one frame
    moved[2][1][10:12, 10] = 0.0  # two pixels without a measurement
    changed = write_nyu_test_zip(tmp_path / "changed.zip", moved)
    with Nyu50kZip(data) as z, NyuTestZip(changed) as t:
        report = compare_test_sets(z, t, 0.5, progress=False)
        lenient = compare_test_sets(z, t, None, progress=False)
    assert not report["success"] and report["over"] == {"count": 1, "frames": [1], "values": [1.0]}
    assert report["max_diff_mm"] == pytest.approx(1.0, abs=1e-3)
    assert (report["holes_nyu_data_zip_only"], report["holes_nyu_test_zip_only"]) == (0, 2)
    assert report["hole_frames"] == {"count": 1, "frames": [2]}
    lines = comparison_lines(report)
    assert any("depth differs by up to 1 mm (validate.test_sets_max_diff_mm 0.5): 1 frames [1]" in x for x in lines)
    assert any(
        "holes in one set only: 0 pixels in nyu_data.zip's, 2 in nyu_test.zip's, in 1 frames [2]" in x for x in lines
    )
    assert lenient["success"] and lenient["over"]["count"] == 0 and "reported only" in comparison_lines(lenient)[-1]
    with Nyu50kWithTestZip(data, changed) as source:
        pair = (Nyu50kZip(data), NyuTestZip(changed))
        result = validate_source(
            source, check(), MAX_DEPTH, tmp_path / "r.json", tmp_path / "s.csv", test_sets=pair, progress=False
        )
    assert result["success"] is False and result["test_sets"]["over"]["frames"] == [1]
    assert any("depth differs by up to 1 mm" in line for line in failure_lines(result))
    short = write_nyu_test_zip(tmp_path / "short.zip", frames[:2])
    with Nyu50kZip(data) as z, NyuTestZip(short) as t:
        counted = compare_test_sets(z, t, 0.5, progress=False)
    assert (
        not counted["success"]
        and "nyu_data.zip lists 3 test frames, nyu_test.zip holds 2" in comparison_lines(counted)[0]
    )
