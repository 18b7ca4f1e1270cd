"""``depthpipe predict``: depth PNGs from an exported model match the eager model on real NYU frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from depthpipe.errors import DepthpipeError
from helpers.models import save_calibrated
from helpers.nyu import real_test_frames

INPUT_HW = (64, 96)
SB_PARAMS = {"backbone": "resnet18", "encoder_weights": "none", "lsu": True, "num_classes": 40, "decoder_width": 0.5}
TOL_M = 1.5e-3  # 1e-3 m ONNX parity + 0.5 mm PNG quantisation


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return real_test_frames()["rgb"]


@pytest.fixture(scope="module")
def export_dir(rgb: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A semantic_booster (resnet18, 64x96) with seeded weights, exported without registry."""
    from depthpipe.export.exporter import staged_export

    root = tmp_path_factory.mktemp("predict_root")
    small = np.stack([np.asarray(Image.fromarray(f).resize(INPUT_HW[::-1], Image.BILINEAR)) for f in rgb])
    save_calibrated(
        root / "models" / "semantic_booster",
        "semantic_booster",
        SB_PARAMS,
        small,
        lambda m: m.depth_branch.head[-1],
        1.0,
        2.0,
    )
    out = root / "exports" / "semantic_booster"
    with staged_export(root / "models" / "semantic_booster", out, small[:4], tolerance=1e-3, opset=18):
        pass  # in place once the block ends
    return out


_EAGER: dict[Path, nn.Module] = {}


def expected_metres(export_dir: Path, image: Path) -> np.ndarray:
    """The eager model's depth for ``image``, pre- and post-processed exactly as predict does."""
    from depthpipe.export.exporter import wrap_trained
    from depthpipe.serving.photo import to_model_input, to_original_size
    from depthpipe.serving.predict import read_photo

    model_dir = export_dir.parent.parent / "models" / "semantic_booster"
    if model_dir not in _EAGER:
        _EAGER[model_dir] = wrap_trained(model_dir)[0]
    wrapped = _EAGER[model_dir]
    arr, size = read_photo(image, INPUT_HW)
    with torch.no_grad():
        out = wrapped(to_model_input(arr, INPUT_HW)).numpy()
    return to_original_size(out, size)


@pytest.fixture()
def images(rgb: np.ndarray, tmp_path: Path) -> list[Path]:
    d = tmp_path / "in"
    d.mkdir()
    paths = []
    for i in (0, 1):
        p = d / f"frame{i}.png"
        Image.fromarray(rgb[i]).save(p)
        paths.append(p)
    p = d / "small.png"  # another size
    Image.fromarray(rgb[2]).resize((400, 300), Image.BILINEAR).save(p)
    paths.append(p)
    p = d / "photo.jpg"
    Image.fromarray(rgb[3]).save(p, quality=92)
    paths.append(p)
    return paths


def check_outputs(export_dir: Path, out: Path, image: Path, name: str | None = None) -> float:
    name = image.stem if name is None else name
    depth_png = Image.open(out / f"{name}_depth.png")
    depth = np.asarray(depth_png)
    src = Image.open(image)
    assert depth.dtype == np.uint16 and depth.shape == (src.height, src.width)
    with Image.open(out / f"{name}_preview.png") as preview:  # a picture with a colour bar
        assert preview.format == "PNG" and preview.width > 400 and preview.height > 300
    ref = expected_metres(export_dir, image)
    assert ref.min() >= 0.1 and ref.max() <= 10.0 and ref.std() > 0.1  # a real depth map, not a constant
    err = float(np.abs(depth.astype(np.float64) / 1000.0 - ref).max())
    assert err < TOL_M, f"{image.name}: max |png - eager| = {err:.4g} m"
    return err


def test_onnx_predictions_match_eager(export_dir: Path, images: list[Path], tmp_path: Path):
    from depthpipe.serving.predict import predict_images

    out = tmp_path / "out"
    result = predict_images(images, export_dir, out)
    assert result == [(p, None) for p in images]
    for p in images:
        check_outputs(export_dir, out, p)
    assert not [f for f in out.iterdir() if ".tmp-" in f.name]


def test_pt2_backend(export_dir: Path, images: list[Path], tmp_path: Path):
    from depthpipe.serving.predict import predict_images

    out = tmp_path / "out_pt2"
    assert predict_images(images[2:3], export_dir, out, backend="pt2") == [(images[2], None)]
    check_outputs(export_dir, out, images[2])


def test_corrupt_image_reported_and_others_continue(export_dir: Path, images: list[Path], tmp_path: Path, capsys):
    from depthpipe.serving.predict import predict_images

    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "in" / "truncated.png"
    buf = io.BytesIO()
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(buf, format="PNG")
    truncated.write_bytes(buf.getvalue()[:40])
    missing = tmp_path / "in" / "missing.jpg"
    out = tmp_path / "out"
    result = predict_images([bad, images[0], truncated, missing, images[2]], export_dir, out)
    errors = {p.name: e for p, e in result}
    assert errors["frame0.png"] is None and errors["small.png"] is None
    for name in ("broken.png", "truncated.png", "missing.jpg"):
        assert errors[name] and errors[name].startswith("cannot read image (")
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 3
    assert err_lines[0].startswith(f"predict: {bad}: cannot read image (") and err_lines[0].endswith(")")
    assert sorted(f.name for f in out.iterdir()) == [
        "frame0_depth.png",
        "frame0_preview.png",
        "small_depth.png",
        "small_preview.png",
    ]


def test_model_dir_errors(export_dir: Path, images: list[Path], tmp_path: Path):
    from depthpipe.serving.predict import predict_images

    with pytest.raises(DepthpipeError, match="export.json: not found"):
        predict_images(images, tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(DepthpipeError, match="backend must be onnx or pt2"):
        predict_images(images, export_dir, tmp_path / "out", backend="tflite")  # type: ignore[arg-type]


def test_png16_helper():
    from depthpipe.serving.predict import depth_to_png16

    mm = depth_to_png16(np.array([[0.1, 1.2344, 70.0, np.nan]]))
    assert mm.dtype == np.uint16 and mm.tolist() == [[100, 1234, 65535, 0]]


def test_preview_is_the_depth_with_a_colour_bar_in_metres(
    export_dir: Path, images: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The preview draws the predicted depth itself, on its own 2nd-98th percentile or on the model's range."""
    import depthpipe.viz.maps as viz_maps
    from depthpipe.serving.predict import predict_images
    from depthpipe.viz.style import DEPTH, depth_range

    figures = []
    draw = viz_maps.preview_figure

    def keep_figure(*args, **kwargs):
        figures.append(draw(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(viz_maps, "preview_figure", keep_figure)
    for how in ("robust", "fixed"):
        out = tmp_path / how
        assert predict_images(images[:1], export_dir, out, preview_range=how) == [(images[0], None)]
        fig = figures[-1]
        (image,) = [im for ax in fig.axes for im in ax.images]
        depth_m = np.asarray(Image.open(out / "frame0_depth.png"), dtype=np.float64) / 1000.0
        assert np.abs(np.asarray(image.get_array()) - depth_m).max() < 1e-3  # the depth itself, in metres
        expected = depth_range(depth_m) if how == "robust" else (0.1, 10.0)
        assert image.get_clim() == pytest.approx(expected, abs=2e-3)
        (bar,) = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
        assert bar.get_ylabel() == DEPTH.label
    with pytest.raises(DepthpipeError, match="preview_range must be robust or fixed"):
        predict_images(images[:1], export_dir, tmp_path / "bad", preview_range="auto")  # type: ignore[arg-type]


def test_a_directory_without_images_is_an_error(tmp_path: Path, capsys):
    from depthpipe.cli import main
    from depthpipe.serving.predict import expand_inputs

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DepthpipeError, match=r"empty: a directory without PNG or JPEG images"):
        expand_inputs([tmp_path / "empty"])
    assert main(["predict", str(tmp_path / "empty"), "--model", str(tmp_path / "exports")]) == 1
    assert "a directory without PNG or JPEG images" in capsys.readouterr().err


def test_out_that_is_a_file_or_lies_under_one_is_one_line(export_dir: Path, images: list[Path], tmp_path: Path, capsys):
    """Not a NotADirectoryError/FileExistsError traceback: one line naming it, exit 1, the file untouched."""
    from depthpipe.cli import main

    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for out, says in ((notes, "is a file"), (notes / "sub" / "dir", f"lies under {notes}, a file")):
        assert main(["predict", str(images[0]), "--model", str(export_dir), "--out", str(out)]) == 1
        assert capsys.readouterr().err.strip().splitlines() == [
            f"depthpipe predict: error: --out {out} {says}; give a directory"
        ]
    assert notes.read_text() == "mine"


def test_inputs_sharing_a_stem_keep_their_outputs_apart(export_dir: Path, rgb: np.ndarray, tmp_path: Path):
    """``x.jpg`` and ``x.png`` write ``x.jpg_*`` and ``x.png_*``; two ``x.jpg`` in different folders are refused."""
    from depthpipe.serving.predict import predict_images

    (tmp_path / "in").mkdir()
    jpg, png = tmp_path / "in" / "x.jpg", tmp_path / "in" / "x.png"
    Image.fromarray(rgb[0]).save(jpg, quality=92)
    Image.fromarray(rgb[1]).save(png)
    out = tmp_path / "out"
    assert predict_images([jpg, png], export_dir, out) == [(jpg, None), (png, None)]
    assert sorted(f.name for f in out.iterdir()) == [
        "x.jpg_depth.png",
        "x.jpg_preview.png",
        "x.png_depth.png",
        "x.png_preview.png",
    ]
    check_outputs(export_dir, out, jpg, "x.jpg")  # each is its own photo's depth
    check_outputs(export_dir, out, png, "x.png")
    (tmp_path / "other").mkdir()
    other = tmp_path / "other" / "x.jpg"
    Image.fromarray(rgb[2]).save(other, quality=92)
    with pytest.raises(DepthpipeError) as exc:
        predict_images([jpg, png, other], export_dir, tmp_path / "out2")
    assert str(exc.value).splitlines() == [
        f"{jpg} and {other} would both write x.jpg_depth.png (rename one, or predict them into different --out folders)"
    ]
    assert not (tmp_path / "out2").exists()  # refused before anything was read or written


def _jpeg(path: Path, rgb: np.ndarray, size: tuple[int, int], **save) -> Path:
    """A real NYU photo resized to ``size`` (W, H), saved as a JPEG."""
    Image.fromarray(rgb).resize(size, Image.BILINEAR).save(path, quality=90, **save)
    return path


def test_large_photos_are_decoded_at_a_reduced_scale(rgb: np.ndarray, tmp_path: Path):
    """A baseline JPEG is drafted to 1/8 and box-reduced, a progressive one decoded whole then reduced: both end
    at least the model input; the photo's own size comes back for the output."""
    from depthpipe.serving.predict import read_photo

    baseline = _jpeg(tmp_path / "b.jpg", rgb[0], (4000, 3000))
    progressive = _jpeg(tmp_path / "p.jpg", rgb[0], (4000, 3000), progressive=True)
    small, size = read_photo(baseline, INPUT_HW)
    assert size == (3000, 4000) and small.shape == (75, 100, 3)  # 1/8: 375x500, then reduce(5)
    whole, size = read_photo(progressive, INPUT_HW)
    assert size == (3000, 4000) and whole.shape == (74, 98, 3)  # reduce(41), rounding up
    assert np.abs(small.astype(float).mean((0, 1)) - whole.astype(float).mean((0, 1))).max() < 4.0  # same photo


def test_photos_above_the_pixel_limits_are_one_line(
    export_dir: Path, images: list[Path], rgb: np.ndarray, tmp_path: Path, capsys
):
    """A PNG (decoded whole) above 50 megapixels is refused from its header; a baseline JPEG above its limit
    too; the other images are still predicted."""
    from depthpipe.serving import photo
    from depthpipe.serving.predict import predict_images

    png = tmp_path / "huge.png"
    Image.new("RGB", (8000, 6400), (90, 120, 150)).save(png, compress_level=1)  # 51.2 MP, 0.7 MB
    jpg = _jpeg(tmp_path / "big.jpg", rgb[0], (4000, 3000))
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(photo, "MAX_JPEG_PIXELS", 10_000_000)
        result = predict_images([png, jpg, images[0]], export_dir, out)
    errors = [e for _, e in result]
    assert errors[0] == "8000x6400 is 51.2 megapixels, above the 50.0 megapixels a PNG decoded whole may have"
    assert errors[1] == "4000x3000 is 12.0 megapixels, above the 10.0 megapixels a baseline JPEG may have"
    assert errors[2] is None
    assert capsys.readouterr().err.strip().splitlines() == [
        f"predict: {png}: {errors[0]}",
        f"predict: {jpg}: {errors[1]}",
    ]
    assert sorted(f.name for f in out.iterdir()) == ["frame0_depth.png", "frame0_preview.png"]


@pytest.mark.slow
def test_a_144_megapixel_photo_in_bounded_memory_and_time(
    export_dir: Path, images: list[Path], rgb: np.ndarray, tmp_path: Path
):
    """The issue's 12000x12000 JPEG (57 s and 10.2 GB before, with PIL's DecompressionBombWarning), in a child
    process after a 480x640 photo: a 4000x4000 depth map (the photo's size / 3: within 16.8 megapixels), said
    on stderr, no PIL warning, and a peak RSS less than 512 MiB above the 480x640 photo's."""
    import json
    import subprocess
    import sys

    photo = _jpeg(tmp_path / "huge.jpg", rgb[3], (12000, 12000))
    out = tmp_path / "out"
    child = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from depthpipe.serving.predict import predict_images\n"
        "small, huge, model, out = sys.argv[1:]\n"
        "assert predict_images([Path(small)], model, Path(out))[0][1] is None\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert predict_images([Path(huge)], model, Path(out))[0][1] is None\n"
        "print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(images[0]), str(photo), str(export_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rise = json.loads(done.stdout.strip().splitlines()[-1])
    assert (
        f"predict: {photo}: 12000x12000 photo, depth written at 4000x4000 (maps above 16.8 megapixels are scaled "
        "down)" in done.stderr.splitlines()
    )
    assert "DecompressionBomb" not in done.stderr
    depth = np.asarray(Image.open(out / "huge_depth.png"))
    assert depth.dtype == np.uint16 and depth.shape == (4000, 4000) and depth.min() >= 100 and depth.max() <= 10000
    assert rise < 512 * 2**20, f"peak RSS {rise / 2**20:.0f} MiB above the 480x640 photo's"


def _portrait_jpeg(photo: np.ndarray, path: Path) -> Path:
    """``photo`` stored turned a quarter counter-clockwise, with EXIF orientation 6 ("turn it clockwise to
    display"): viewers (and ``ImageOps.exif_transpose``) show ``photo`` itself, as a phone stores a portrait."""
    from PIL import Image

    stored = Image.fromarray(np.ascontiguousarray(np.rot90(photo, k=1)))  # 90 degrees counter-clockwise
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    stored.save(path, quality=95, exif=exif.tobytes())
    return path


def test_a_photo_with_exif_orientation_is_predicted_as_it_is_displayed(
    export_dir: Path, rgb: np.ndarray, tmp_path: Path
):
    """A portrait JPEG stored sideways (EXIF orientation 6): the depth PNG is portrait, and it is the depth of
    the photo as displayed (the same as predicting the displayed pixels, up to JPEG noise)."""
    from PIL import ImageOps

    from depthpipe.serving.predict import predict_images

    portrait = np.ascontiguousarray(np.concatenate([rgb[0], rgb[1]], axis=0)[:, 120:520])  # 960 high, 400 wide
    photo = _portrait_jpeg(portrait, tmp_path / "phone.jpg")
    with Image.open(photo) as stored:
        assert stored.size == (960, 400) and ImageOps.exif_transpose(stored).size == (400, 960)
    upright = tmp_path / "upright.png"
    Image.fromarray(portrait).save(upright)
    out = tmp_path / "out"
    assert predict_images([photo, upright], export_dir, out) == [(photo, None), (upright, None)]
    turned = np.asarray(Image.open(out / "phone_depth.png")).astype(np.float64) / 1000.0
    ref = np.asarray(Image.open(out / "upright_depth.png")).astype(np.float64) / 1000.0
    assert turned.shape == ref.shape == (960, 400)
    right, upside_down = (float(np.abs(d - ref).mean() / ref.mean()) for d in (turned, np.rot90(turned, 2)))
    assert right < 0.05 and 3 * right < upside_down, (right, upside_down)  # JPEG noise, not another picture


def test_a_corrupt_pt2_is_one_line_and_nothing_else(export_dir: Path, images: list[Path], tmp_path: Path, capfd):
    """Not torch's logged traceback before the error: the one line names the file."""
    import shutil

    from depthpipe.cli import main

    broken = tmp_path / "export"
    shutil.copytree(export_dir, broken)
    data = (broken / "model.pt2").read_bytes()
    (broken / "model.pt2").write_bytes(data[: len(data) // 3])
    assert main(["predict", str(images[0]), "--model", str(broken), "--backend", "pt2", "--out", str(tmp_path)]) == 1
    out, err = capfd.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"depthpipe predict: error: {broken / 'model.pt2'}: cannot load exported program (")


def test_a_full_disk_under_out_is_one_line_naming_the_file(
    export_dir: Path, images: list[Path], tmp_path: Path, capsys
):
    from depthpipe.cli import main
    from helpers.mounts import tmpfs

    with tmpfs(tmp_path / "disk", "64k") as disk:
        (disk / "filler").write_bytes(b"\0" * (60 << 10))
        assert main(["predict", str(images[0]), "--model", str(export_dir), "--out", str(disk)]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line == (
            f"depthpipe predict: error: {disk / 'frame0_depth.png'}: no space left on its disk: free some and run "
            "again [errno 28 ENOSPC]"
        )
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
