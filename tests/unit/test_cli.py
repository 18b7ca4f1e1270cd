"""The `depthpipe` command (depthpipe.cli): wiring of the user-facing verbs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from depthpipe.cli import build_parser, main
from helpers.paths import REPO

BIN = Path(sys.executable).parent


def test_models_prints_parameter_counts(tmp_path, capsys):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["models"]["densedepth"]["decoder_width"] = 1.0
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(params))
    assert main(["models", "--params", str(p)]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("densedepth"))
    assert abs(float(line.split()[1]) - 42.6) <= 0.1  # the paper's 42.6 M
    assert any(row.startswith("semantic_booster") for row in out.splitlines())


def test_console_script_is_installed():
    res = subprocess.run([str(BIN / "depthpipe"), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for verb in ("models", "params", "repro", "predict", "gate", "promote", "ui"):
        assert verb in res.stdout
    version = subprocess.run([str(BIN / "depthpipe"), "--version"], capture_output=True, text=True, timeout=120)
    assert version.stdout.startswith("depthpipe ")


def test_predict_requires_a_model():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "x.png"])


def test_errors_are_one_line_with_exit_code(tmp_path, capsys, monkeypatch):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["densedepth"]["epoch"] = 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["models"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "depthpipe models: error: params.yaml: train.densedepth.epoch: unknown key"
    )


def test_params_composes_a_recipe(tmp_path, capsys, monkeypatch):
    import shutil

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    assert main(["params", "--recipe", "tiny", "train.densedepth.epochs=3"]) == 0
    composed = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert composed["recipe"] == "tiny" and composed["train"]["densedepth"]["epochs"] == 3
    assert main(["params", "--recipe", "huge"]) == 1
    assert "recipe 'huge' is not in conf/recipe/" in capsys.readouterr().err


def test_each_verb_names_its_handler_function():
    handlers = {
        "models": "pipeline.models",
        "params": "pipeline.params",
        "repro": "pipeline.repro",
        "predict --model m x.png": "serving.predict",
        "serve densedepth": "serving.serve",
        "gate": "review.gate",
        "seeds densedepth": "review.seeds",
        "promote densedepth": "review.promote",
        "ui": "review.ui",
        "team up": "team.up",
        "team down": "team.down",
        "team status": "team.status",
        "team backup x": "team.backup",
        "team restore x": "team.restore",
        "team db-upgrade": "team.db_upgrade",
    }
    for argv, name in handlers.items():
        handler = build_parser().parse_args(argv.split()).handler
        assert f"{handler.__module__.removeprefix('depthpipe.cli.')}.{handler.__name__}" == name, argv


def test_the_command_line_loads_neither_torch_nor_mlflow_until_a_verb_needs_them():
    code = "import sys, depthpipe.cli; print(sorted({'torch', 'mlflow', 'great_expectations'} & set(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.strip() == "[]"
