"""The evaluate stage on the session's tiny trained models: metrics, baseline, reports, flip TTA, params errors.

The test split holds 4 frames with full-resolution (120x160) ground truth; the models predict at 32x48.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import h5py
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from depthpipe.errors import DepthpipeError
from depthpipe.evaluation.evaluate import evaluate_variant
from depthpipe.evaluation.protocols import FOLLOWS, PAPER_TABLE, RELEASED_MODEL, protocols_of, reference_table
from depthpipe.evaluation.scoring import predict_full
from depthpipe.files import sha256_file
from depthpipe.metrics.depth import DEPTH_METRICS as DEPTH_KEYS
from depthpipe.metrics.depth import depth_metrics
from depthpipe.models.trained import load_trained
from helpers.sections import MAX_DEPTH

VARIANTS = ("densedepth", "semantic_booster")
TEST_FRAMES = 4


# the session's tiny models (conftest.trained) are trained once, on the worker that runs every module using them
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.xdist_group("trained")]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, trained, tiny_data, tiny_params, new_store):
    """Each variant evaluated once (default ``evaluate`` params: Eigen crop, no TTA) into its own folder."""
    root = tmp_path_factory.mktemp("evaluated")
    uri = new_store(root / "mlflow")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        for variant in VARIANTS:
            t = trained(variant)
            metrics_path = root / "metrics" / f"{variant}.json"
            report_dir = root / "reports" / variant
            returned = evaluate_variant(
                variant,
                tiny_params.evaluate,
                MAX_DEPTH,
                t.model_dir,
                tiny_data.prepared,
                metrics_path,
                report_dir,
                progress=False,
            )
            out[variant] = {
                "returned": returned,
                "metrics_path": metrics_path,
                "report_dir": report_dir,
                "trained": t,
                "uri": uri,
            }
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.mark.parametrize("variant", VARIANTS)
def test_metrics_json_holds_the_headline_only(variant, evaluated) -> None:
    e = evaluated[variant]
    metrics = json.loads(e["metrics_path"].read_text())
    assert metrics == e["returned"]
    groups = {"standard", "semantic"} if variant == "semantic_booster" else {"standard"}
    assert set(metrics) == groups  # baselines and counts live in summary.json
    m = metrics["standard"]
    assert set(m) == set(DEPTH_KEYS) and all(math.isfinite(v) for v in m.values())
    assert m["abs_rel"] >= 0 and m["rmse"] >= 0 and 0 <= m["delta1"] <= m["delta2"] <= m["delta3"] <= 1
    if variant == "semantic_booster":
        assert 0 <= metrics["semantic"]["miou"] <= 1 and 0 <= metrics["semantic"]["pixel_acc"] <= 1
    summary = json.loads((e["report_dir"] / "summary.json").read_text())
    assert summary["frames"] == TEST_FRAMES and summary["mean_depth_m"] > 0
    assert set(summary["baseline"]["standard"]) == set(DEPTH_KEYS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_reports_per_frame_error_by_depth_and_grid(variant, evaluated, tiny_data) -> None:
    e = evaluated[variant]
    rows = _rows(e["report_dir"] / "per_frame.csv")
    with h5py.File(tiny_data.test_h5, "r") as f:
        index = f["index"][()].tolist()
    assert len(rows) == TEST_FRAMES == len(index)
    assert [int(r["frame"]) for r in rows] == index
    for k in DEPTH_KEYS:
        assert np.mean([float(r[f"standard/{k}"]) for r in rows]) == pytest.approx(
            e["returned"]["standard"][k], abs=1e-5
        )
    for r in rows:  # each per-image metric follows from the frame's own sums
        assert float(r["standard/abs_rel"]) == pytest.approx(float(r["standard/sum_abs_rel"]) / float(r["standard/n"]))
    if variant == "semantic_booster":
        assert all(0 <= float(r["semantic/pixel_acc"]) <= 1 for r in rows)
        classes = _rows(e["report_dir"] / "per_frame_classes.csv")
        assert {int(c["frame"]) for c in classes} == set(index)
        assert all(0 <= int(c["tp"]) <= min(int(c["gt"]), int(c["pred"])) for c in classes)

    bins = _rows(e["report_dir"] / "error_by_depth.csv")
    depths = [float(r["depth_m"]) for r in bins]
    assert depths == sorted(depths) and all(int(r["pixels"]) > 0 for r in bins)  # depth order, no empty bins
    assert all(r["bin_m"].count("-") == 1 for r in bins)

    grid = e["report_dir"] / "grid.png"
    assert grid.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(grid) as im:
        im.verify()
    with Image.open(grid) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100
    assert not list(e["report_dir"].parent.rglob(".staging-*"))


def test_baseline_is_the_train_mean_depth_everywhere(evaluated, tiny_data) -> None:
    """Recompute the mean-depth baseline independently: train-split mean of valid output-size depths."""
    with h5py.File(tiny_data.train_h5, "r") as f:
        depth, mask = f["depth"][()], f["mask"][()].astype(bool)
    mean_depth = float(depth[mask].astype(np.float64).mean())
    with h5py.File(tiny_data.test_h5, "r") as f:
        gts = f["depth_full"][()]
    ours = [depth_metrics(np.full_like(g, mean_depth), g, min_depth=1e-3, max_depth=10.0, crop="eigen") for g in gts]

    summary = json.loads((evaluated["densedepth"]["report_dir"] / "summary.json").read_text())
    assert summary["mean_depth_m"] == pytest.approx(mean_depth, abs=1e-6)
    for k in DEPTH_KEYS:
        assert summary["baseline"]["standard"][k] == pytest.approx(np.mean([m[k] for m in ours]), abs=2e-6), k
    # the baseline does not depend on the model
    other = json.loads((evaluated["semantic_booster"]["report_dir"] / "summary.json").read_text())
    assert other["baseline"] == summary["baseline"]


def test_evaluate_run_is_logged(evaluated) -> None:
    e = evaluated["semantic_booster"]
    client = MlflowClient(tracking_uri=e["uri"])
    exp = client.get_experiment_by_name("depthpipe")
    (run,) = client.search_runs(
        [exp.experiment_id], "tags.`depthpipe.stage` = 'evaluate' and tags.`depthpipe.variant` = 'semantic_booster'"
    )
    # linked to its weights; the train run is looked up by them (it was logged to another store here)
    assert run.data.tags["depthpipe.model_sha256"] == sha256_file(e["trained"].model_dir / "model.pt")
    assert run.data.tags["depthpipe.train_run"] == ""
    assert run.data.metrics["test/abs_rel"] == pytest.approx(e["returned"]["standard"]["abs_rel"])
    assert run.data.metrics["test/miou"] == pytest.approx(e["returned"]["semantic"]["miou"])
    assert "baseline/rmse" in run.data.metrics
    assert run.data.params["evaluate.crop"] == "eigen" and run.data.params["evaluate.protocols"] == "['standard']"
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "per_frame.csv",
        "per_frame_classes.csv",
        "summary.json",
        "error_by_depth.csv",
        "grid.png",
        "semantic_booster.json",
    } <= arts
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["synthetic-test"]


def test_flip_tta_runs_and_is_flip_equivariant(
    evaluated, trained, tiny_data, tiny_params, tmp_path, mlflow_store
) -> None:
    t = trained("semantic_booster")
    cfg = tiny_params.evaluate.model_copy(update={"flip_tta": True, "crop": "none", "grid_frames": 2})
    metrics = evaluate_variant(
        "semantic_booster",
        cfg,
        MAX_DEPTH,
        t.model_dir,
        tiny_data.prepared,
        tmp_path / "m.json",
        tmp_path / "r",
        progress=False,
    )
    assert 0 <= metrics["semantic"]["miou"] <= 1
    assert all(math.isfinite(metrics["standard"][k]) for k in DEPTH_KEYS)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    default = json.loads((evaluated["semantic_booster"]["report_dir"] / "summary.json").read_text())
    assert summary["frames"] == TEST_FRAMES and summary["baseline"] != default["baseline"]  # crop none vs eigen

    # averaging a prediction with its mirrored twin makes the result mirror with the input
    model, config = load_trained(t.model_dir)
    with h5py.File(tiny_data.test_h5, "r") as f:
        rgb = f["rgb"][:2]
    kw = dict(full_size=(120, 160), max_depth=config["max_depth"], min_depth=config["min_depth"], clip=(1e-3, 10.0))
    d, lab = predict_full(model, rgb, flip_tta=True, **kw)
    d_m, lab_m = predict_full(model, np.ascontiguousarray(rgb[:, :, ::-1]), flip_tta=True, **kw)
    assert d.shape == (2, 120, 160) and lab.shape == (2, 120, 160) and lab.dtype == np.uint8
    np.testing.assert_allclose(d_m, d[:, :, ::-1], rtol=1e-5, atol=1e-5)
    assert lab.min() >= 1 and lab.max() <= 40
    plain, _ = predict_full(model, rgb, flip_tta=False, **kw)
    assert not np.allclose(plain, d)  # TTA did something


def test_the_run_says_which_code_each_protocol_follows_and_sets_the_published_figures_beside_its_own(
    evaluated, trained, tiny_data, tiny_params, tmp_path, mlflow_store
) -> None:
    """On NYU test data the evaluate run carries DenseDepth's reference figures (tags and reference.json, model
    beside reference); on the synthetic set only which code each protocol follows."""
    client = MlflowClient(tracking_uri=evaluated["densedepth"]["uri"])
    exp = client.get_experiment_by_name("depthpipe")
    (synthetic,) = client.search_runs(
        [exp.experiment_id], "tags.`depthpipe.stage` = 'evaluate' and tags.`depthpipe.variant` = 'densedepth'"
    )
    assert synthetic.data.tags["depthpipe.protocol.standard"] == FOLLOWS["standard"]
    assert not any(k.startswith("depthpipe.reference") for k in synthetic.data.tags)
    assert "reference.json" not in {a.path for a in client.list_artifacts(synthetic.info.run_id)}

    prepared = tmp_path / "prepared"  # the tiny split, labelled as DenseDepth's NYU data
    prepared.mkdir()
    for name in ("train.h5", "test.h5"):
        (prepared / name).write_bytes((tiny_data.prepared / name).read_bytes())
        with h5py.File(prepared / name, "r+") as f:
            f.attrs["source"] = "nyu50k"
    both = tiny_params.evaluate.model_copy(update={"protocols": ["standard", "densedepth"]})
    got = evaluate_variant(
        "densedepth",
        both,
        MAX_DEPTH,
        trained("densedepth").model_dir,
        prepared,
        tmp_path / "m.json",
        tmp_path / "r",
        False,
    )
    exp = MlflowClient(tracking_uri=mlflow_store).get_experiment_by_name("depthpipe")
    (run,) = MlflowClient(tracking_uri=mlflow_store).search_runs(
        [exp.experiment_id], "tags.`depthpipe.stage` = 'evaluate'"
    )
    tags = run.data.tags
    assert tags["depthpipe.protocol.densedepth"] == FOLLOWS["densedepth"] and "fdcef58" in FOLLOWS["densedepth"]
    assert (
        tags["depthpipe.reference.densedepth/rmse"] == "0.5485" and tags["depthpipe.reference.standard/rmse"] == "0.465"
    )
    assert tags["depthpipe.reference.densedepth/abs_rel"] == "0.1234"
    assert tags["depthpipe.reference.densedepth/abs_rel_as_coded"] == "0.1274"
    assert "issues #75 and #98" in tags["depthpipe.reference.densedepth"]
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="reference.json", tracking_uri=mlflow_store
        )
    )
    table = json.loads(local.read_text())
    assert table["columns"][:4] == ["protocol", "metric", "model", "reference"]
    rows = {(r[0], r[1]): r for r in table["data"]}
    assert set(rows) == {("densedepth", k) for k in (*RELEASED_MODEL.metrics, *RELEASED_MODEL.extra)} | {
        ("standard", k) for k in PAPER_TABLE.metrics
    }
    assert rows["densedepth", "rmse"][2:5] == [
        got["densedepth"]["rmse"],
        0.5485,
        round(got["densedepth"]["rmse"] - 0.5485, 6),
    ]
    assert rows["standard", "delta1"][2:4] == [got["standard"]["delta1"], 0.846]
    assert rows["densedepth", "abs_rel_as_coded"][2:5] == [None, 0.1274, None]  # computed by DenseDepth's code only
    no_crop = both.model_copy(update={"crop": "none"})  # the paper's figures are for the Eigen crop only
    assert [r[0] for r in reference_table(got, protocols_of(no_crop))["data"]] == ["densedepth"] * 7


def test_wrong_variant_or_missing_inputs(trained, tiny_data, tiny_params, tmp_path) -> None:
    params = tiny_params.evaluate
    dd = trained("densedepth").model_dir
    with pytest.raises(DepthpipeError, match="holds variant 'densedepth', expected 'semantic_booster'"):
        evaluate_variant(
            "semantic_booster", params, MAX_DEPTH, dd, tiny_data.prepared, tmp_path / "m.json", tmp_path / "r"
        )
    with pytest.raises(DepthpipeError, match="prepared data not found"):
        evaluate_variant("densedepth", params, MAX_DEPTH, dd, tmp_path / "nowhere", tmp_path / "m.json", tmp_path / "r")
    with pytest.raises(DepthpipeError, match="config.json: not found"):
        evaluate_variant(
            "densedepth",
            params,
            MAX_DEPTH,
            tmp_path / "no_model",
            tiny_data.prepared,
            tmp_path / "m.json",
            tmp_path / "r",
        )


def test_an_mlflow_failure_leaves_the_previous_outputs(
    trained, tiny_data, tiny_params, tmp_path, monkeypatch, mlflow_store
) -> None:
    """Outputs are staged until the run has logged them: a store that fails mid-stage changes no output."""
    from mlflow.exceptions import MlflowException

    from depthpipe.tracking import runs

    metrics_path, report_dir = tmp_path / "metrics" / "m.json", tmp_path / "r"
    metrics_path.parent.mkdir()
    metrics_path.write_text('{"previous": true}\n')

    def failing(*args, **kwargs):
        raise MlflowException("the store went away")

    monkeypatch.setattr(runs, "stage_run", failing)
    with pytest.raises(MlflowException):
        evaluate_variant(
            "densedepth",
            tiny_params.evaluate,
            MAX_DEPTH,
            trained("densedepth").model_dir,
            tiny_data.prepared,
            metrics_path,
            report_dir,
            progress=False,
        )
    assert metrics_path.read_text() == '{"previous": true}\n'
    assert not list(report_dir.glob("*")) and not list(tmp_path.rglob(".staging-*"))
