"""params.yaml loading (depthpipe.params): recipes, sections, errors."""

from __future__ import annotations

import pytest
import yaml

from depthpipe.errors import DepthpipeError
from depthpipe.params import deep_merge, flatten, load_params, repo_root, section


def test_repo_params_load_for_every_recipe(tmp_path):
    raw = yaml.safe_load(open("params.yaml"))
    assert raw["recipe"] == "cpu"
    for recipe in raw["recipes"]:
        p = tmp_path / f"{recipe}.yaml"
        p.write_text(yaml.safe_dump({**raw, "recipe": recipe}))
        params = load_params(p)
        assert "recipes" not in params and params["recipe"] == recipe
    paper = load_params(tmp_path / "paper.yaml")
    assert paper["prepare"]["input_size"] == [480, 640]
    assert paper["models"]["densedepth"]["decoder_width"] == 1.0
    assert paper["train"]["densedepth"]["lr"] == 1e-4 and paper["train"]["densedepth"]["epochs"] == 20
    assert paper["train"]["densedepth"]["seed"] == raw["train"]["densedepth"]["seed"]  # untouched keys kept


def test_unknown_recipe_and_bad_yaml(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("recipe: nope\nrecipes: {cpu: {}}\n")
    with pytest.raises(DepthpipeError, match="recipe 'nope' is not defined"):
        load_params(p)
    p.write_text("a: [1, 2\n")
    with pytest.raises(DepthpipeError, match="not valid YAML"):
        load_params(p)
    with pytest.raises(DepthpipeError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")


def test_merge_flatten_section():
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}}) == {"a.b": 1, "a.c.d": "x"}
    assert section({"train": {"densedepth": {"lr": 1}}}, "train.densedepth") == {"lr": 1}
    with pytest.raises(DepthpipeError, match="missing key 'train.booster'"):
        section({"train": {}}, "train.booster")


def test_repo_root_prefers_dvc_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert repo_root() == tmp_path.resolve()
