"""End to end: the session's tiny chain (teammate A's real `dvc exp run -S recipe=tiny` in a fresh clone, logged to
the team's server: :func:`helpers.team_stack.team_project`), what dvc.lock and MLflow record, and, in a copy of
it, which stages each param change reruns and bad params stopping the pipeline before any data is read."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
import yaml

from helpers.project import copy_project, dvc_status, project_env
from helpers.project import dvc as _dvc
from helpers.project import ran_stages as _ran
from helpers.project import run as _run

STAGES = (
    "check",
    "download",
    "validate",
    "prepare",
    "train@densedepth",
    "train@semantic_booster",
    "evaluate@densedepth",
    "evaluate@semantic_booster",
    "export@densedepth",
    "export@semantic_booster",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tiny_project, tmp_path_factory):
    from conftest import project_copy

    return project_copy(tiny_project, tmp_path_factory.mktemp("pipeline") / "repo")


def test_exp_run_builds_the_whole_chain(project):
    root, _, first = project
    assert _ran(first) == set(STAGES)
    assert json.loads((root / "reports" / "validation.json").read_text())["success"] is True
    for variant in ("densedepth", "semantic_booster"):
        m = json.loads((root / "metrics" / f"{variant}.json").read_text())
        assert {"abs_rel", "rmse", "delta1"} <= set(m["standard"])
        assert (root / "models" / variant / "model.pt").exists()
        card = json.loads((root / "exports" / variant / "export.json").read_text())
        # the tiny recipe's export.onnx: false: only the .pt2, checked and served
        assert card["passed"] is True and set(card["files"]) == set(card["parity"]["max_abs_diff_m"]) == {"pt2"}
        assert sorted(p.name for p in (root / "exports" / variant).iterdir()) == ["export.json", "model.pt2"]
    assert "miou" in json.loads((root / "metrics" / "semantic_booster.json").read_text())["semantic"]


def test_dvc_lock_records_what_ran(project, team_project):
    """The recipe's values are in params.yaml, dvc.lock, config.json and the MLflow run alike."""
    root, _, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["recipe"] == "tiny"
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert lock["download"]["params"]["params.yaml"]["data"]["synthetic"]["frames"] == 24
    assert lock["prepare"]["params"]["params.yaml"]["prepare"]["input_size"] == [64, 96]
    runs = team_project.runs  # on the team's server
    for variant in ("densedepth", "semantic_booster"):
        recorded = lock[f"train@{variant}"]["params"]["params.yaml"][f"train.{variant}"]
        assert recorded == params["train"][variant] and recorded["epochs"] == 2 and recorded["batch_size"] == 4
        config = json.loads((root / "models" / variant / "config.json").read_text())
        assert config["epochs"] == recorded["epochs"] and config["input_size"] == [64, 96]
        assert config["effective_lr"] == recorded["lr"]
        model_sha = hashlib.sha256((root / "models" / variant / "model.pt").read_bytes()).hexdigest()
        (run,) = [r for r in runs if r.get("depthpipe.model_sha256") == model_sha and r["depthpipe.stage"] == "train"]
        assert run["params"]["train.epochs"] == "2" and float(run["params"]["train.lr"]) == recorded["lr"]
        assert run["params"]["prepare.input_size"] == "[64, 96]"
    frames = json.loads((root / "data" / "raw" / "source.json").read_text())["frames"]
    assert frames == lock["download"]["params"]["params.yaml"]["data"]["synthetic"]["frames"]


def test_mlflow_holds_every_run_with_tags(team_project):
    runs = [r for r in team_project.runs if r.get("depthpipe.stage") in ("train", "evaluate")]
    assert {(r["depthpipe.stage"], r["depthpipe.variant"]) for r in runs} == {
        (s, v) for s in ("train", "evaluate") for v in ("densedepth", "semantic_booster")
    }
    assert all(r["status"] == "FINISHED" for r in runs)
    assert len({r["depthpipe.pipeline_run"] for r in runs}) == 1  # one experiment -> one group
    assert all(r.get("dvc.exp_name") for r in runs)
    assert all(len(r["mlflow.source.git.commit"]) == 40 for r in runs)
    assert all(r["depthpipe.data.source"] == "synthetic" and len(r["depthpipe.data.source_sha256"]) == 64 for r in runs)


def test_second_repro_is_a_no_op(project):
    root, env, _ = project
    res = _run(_dvc("repro"), root, env)
    assert "Running stage" not in res.stdout


# one key each stage reads, and a new value for it
KEY_OF_STAGE = {
    "download": ("data.synthetic.seed", 3),
    "validate": ("validate.min_valid_fraction", 0.4),
    "prepare": ("prepare.chunk_frames", 4),
    "train@densedepth": ("models.densedepth.decoder_width", 0.3),
    "train@semantic_booster": ("train.semantic_booster.lr", 0.002),
    "evaluate@densedepth": ("evaluate.grid_frames", 3),  # evaluate reads one section for both variants
    "export@densedepth": ("export.parity_frames", 3),
}
SHARED_SECTION = {
    "evaluate@densedepth": {"evaluate@semantic_booster"},
    "export@densedepth": {"export@semantic_booster"},
}


def _set(params: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        params = params[part]
    params[leaf] = value


def test_each_param_change_names_exactly_its_stages(project):
    root, _, _ = project
    original = (root / "params.yaml").read_text()
    try:
        for stage, (key, value) in KEY_OF_STAGE.items():
            params = yaml.safe_load(original)
            _set(params, key, value)
            (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            status = dvc_status(root)
            assert set(status) == {"check", stage} | SHARED_SECTION.get(stage, set()), (key, status)
        for key, value in (("gate.rel_tol", 0.5), ("recipe", "mine")):  # read by no stage but the check
            params = yaml.safe_load(original)
            _set(params, key, value)
            (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            assert set(dvc_status(root)) == {"check"}, key
    finally:
        (root / "params.yaml").write_text(original)
    assert dvc_status(root) == {}


# an edit to a module names every stage that imports it, and no other (dvc.yaml declares the folders)
EDITED_MODULE = {
    "src/depthpipe/metrics/depth.py": {
        "train@densedepth",
        "train@semantic_booster",
        "evaluate@densedepth",
        "evaluate@semantic_booster",
        "export@densedepth",
        "export@semantic_booster",
    },
    "src/depthpipe/data/sources/nyu_mat.py": {"download", "validate", "prepare"},
    "src/depthpipe/models/trained.py": {
        "train@densedepth",
        "train@semantic_booster",
        "evaluate@densedepth",
        "evaluate@semantic_booster",
        "export@densedepth",
        "export@semantic_booster",
    },
}


def test_a_code_change_names_exactly_the_stages_that_import_it(project):
    root, _, _ = project
    for module, stages in EDITED_MODULE.items():
        original = (root / module).read_text()
        try:
            (root / module).write_text(original + "\n# an edit\n")
            status = dvc_status(root)
            assert set(status) == stages, (module, status)
        finally:
            (root / module).write_text(original)
    assert dvc_status(root) == {}


def test_a_retrain_to_the_same_weights_reruns_nothing_downstream(project):
    """Outputs hold no provenance: training again to identical weights leaves evaluate and export alone."""
    root, env, _ = project
    module = root / "src" / "depthpipe" / "training" / "optim.py"
    original = module.read_text()
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    try:
        module.write_text(original + "\n# an edit that changes no weight\n")
        res = _run(_dvc("repro", "export@densedepth"), root, env)
        assert _ran(res) == {"train@densedepth"}, res.stdout
        after = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
        assert after["train@densedepth"]["outs"] == lock["train@densedepth"]["outs"]
    finally:
        module.write_text(original)
        _run(_dvc("commit", "-f", "train@densedepth"), root, env)


def test_a_bad_param_stops_the_pipeline_before_dvc_removes_any_output(project):
    """The check stage runs first: a bad value for a late stage leaves every output of the last run in place."""
    root, env, _ = project
    original = (root / "params.yaml").read_text()
    outputs = [root / "models" / "densedepth" / "model.pt", root / "data" / "prepared" / "train.h5"]
    before = [p.read_bytes() for p in outputs]
    try:
        for key, value, message in (
            ("train.densedepth.lr", -1.0, "train.densedepth.lr: input should be greater than 0 (got -1.0)"),
            (
                "prepare.input_size",
                [100, 100],
                "prepare.input_size must be [height, width], each a multiple of 32 (got [100, 100])",
            ),
        ):
            params = yaml.safe_load(original)
            _set(params, key, value)
            (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            res = _run(_dvc("repro"), root, env, ok=False)
            errors = [line for line in res.stderr.splitlines() if line.startswith("check: error:")]
            assert res.returncode != 0 and errors == [f"check: error: params.yaml: {message}"], res.stderr
            assert _ran(res) == {"check"} and [p.read_bytes() for p in outputs] == before
    finally:
        (root / "params.yaml").write_text(original)
        _run(_dvc("repro", "check"), root, env)
    assert dvc_status(root) == {}


def test_data_file_is_tracked_by_content(project):
    """New bytes at the same ``data.file`` path change the download stage's dependencies: DVC reruns the chain."""
    root, env, _ = project
    mine = root / "data" / "external" / "mine.bin"
    mine.write_bytes(b"first version")
    original = (root / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["data"]["file"] = "data/external/mine.bin"  # unused by the synthetic source, but a dependency
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert _ran(_run(_dvc("repro"), root, env)) == {"check", "download"}  # same frames: nothing else reruns
        assert dvc_status(root) == {}
        mine.write_bytes(b"second version, same path")
        status = dvc_status(root)
        # data.file and data.nyu_test.file both name data/external by default: both deps see the new bytes
        (changed,) = status["download"]
        assert set(status) == {"download"} and changed["changed deps"]["data/external/mine.bin"] == "modified"
    finally:
        (root / "params.yaml").write_text(original)
        mine.unlink()
        _run(_dvc("repro", "download"), root, env)


def test_plots_render_offline(project):
    """``dvc plots show`` writes a page with vega inlined (.dvc/plots_offline.html), not loaded from a CDN."""
    root, env, _ = project
    _run(_dvc("plots", "show", "-o", str(root / "plots_out")), root, env)
    page = (root / "plots_out" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "/* vega-embed 6.18.2 */" in page
    assert {f"vegaEmbed('#{name}'" in page for name in ("loss_densedepth", "validation_abs_rel")} == {True}


def test_bad_params_stop_the_check_stage_with_one_line(tmp_path):
    """One line naming the key, exit 1, nothing written: the check stage checks every section."""
    root = copy_project(tmp_path / "repo")
    env = project_env()
    good = yaml.safe_load((root / "params.yaml").read_text())
    cases = [
        ("train.densedepth.epoch", 3, "train.densedepth.epoch: unknown key"),
        ("train.densedepth.epochs", "many", "train.densedepth.epochs: input should be a valid integer"),
        ("train.densedepth.lr", -1.0, "train.densedepth.lr: input should be greater than 0"),
        (
            "models.semantic_booster.backbone",
            "resnet19",
            "models.semantic_booster.backbone: input should be 'resnet18', 'resnet34' or 'resnet50'",
        ),
    ]
    for key, value, message in cases:
        params = json.loads(json.dumps(good))
        _set(params, key, value)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        res = _run([sys.executable, "pipeline/check.py"], root, env, timeout=120, ok=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1, res.stderr
        assert lines[0].startswith(f"check: error: params.yaml: {message}"), res.stderr
        assert not (root / "reports" / "check.json").exists()


def test_bad_data_stops_the_pipeline(tmp_path, project):
    root, env, _ = project
    from helpers.nyu import write_simple_splits, write_small_nyu

    bad = tmp_path / "bad.mat"
    write_small_nyu(bad, n=4, h=96, w=128, nan_frames=[1])
    args = _dvc(
        "exp",
        "run",
        "-S",
        "data.source=file",
        "-S",
        f"data.file={bad}",
        "-S",
        "data.splits_file=" + str(tmp_path / "s.mat"),
    )
    res = _run(args, root, env, timeout=600, ok=False)
    # the user's split does not exist yet: a clear error names it
    assert res.returncode != 0 and "s.mat" in (res.stdout + res.stderr)
    write_simple_splits(tmp_path / "s.mat", 4, 1)
    res = _run(args, root, env, timeout=600, ok=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "NaN" in out and "[1]" in out
    assert "Running stage 'prepare'" not in out
