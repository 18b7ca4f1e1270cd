"""The export stage: .pt2 and ONNX parity on real NYU frames, dynamic batch, parity failure, MLflow registry.

One small DenseDepth (decoder_width 0.25, 64x96 input, seeded random weights whose head is rescaled so the
output spans a realistic depth range instead of saturating at the clamp) is exported once per module.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from depthpipe.errors import DepthpipeError
from helpers.models import save_calibrated
from helpers.nyu import real_test_frames
from helpers.paths import REPO

BASELINE = {
    "abs_rel": 0.5,
    "sq_rel": 0.6,
    "rmse": 1.3,
    "rmse_log": 0.4,
    "log10": 0.15,
    "delta1": 0.4,
    "delta2": 0.7,
    "delta3": 0.9,
}
GOOD = {
    "abs_rel": 0.21,
    "sq_rel": 0.2,
    "rmse": 0.8,
    "rmse_log": 0.25,
    "log10": 0.09,
    "delta1": 0.7,
    "delta2": 0.9,
    "delta3": 0.97,
}
INPUT_HW = (64, 96)
DD_PARAMS = {"decoder_width": 0.25, "encoder_weights": "none"}


def real_frames(hw: tuple[int, int]) -> np.ndarray:
    """The real NYU test frames resized to ``hw`` (uint8)."""
    rgb = real_test_frames()["rgb"]
    return np.stack([np.asarray(Image.fromarray(f).resize((hw[1], hw[0]), Image.BILINEAR)) for f in rgb])


def make_model_dir(path: Path, frames: np.ndarray) -> Path:
    return save_calibrated(path, "densedepth", DD_PARAMS, frames, lambda m: m.conv3, 8.0, 3.0, "f" * 64)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, new_store):
    root = tmp_path_factory.mktemp("export_root")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # a new experiment's default artifact root is ./mlruns of the working directory
        mp.setenv("MLFLOW_TRACKING_URI", new_store(root))
        yield root


def _export_logged(
    workspace: Path, summary: dict, model_dir: Path, out_dir: Path, images: np.ndarray, metrics_path: Path | None
) -> dict[str, Any]:
    """What the export stage does: export, log and register with ``workspace``'s evidence, then move into place;
    returns export.json's content plus ``registry``."""
    from depthpipe.export.exporter import staged_export
    from depthpipe.export.registration import log_export
    from depthpipe.workspace import WorkspacePaths

    with staged_export(model_dir, out_dir, images, 1e-3, 18, metrics_path=metrics_path) as checked:
        entry = log_export(checked.config, checked.report, checked.folder, summary, True, {}, WorkspacePaths(workspace))
    return {**checked.report, **({"registry": entry} if entry else {})}


@pytest.fixture(scope="module")
def exported(env: Path):
    """(root, model_dir, out_dir, frames, result, train_run_id): one registered export."""
    from depthpipe.files import sha256_file
    from depthpipe.tracking import runs

    frames = real_frames(INPUT_HW)
    model_dir = make_model_dir(env / "models" / "densedepth", frames)
    with runs.stage_run(
        "train",
        "densedepth",
        {"lr": 1e-3},
        {
            "depthpipe.stage": "train",
            "depthpipe.variant": "densedepth",
            runs.MODEL_SHA_TAG: sha256_file(model_dir / "model.pt"),
        },
        system_metrics=False,
    ) as run:
        train_run_id = run.run_id
    (env / "metrics").mkdir()
    (env / "metrics" / "densedepth.json").write_text(json.dumps({"standard": GOOD}))
    summary = {"frames": 10, "baseline": {"standard": BASELINE}}
    (env / "summary.json").write_text(json.dumps(summary))
    _evidence(env, 1.0)
    out_dir = env / "exports" / "densedepth"
    result = _export_logged(env, summary, model_dir, out_dir, frames[:4], env / "metrics" / "densedepth.json")
    return env, model_dir, out_dir, frames, result, train_run_id


_EAGER: dict[Path, nn.Module] = {}


def eager_metres(model_dir: Path, x: torch.Tensor) -> np.ndarray:
    from depthpipe.export.exporter import wrap_trained

    if model_dir not in _EAGER:
        _EAGER[model_dir] = wrap_trained(model_dir)[0]
    wrapped = _EAGER[model_dir]
    with torch.no_grad():
        return wrapped(x).numpy()


def test_parity_files_and_model_card(exported):
    root, model_dir, out_dir, frames, result, _ = exported
    assert sorted(p.name for p in out_dir.iterdir()) == ["export.json", "model.onnx", "model.pt2"]  # no temp files
    text = (out_dir / "export.json").read_text()
    report = json.loads(text)
    assert text == json.dumps(report, indent=2, sort_keys=True) + "\n"  # deterministic layout
    assert report["passed"] is True and report["tolerance_m"] == 1e-3
    assert report["parity"]["max_abs_diff_m"]["pt2"] < 1e-4
    assert report["parity"]["max_abs_diff_m"]["onnx"] < 1e-3
    assert report["parity"]["frames"] == 4 and report["parity"]["batch_sizes"] == [3, 1]
    card = report["model_card"]
    assert card["input"]["spec"] == "float32 RGB in [0,1], NCHW" and card["input"]["size"] == list(INPUT_HW)
    assert card["output"]["spec"] == "depth in metres (N,1,H,W)"
    assert card["normalisation"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert card["normalisation"]["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert card["depth_range_m"] == [0.1, 10.0]
    assert card["training"]["data_sha256"] == "f" * 64
    assert "git" not in text and "run_id" not in text  # provenance is MLflow's: the same model, the same bytes
    for name in ("model.pt2", "model.onnx"):  # no source paths either: a clone elsewhere exports the same bytes
        assert str(REPO / "src").encode() not in (out_dir / name).read_bytes(), name
    assert card["test_metrics"]["standard"]["abs_rel"] == 0.21
    assert "registry" not in report and "registry" in result
    # the eager model is not trivially saturated at the clamp: parity is measured on real depth values
    from depthpipe.export.exporter import images_to_tensor

    depth = eager_metres(model_dir, images_to_tensor(frames[:4]))
    assert depth.shape == (4, 1, *INPUT_HW)
    assert ((depth > 0.2) & (depth < 9.9)).mean() > 0.5 and depth.std() > 0.3


def test_dynamic_batch_pt2_and_onnx(exported):
    from depthpipe.export.runtimes import images_to_tensor, load_pt2, onnx_session

    _, model_dir, out_dir, frames, _, _ = exported
    pt2 = load_pt2(out_dir / "model.pt2")
    sess = onnx_session(out_dir / "model.onnx")
    assert isinstance(sess.get_inputs()[0].shape[0], str)  # symbolic batch dim
    for sl in (slice(4, 5), slice(1, 4)):  # batch 1 and 3 (the export example had 2)
        x = images_to_tensor(frames[sl])
        ref = eager_metres(model_dir, x)
        with torch.no_grad():
            out_pt2 = pt2(x).numpy()
        out_onnx = sess.run(["depth_m"], {"rgb": x.numpy()})[0]
        assert out_pt2.shape == out_onnx.shape == (x.shape[0], 1, *INPUT_HW)
        assert np.abs(out_pt2 - ref).max() < 1e-4
        assert np.abs(out_onnx - ref).max() < 1e-3


def test_parity_failure_writes_report_and_raises(exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A forced 1 cm mismatch between eager and exported graphs fails a 1 mm tolerance."""
    import depthpipe.export.exporter as ex

    root, model_dir, out_dir, frames, result, _ = exported
    # reuse the module's exported files instead of exporting again (speed); the eager side is shifted by 1 cm
    monkeypatch.setattr(ex, "export_program", lambda module, example: None)
    monkeypatch.setattr(ex, "export_pt2", lambda program, path: shutil.copy(out_dir / "model.pt2", path))
    monkeypatch.setattr(ex, "export_onnx", lambda program, path, opset: shutil.copy(out_dir / "model.onnx", path))
    real_wrap = ex.wrap_trained

    class Shifted(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.model = inner.model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) + 0.01

    def shifted_wrap(d):
        wrapped, config = real_wrap(d)
        return Shifted(wrapped), config

    monkeypatch.setattr(ex, "wrap_trained", shifted_wrap)
    bad = tmp_path / "bad"
    with pytest.raises(DepthpipeError, match=r"export.json: parity failed: .* > tolerance 0.001 m"):
        _export_logged(root, {}, model_dir, bad, frames[:4], metrics_path=None)
    report = json.loads((bad / "export.json").read_text())
    assert report["passed"] is False
    assert report["parity"]["max_abs_diff_m"]["pt2"] == pytest.approx(0.01, rel=1e-3)
    assert report["model_card"]["test_metrics"] is None
    # nothing was registered for the failed export, and no model file was left beside the failed verdict
    from depthpipe.tracking import registry

    assert registry.model_version_for_alias("depthpipe-densedepth", "candidate") == result["registry"]["version"]
    assert sorted(p.name for p in bad.iterdir()) == ["export.json"]


def test_bad_parity_images_rejected(exported, tmp_path: Path):
    from depthpipe.export.exporter import staged_export

    root, model_dir, _, frames, _, _ = exported
    with (
        pytest.raises(DepthpipeError, match=r"parity images must be \(N,64,96,3\) uint8"),
        staged_export(model_dir, tmp_path / "x", frames[:2, :32], 1e-3, 18),
    ):
        pass


def _b64_jpeg(rgb: np.ndarray, size: tuple[int, int]) -> str:
    """A real photo resized to ``size`` (W, H), as a base64 JPEG."""
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).resize(size, Image.BILINEAR).save(buf, format="JPEG", quality=90)
    return base64.b64encode(buf.getvalue()).decode()


def _b64_huge_png() -> str:
    """A real 8000x6400 PNG (51.2 megapixels of one colour, 0.7 MB), base64."""
    import base64
    import io

    buf = io.BytesIO()
    Image.new("RGB", (8000, 6400), (90, 120, 150)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode()


def _b64_png(rgb: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


_SERVED: dict[str, object] = {}


def served_candidate(exported) -> Any:
    """``models:/depthpipe-densedepth@candidate`` loaded as ``mlflow models serve`` loads it (once)."""
    import mlflow

    if "candidate" not in _SERVED:
        _SERVED["candidate"] = mlflow.pyfunc.load_model("models:/depthpipe-densedepth@candidate")
    return _SERVED["candidate"]


def test_registry_version_serves_images_of_any_size(exported):
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from depthpipe.export.exporter import images_to_tensor
    from depthpipe.tracking import store

    root, model_dir, out_dir, frames, result, train_run_id = exported
    reg = result["registry"]
    assert reg["name"] == "depthpipe-densedepth" and reg["alias"] == "candidate"  # it beats the baseline
    store.configure()
    client = MlflowClient()
    run = client.get_run(reg["run_id"])  # the export stage's own run, linked to the train run
    assert run.info.status == "FINISHED" and run.data.tags["depthpipe.stage"] == "export"
    assert run.data.tags["depthpipe.train_run"] == train_run_id
    assert run.data.metrics["parity/pt2_max_abs_m"] < 1e-4
    assert "parity/pt2_max_abs_m" not in client.get_run(train_run_id).data.metrics
    mv = client.get_model_version_by_alias("depthpipe-densedepth", "candidate")
    assert str(mv.version) == reg["version"] and mv.tags["depthpipe.variant"] == "densedepth"
    assert (
        "abs_rel 0.21" in mv.description and "depth in metres" in client.get_registered_model(reg["name"]).description
    )
    logged = mlflow.get_logged_model(reg["model_id"])
    assert logged.name == "depthpipe-densedepth"
    assert {m.key: m.value for m in logged.metrics}["test/abs_rel"] == pytest.approx(0.21)  # linked to the model

    model = served_candidate(exported)
    assert [c.name for c in model.metadata.get_input_schema().inputs] == ["image"]
    same = model.predict(pd.DataFrame({"image": [_b64_png(frames[4])]}))[0]
    ref = eager_metres(model_dir, images_to_tensor(frames[4:5]))[0, 0]
    assert same.shape == ref.shape and np.abs(same - ref).max() < 1e-4  # at the trained size: the program itself
    photo = real_test_frames()["rgb"][0]  # a real 480x640 NYU photo: depth at its own size, in metres
    depth = model.predict(pd.DataFrame({"image": [_b64_png(photo)]}))[0]
    assert depth.shape == (480, 640) and depth.min() >= 0.1 and depth.max() <= 10.0
    big = model.predict(pd.DataFrame({"image": [_b64_jpeg(photo, (3000, 2000))]}))[0]  # 6 MP: within 4 MP
    assert big.shape == (1000, 1500) and big.min() >= 0.1 and big.max() <= 10.0
    from depthpipe.serving.predict import predict_images  # depthpipe predict with the registered version

    Image.fromarray(photo).save(root / "photo.png")
    out = root / "predicted"
    assert predict_images([root / "photo.png"], "models:/depthpipe-densedepth@candidate", out)[0][1] is None
    mm = np.asarray(Image.open(out / "photo_depth.png"))
    assert mm.shape == (480, 640) and np.abs(mm / 1000.0 - depth).mean() < 0.05  # near the served depth


def test_the_logged_model_carries_its_photo_code_and_serves_without_depthpipe(exported, tmp_path: Path):
    """The logged model holds ``code/depthpipe/serving/photo.py`` and ``program.py`` (no package files), and a
    Python that cannot import the installed depthpipe loads them from there and answers a photo."""
    import subprocess
    import sys

    import mlflow

    root, model_dir, _, frames, result, _ = exported
    local = Path(mlflow.artifacts.download_artifacts(result["registry"]["logged_model_uri"], dst_path=str(tmp_path)))
    code = local / "code"
    assert sorted(p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file()) == [
        "depthpipe/serving/photo.py",
        "depthpipe/serving/program.py",
    ]
    (tmp_path / "image.b64").write_text(_b64_png(frames[4]))
    child = (
        "import sys; src = sys.argv[3]; sys.path = [p for p in sys.path if p.rstrip('/') != src]\n"
        "import importlib.util; assert importlib.util.find_spec('depthpipe') is None, 'depthpipe importable'\n"
        "import mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "import depthpipe.serving.photo as photo; assert photo.__file__.startswith(sys.argv[1]), photo.__file__\n"
        "import depthpipe.serving.program as p; assert p.__file__.startswith(sys.argv[1]), p.__file__\n"
        "depth = model.predict(pd.DataFrame({'image': [open(sys.argv[2]).read()]}))[0]\n"
        "print(depth.shape)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    src = str(REPO / "src")
    res = subprocess.run(
        [sys.executable, "-c", child, str(local), str(tmp_path / "image.b64"), src],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == f"({INPUT_HW[0]}, {INPUT_HW[1]})"


def test_served_model_refuses_bad_images_with_the_reason(exported):
    """Not an image, a PNG above 50 megapixels (refused from its header), a request returning too much depth:
    each an MlflowException for HTTP 400 naming the row and the reason, with no traceback."""
    import base64

    import pandas as pd
    from mlflow.exceptions import MlflowException

    model = served_candidate(exported)
    photo = real_test_frames()["rgb"][0]
    cases = [
        ([_b64_png(photo), base64.b64encode(b"not an image at all").decode()], "image 1: not a PNG or JPEG image ("),
        ([_b64_huge_png()], "image 0: 8000x6400 is 51.2 megapixels, above the 50.0 megapixels a PNG decoded whole"),
        ([_b64_jpeg(photo, (2048, 2048))] * 5, "image 4: the request's depth maps reach 21.0 megapixels, above"),
    ]
    for images, says in cases:
        with pytest.raises(MlflowException) as exc:
            model.predict(pd.DataFrame({"image": images}))
        assert exc.value.get_http_status_code() == 400 and exc.value.message.startswith(says), exc.value.message
        assert "stack_trace" not in exc.value.serialize_as_json() and "Traceback" not in exc.value.message


def test_the_served_model_turns_a_photo_as_its_exif_says_and_loads_without_mlflow_advice(exported):
    """A portrait JPEG stored sideways with EXIF orientation 6 gets portrait depth, that of the photo as viewers
    show it; loading the model prints no "add type hints" advice (its ``predict`` has them)."""
    import base64
    import io
    import warnings

    import mlflow
    import pandas as pd

    photo = real_test_frames()["rgb"][0]
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(photo, k=1)))  # stored turned counter-clockwise
    exif = stored.getexif()
    exif[0x0112] = 6  # "turn it clockwise to display"
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = mlflow.pyfunc.load_model("models:/depthpipe-densedepth@candidate")
    assert not [w for w in seen if "type hints" in str(w.message)]
    turned = model.predict(pd.DataFrame({"image": [base64.b64encode(buf.getvalue()).decode()]}))[0]
    upright = model.predict(pd.DataFrame({"image": [_b64_png(photo)]}))[0]
    assert turned.shape == upright.shape == (480, 640)
    right, rotated = (float(np.abs(d - upright).mean() / upright.mean()) for d in (turned, np.rot90(turned, 2)))
    assert right < 0.05 and 3 * right < rotated, (right, rotated)


def test_serve_checks_the_alias_and_the_port_before_it_says_serving(exported, capsys):
    import socket

    from depthpipe.cli import main

    assert main(["serve", "densedepth", "--alias", "staging"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(
        "depthpipe serve: error: registered model 'depthpipe-densedepth' has no @staging version in sqlite:///"
    )
    assert "versions (latest " in err and err.rstrip().endswith(
        "carries @staging (or serve another version with --alias)"
    )
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert main(["serve", "densedepth", "--alias", "candidate", "--port", str(port)]) == 1
        out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        f"depthpipe serve: error: port {port} on 127.0.0.1: already in use, so the model server cannot listen "
        "there; stop what holds it or choose another with --port"
    ]


def test_a_model_worse_than_the_baseline_gets_no_candidate(exported, tmp_path: Path):
    """The export's own files, logged again as if its test metrics were worse than the baseline on delta1."""
    from mlflow.tracking import MlflowClient

    from depthpipe.export.registration import log_export
    from depthpipe.models.trained import read_config
    from depthpipe.tracking import registry
    from depthpipe.workspace import WorkspacePaths

    root, model_dir, out_dir, frames, result, _ = exported
    report = json.loads((out_dir / "export.json").read_text())
    report["model_card"]["test_metrics"] = {"standard": {**GOOD, "delta1": 0.3}}  # below the baseline's 0.4
    summary = json.loads((root / "summary.json").read_text())
    reg = log_export(read_config(model_dir), report, out_dir, summary, True, {}, WorkspacePaths(root))
    assert reg["alias"] is None and int(reg["version"]) > int(result["registry"]["version"])
    assert registry.model_version_for_alias("depthpipe-densedepth", "candidate") == result["registry"]["version"]
    refused = (
        MlflowClient().get_model_version("depthpipe-densedepth", reg["version"]).tags["depthpipe.candidate_refused"]
    )
    assert "delta1 0.3 vs baseline 0.4" in refused
    assert registry.why_no_alias("depthpipe-densedepth", "candidate") == (  # what promote says without @candidate
        f"its latest version {reg['version']} was registered without @candidate: {refused}"
    )


def _evidence(workspace: Path, scale: float, model: Path | None = None) -> Path:
    """A workspace whose densedepth per-frame evidence has every frame's errors ``scale`` times the reference
    (with a copy of ``model``, the weights it was made with)."""
    from depthpipe.metrics.depth import DEPTH_METRICS, DEPTH_SUMS

    rng = np.random.default_rng(0)
    folder = workspace / "reports" / "eval" / "densedepth"
    folder.mkdir(parents=True)
    if model is not None:  # another workspace with these weights and its own evidence
        (workspace / "models" / "densedepth").mkdir(parents=True)
        shutil.copyfile(model, workspace / "models" / "densedepth" / "model.pt")
    rows = []
    for frame in range(1, 41):
        n = 1000.0
        sums = {
            "n": n,
            "sum_abs_rel": n * 0.2 * scale * rng.uniform(0.8, 1.2),
            "sum_sq_rel": n * 0.2 * scale,
            "sum_sq": n * 0.6 * scale,
            "sum_sq_log": n * 0.06 * scale,
            "sum_abs_log10": n * 0.09 * scale,
            "n_delta1": n * min(1.0, 0.7 / scale),
            "n_delta2": n * min(1.0, 0.9 / scale),
            "n_delta3": n * min(1.0, 0.97 / scale),
        }
        from depthpipe.metrics.depth import metrics_from_sums

        m = metrics_from_sums(sums)
        rows.append(
            ",".join([str(frame)] + [f"{m[k]:.10g}" for k in DEPTH_METRICS] + [f"{sums[k]:.10g}" for k in DEPTH_SUMS])
        )
    header = ",".join(["frame"] + [f"standard/{k}" for k in (*DEPTH_METRICS, *DEPTH_SUMS)])
    (folder / "per_frame.csv").write_text("\n".join([header, *rows]) + "\n")
    (folder / "per_frame_classes.csv").write_text("frame,class,tp,gt,pred\n")
    return workspace


def test_promote_needs_the_gate_and_no_regression_against_the_champion(exported, tmp_path: Path, tiny_params):
    """The champion moves only to a candidate that passes the gate and does not regress against the champion's
    own evidence; a refusal leaves every alias where it was."""
    from depthpipe.export.registration import log_export
    from depthpipe.gate.promote import PromotionRefused, promote
    from depthpipe.models.trained import read_config
    from depthpipe.tracking import registry
    from depthpipe.workspace import WorkspacePaths

    root, model_dir, out_dir, frames, result, _ = exported
    name, gate, passed = "depthpipe-densedepth", tiny_params.gate, ("| table |\n", 0)
    report, config = json.loads((out_dir / "export.json").read_text()), read_config(model_dir)
    summary = json.loads((root / "summary.json").read_text())

    def version(scale: float, label: str) -> str:
        return log_export(
            config,
            report,
            out_dir,
            summary,
            True,
            {},
            WorkspacePaths(_evidence(tmp_path / label, scale, model_dir / "model.pt")),
        )["version"]

    with pytest.raises(PromotionRefused, match="gate did not pass") as refused:
        promote("densedepth", gate, ("| table |\n", 1))
    assert refused.value.table == "| table |\n" and "champion" not in registry.model_aliases(name)
    champion = version(1.0, "champ")
    assert promote("densedepth", gate, passed).version == champion  # no champion yet: the candidate becomes it
    worse = version(1.3, "worse")
    assert registry.model_aliases(name) == {"candidate": worse, "champion": champion}
    with pytest.raises(
        PromotionRefused, match=rf"regressed against @champion \(version {champion}\) on standard/abs_rel"
    ):
        promote("densedepth", gate, passed)
    assert registry.model_aliases(name) == {"candidate": worse, "champion": champion}
    same = version(1.0, "same")
    assert promote("densedepth", gate, passed).version == same  # no worse than the champion
    assert registry.model_aliases(name) == {"candidate": same, "champion": same}
    with pytest.raises(PromotionRefused, match="no @candidate version .*: no version of .* is registered"):
        promote("semantic_booster", gate, passed)


def test_a_registry_that_cannot_be_read_is_an_error_not_no_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from depthpipe.tracking import registry

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:secret@127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(DepthpipeError, match=rf"model registry http://user:\*\*\*@127.0.0.1:{port}") as err:
        registry.model_version_for_alias("depthpipe-densedepth", "champion")
    assert "secret" not in str(err.value)


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_photo_with_metres_at_its_size(exported, tmp_path: Path):
    """The registered version, served by ``mlflow models serve``, answers a real NYU photo posted as a PNG."""
    import base64
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    root, *_ = exported
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    proc = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/depthpipe-densedepth@candidate",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, "mlflow models serve exited"
                time.sleep(1)
        photo = real_test_frames()["rgb"][3]  # 480x640, straight from the Kinect
        body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[_b64_png(photo)]]}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            depth = np.asarray(json.loads(answer.read())["predictions"][0], dtype=np.float32)
        refused = []  # not an image; a PNG above 50 megapixels: 400, the reason, no traceback or server path
        for image in (base64.b64encode(b"not an image").decode(), _b64_huge_png()):
            body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[image]]}}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=60)
            refused.append((answer.value.code, answer.value.read().decode()))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert depth.shape == (480, 640)
    assert float(depth.min()) >= 0.1 and float(depth.max()) <= 10.0 and float(depth.std()) > 0.05  # metres
    says = ["image 0: not a PNG or JPEG image (", "image 0: 8000x6400 is 51.2 megapixels, above the 50.0 megapixels"]
    for (code, text), reason in zip(refused, says, strict=True):
        error = json.loads(text)
        assert code == 400 and error["error_code"] == "INVALID_PARAMETER_VALUE" and reason in error["message"]
        assert "stack_trace" not in error and "Traceback" not in text and "site-packages" not in text
        assert str(root) not in text and "/tmp" not in text
