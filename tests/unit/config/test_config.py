"""The typed schema (depthpipe.config) and params.yaml composed from conf/ (depthpipe.composition)."""

from __future__ import annotations

import pytest
import yaml

from depthpipe.config import flatten, load_config, parse, with_changes
from depthpipe.config.composition import compose_params, recipes
from depthpipe.errors import DepthpipeError
from helpers.paths import REPO


def test_committed_params_are_the_composed_default(tmp_path):
    """params.yaml is exactly what DVC's Hydra composition writes for the default recipe."""
    compose_params(REPO, [], out=tmp_path / "params.yaml")
    assert (tmp_path / "params.yaml").read_bytes() == (REPO / "params.yaml").read_bytes(), (
        "params.yaml is stale: run `make params`"
    )


def test_every_recipe_composes_and_validates(tmp_path):
    assert set(recipes(REPO)) >= {"cpu", "paper", "tiny"}
    for name in recipes(REPO):
        params = compose_params(REPO, [f"recipe={name}"], out=tmp_path / f"{name}.yaml")
        assert params.recipe == name
    paper = load_config(tmp_path / "paper.yaml")
    assert paper.prepare.input_size == (480, 640) and paper.models.densedepth.decoder_width == 1.0
    assert paper.train.densedepth.lr == 1e-4 and paper.train.densedepth.epochs == 20
    # DenseDepth as its code trains it: its 50K set, ImageNet DenseNet-169, batch 8, Adam with amsgrad in float32,
    # BasicPolicy (flip 0.5, a channel order of its 7 with probability 0.5), SSIM range 100, no held-out split,
    # both protocols on nyu_test.zip's test frames (stored losslessly); frames kept encoded
    dd = paper.train.densedepth
    assert paper.data.source == "nyu50k" and paper.models.densedepth.encoder_weights == "imagenet"
    assert (dd.batch_size, dd.optimizer, dd.amsgrad, dd.precision, dd.val_fraction) == (8, "adam", True, "fp32", 0.0)
    assert (dd.augment.hflip_p, dd.augment.channel_swap_p, dd.augment.channel_orders) == (0.5, 0.5, "basic_policy")
    assert dd.loss.ssim_range == 100.0
    assert paper.data.nyu_test.use is True and paper.prepare.rgb_codec == "png"
    assert paper.evaluate.protocols == ["standard", "densedepth"] and paper.prepare.layout == "encoded"
    assert (paper.validate_.expected_frames, paper.validate_.expected_test_frames) == (51342, 654)
    labeled = load_config(tmp_path / "paper-labeled.yaml")
    assert labeled.data.source == "nyu" and labeled.validate_.expected_frames == 1449
    ld, lb = labeled.train.densedepth, labeled.train.semantic_booster  # DenseDepth's facts for DenseDepth alone
    assert (ld.amsgrad, ld.precision, ld.augment.channel_orders) == (True, "fp32", "basic_policy")
    assert (lb.amsgrad, lb.precision, lb.augment.channel_orders) == (False, "auto", "permutations")
    cpu = load_config(REPO / "params.yaml")
    assert paper.train.densedepth.seed == cpu.train.densedepth.seed  # untouched keys kept
    # the default trains as before these options existed: every new one off
    for variant in ("densedepth", "semantic_booster"):
        c = cpu.train_config(variant)
        assert (c.amsgrad, c.precision, c.augment.channel_orders, c.augment.channel_swap_p) == (
            False,
            "auto",
            "permutations",
            1.0,
        )
    assert cpu.data.nyu_test.use is False and cpu.validate_.test_sets_max_diff_mm == 0.5


def test_overrides_win_over_the_recipe(tmp_path):
    p = compose_params(REPO, ["recipe=tiny", "train.densedepth.epochs=5"], out=tmp_path / "p.yaml")
    assert p.train.densedepth.epochs == 5 and p.prepare.input_size == (64, 96)


def test_unknown_recipe_and_bad_override(tmp_path):
    with pytest.raises(
        DepthpipeError, match=r"recipe 'nope' is not in conf/recipe/ \(have: cpu, paper, paper-labeled, tiny"
    ):
        compose_params(REPO, ["recipe=nope"], out=tmp_path / "p.yaml")
    with pytest.raises(DepthpipeError, match="train.densedepth.epoch"):
        compose_params(REPO, ["train.densedepth.epoch=3"], out=tmp_path / "p.yaml")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("train.densedepth.epoch", 3, r"^params.yaml: train.densedepth.epoch: unknown key \(allowed here: epochs, "),
        ("train.densedepth.epochs", "ten", r"^params.yaml: train.densedepth.epochs: input should be a valid integer"),
        (
            "train.densedepth.epochs",
            0,
            r"^params.yaml: train.densedepth.epochs: input should be greater than or equal to 1",
        ),
        ("train.densedepth.lr", True, r"^params.yaml: train.densedepth.lr: input should be a valid number"),
        (
            "models.semantic_booster.backbone",
            "resnet19",
            r"^params.yaml: models.semantic_booster.backbone: input should be 'resnet18', 'resnet34' or 'resnet50'",
        ),
        (
            "train.semantic_booster.optimizer",
            "sgd",
            r"train.semantic_booster.optimizer: input should be 'adam' or 'adamw'",
        ),
        (
            "prepare.input_size",
            [100, 128],
            r"^params.yaml: prepare.input_size must be \[height, width\], each a multiple of 32",
        ),
        # one depth range, prepare's: validate and evaluate have none of their own
        ("validate.max_depth", 10.0, r"^params.yaml: validate.max_depth: unknown key \(allowed here: min_valid_"),
        ("evaluate.max_depth", 10.0, r"^params.yaml: evaluate.max_depth: unknown key"),
        (
            "evaluate.min_depth",
            10.0,
            r"^params.yaml: evaluate.min_depth must be below prepare.max_depth \(got 10 >= 10\)",
        ),
        ("data.synthetic.test_fraction", 1.5, r"data.synthetic.test_fraction: input should be less than 1"),
        ("data.synthetic.frames", 1, r"data.synthetic.frames: input should be greater than or equal to 2"),
        (
            "data.source",
            "x",
            r"data.source: input should be 'synthetic', 'nyu', 'file', 'nyu50k' or 'nyu_h5_tree' "
            r"\(got 'x'\)",
        ),
        ("data.nyu50k.sha256", "zz", r"data.nyu50k.sha256: string should match pattern"),
        ("prepare.layout", "tar", r"prepare.layout: input should be 'arrays' or 'encoded'"),
        ("prepare.jpeg_quality", 0, r"prepare.jpeg_quality: input should be greater than or equal to 1"),
        (
            "train.densedepth.augment.channel_swap_p",
            1.5,
            r"train.densedepth.augment.channel_swap_p: input should be less than or equal to 1",
        ),
        (
            "train.densedepth.augment.channel_orders",
            "seven",
            r"train.densedepth.augment.channel_orders: input should be 'permutations' or 'basic_policy'",
        ),
        ("train.densedepth.amsgrad", "yes", r"train.densedepth.amsgrad: input should be a valid boolean"),
        (
            "data.nyu_test.use",
            True,
            r"data.nyu_test.use is true but data.source is synthetic: DenseDepth's nyu_test.zip replaces",
        ),
        ("validate.test_sets_max_diff_mm", -1, r"validate.test_sets_max_diff_mm: input should be greater than or"),
        (
            "validate.expected_test_frames",
            0,
            r"validate.expected_test_frames: input should be greater than or equal to 1",
        ),
        ("data.nyu.url", "ftp://x/y.mat", r"data.nyu.url: string should match pattern"),
        ("data.nyu.sha256", "zz", r"data.nyu.sha256: string should match pattern"),
        ("data.nyu.retries", 1.5, r"data.nyu.retries: input should be a valid integer"),
        ("data.nyu.timeout_s", 0, r"data.nyu.timeout_s: input should be greater than 0"),
        ("evaluate.depth_bins", [0, 2, 1], r"evaluate.depth_bins must be increasing"),
        ("train.densedepth.loss.w_l1", float("nan"), r"train.densedepth.loss.w_l1: input should be a finite number"),
        ("export.opset", 9, r"export.opset: input should be greater than or equal to 13"),
        ("gate.metrics", ["abs_rel", "accuracy"], r"gate.metrics.1: input should be 'abs_rel'"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(path, value, expected):
    raw = _raw()
    node = raw
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(DepthpipeError, match=expected) as info:
        parse(raw)
    assert len(str(info.value).splitlines()) == 1


def test_missing_key_and_several_problems():
    raw = _raw()
    del raw["train"]["densedepth"]["lr"]
    raw["export"]["tolerance"] = -1
    with pytest.raises(DepthpipeError) as info:
        parse(raw)
    lines = str(info.value).splitlines()
    assert lines == [
        "params.yaml: train.densedepth.lr: missing (every key is required; see conf/config.yaml)",
        "params.yaml: export.tolerance: input should be greater than or equal to 0 (got -1)",
    ]


def test_source_file_needs_a_file():
    raw = _raw()
    raw["data"]["source"] = "file"
    with pytest.raises(DepthpipeError, match="data.file must name a NYU-layout labeled .mat"):
        parse(raw)


def test_load_config_errors(tmp_path):
    with pytest.raises(DepthpipeError, match="params file not found"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "p.yaml").write_text("a: [1, 2\n")
    with pytest.raises(DepthpipeError, match="not valid YAML"):
        load_config(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("- 1\n")
    with pytest.raises(DepthpipeError, match="expected a mapping"):
        load_config(tmp_path / "p.yaml")


def test_with_changes_checks_and_flatten():
    params = load_config(REPO / "params.yaml")
    changed = with_changes(params, {"train.densedepth.epochs": 3})
    assert changed.train.densedepth.epochs == 3 and params.train.densedepth.epochs != 3
    with pytest.raises(DepthpipeError, match="train.densedepth.epoch: no such key"):
        with_changes(params, {"train.densedepth.epoch": 3})
    flat = flatten(changed.train.densedepth)
    assert flat["epochs"] == 3 and flat["loss.w_l1"] == params.train.densedepth.loss.w_l1
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}}) == {"a.b": 1, "a.c.d": "x"}
    assert changed.prepare.output_size == (48, 64)
