"""The trainer on the tiny prepared data: outputs, determinism, resume after an interruption, params errors.

Every run trains on 11 frames (12 train minus 1 held out) at 64x96 input, batch 4 (2 steps per epoch), on one
intra-op thread (see ``train_tiny`` in conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

import depthpipe.training.trainer as trainer_mod
from depthpipe.config import with_changes
from depthpipe.errors import DepthpipeError
from depthpipe.files import sha256_file
from depthpipe.models import build_model
from depthpipe.models.trained import load_state_dict, load_trained
from depthpipe.training.loader import EpochBatchSampler
from depthpipe.training.state import fingerprint

# the session's tiny models (conftest.trained) are trained once, on the worker that runs every module using them
pytestmark = pytest.mark.xdist_group("trained")

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_abs_rel", "val_rmse", "val_delta1", "lr"]
VARIANTS = ("densedepth", "semantic_booster")


def _history(report_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((report_dir / "history.csv").read_text())))


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor '{k}' differs"


def _run_in(store: str, variant: str) -> list:
    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name("depthpipe")
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`depthpipe.variant` = '{variant}'")


# ------------------------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("variant", VARIANTS)
def test_training_writes_model_config_history_plot_and_mlflow_run(variant: str, trained, tiny_data) -> None:
    t = trained(variant)
    model_dir, report_dir = t.model_dir, t.report_dir
    for name in ("model.pt", "config.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (model_dir / name).is_file(), name
    assert not list(model_dir.rglob("*.tmp-*")), "a temporary file was left behind"

    config = json.loads((model_dir / "config.json").read_text())
    assert set(config) == {
        "variant",
        "model",
        "input_size",
        "output_size",
        "min_depth",
        "max_depth",
        "best_epoch",
        "epochs",
        "effective_batch_size",
        "effective_lr",
        "world_size",
        "data_sha256",
        "precision",
    }
    assert config["variant"] == variant
    assert config["input_size"] == [64, 96] and config["output_size"] == [32, 48]
    assert config["world_size"] == 1 and config["effective_batch_size"] == 4
    assert config["data_sha256"] == sha256_file(tiny_data.train_h5)
    assert config["best_epoch"] in (1, 2)
    assert config["precision"] in ("bf16", "fp32")

    # every file a run leaves loads without unpickling code
    state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    expected = build_model(variant, config["model"]).state_dict()
    assert state.keys() == expected.keys()
    assert all(state[k].shape == expected[k].shape for k in state)
    last = torch.load(model_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1 and len(last["history"]) == 2
    _assert_same_tensors(state, torch.load(model_dir / "checkpoints" / "best.pt", weights_only=True))
    model, cfg = load_trained(model_dir)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 96))
    assert out["depth"].shape == (1, 1, 32, 48)
    if variant == "semantic_booster":
        assert out["semantic"].shape == (1, 40, 32, 48)

    rows = _history(report_dir)
    assert list(rows[0].keys()) == HISTORY_COLUMNS
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(float(r["train_loss"]) > 0 and float(r["val_loss"]) >= 0 for r in rows)
    png = (report_dir / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    assert t.summary["best_epoch"] == config["best_epoch"]
    (run,) = _run_in(t.tracking_uri, variant)  # provenance lives in the run, found by the weights it wrote
    assert run.data.tags["depthpipe.model_sha256"] == sha256_file(model_dir / "model.pt")
    assert run.info.status == "FINISHED"
    assert run.data.tags["depthpipe.stage"] == "train"
    assert run.data.tags["depthpipe.data.prepared_sha256"] == config["data_sha256"]
    assert run.data.params["train.epochs"] == "2" and run.data.params["effective_batch_size"] == "4"
    assert run.data.params["prepare.input_size"] == "[64, 96]"
    assert run.data.params["precision"] == config["precision"] == run.data.tags["depthpipe.precision"]
    client = MlflowClient(tracking_uri=t.tracking_uri)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [1, 2]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config.json", "history.csv", "loss.png"}
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [
        "synthetic-train"
    ]  # named for the source it came from


# ------------------------------------------------------------------------------------------- determinism
def test_same_params_and_data_give_identical_weights_and_history(trained, train_tiny, tiny_params, tmp_path) -> None:
    first = trained("densedepth")
    again = train_tiny("densedepth", tiny_params, tmp_path)
    assert (again.model_dir / "model.pt").read_bytes() == (first.model_dir / "model.pt").read_bytes()
    assert (again.report_dir / "history.csv").read_text() == (first.report_dir / "history.csv").read_text()
    _assert_same_tensors(
        load_state_dict(again.model_dir / "checkpoints" / "last.pt")["model"],
        load_state_dict(first.model_dir / "checkpoints" / "last.pt")["model"],
    )


# ------------------------------------------------------------------------------------------------ resume
# The booster (the cheaper variant on the CPU), 2 epochs: the session's uninterrupted run is the reference; the
# interrupted run stops at the start of epoch 2 (index 1), mid-schedule, after epoch 1 was checkpointed.
RESUME_VARIANT = "semantic_booster"


class _Interrupt(EpochBatchSampler):
    """Simulates Ctrl-C at the start of the second epoch (index 1)."""

    def set_epoch(self, epoch: int) -> None:
        if epoch == 1:
            raise KeyboardInterrupt
        super().set_epoch(epoch)


def test_interrupted_run_resumes_to_the_same_weights(
    trained, train_tiny, tiny_params, tmp_path, monkeypatch, capsys
) -> None:
    uninterrupted = trained(RESUME_VARIANT)
    with monkeypatch.context() as mp:
        mp.setattr(trainer_mod, "EpochBatchSampler", _Interrupt)
        with pytest.raises(KeyboardInterrupt):
            train_tiny(RESUME_VARIANT, tiny_params, tmp_path)
    model_dir = tmp_path / "models" / RESUME_VARIANT
    last = load_state_dict(model_dir / "checkpoints" / "last.pt")
    assert last["epoch"] == 0 and len(last["history"]) == 1  # epoch 1 done
    assert not (model_dir / "model.pt").exists()  # nothing final yet
    interrupted_run = last["mlflow_run_id"]
    capsys.readouterr()

    resumed = train_tiny(RESUME_VARIANT, tiny_params, tmp_path)  # same root: same store
    out = capsys.readouterr().out
    assert "resuming" in out and "after epoch 1" in out
    assert "epoch 1/2" not in out and "epoch 2/2" in out  # only the missing epoch was trained

    ref = uninterrupted.model_dir
    assert (resumed.model_dir / "model.pt").read_bytes() == (ref / "model.pt").read_bytes()
    _assert_same_tensors(
        load_state_dict(resumed.model_dir / "checkpoints" / "last.pt")["model"],
        load_state_dict(ref / "checkpoints" / "last.pt")["model"],
    )
    assert (resumed.report_dir / "history.csv").read_text() == (uninterrupted.report_dir / "history.csv").read_text()

    # the MLflow run was reopened, not duplicated: one run with every epoch's metrics and one dataset input
    store = resumed.tracking_uri
    runs = _run_in(store, RESUME_VARIANT)
    assert [r.info.run_id for r in runs] == [interrupted_run]
    assert runs[0].info.status == "FINISHED"
    client = MlflowClient(tracking_uri=store)
    assert [m.step for m in client.get_metric_history(interrupted_run, "train/loss")] == [1, 2]
    assert len(runs[0].inputs.dataset_inputs) == 1


def test_checkpoint_of_other_params_is_not_resumed(trained, train_tiny, tiny_params, tmp_path, capsys) -> None:
    shutil.copytree(trained(RESUME_VARIANT).model_dir, tmp_path / "models" / RESUME_VARIANT)
    one_epoch = with_changes(tiny_params, {f"train.{RESUME_VARIANT}.epochs": 1})  # another fingerprint
    res = train_tiny(RESUME_VARIANT, one_epoch, tmp_path)
    out = capsys.readouterr().out
    assert "made with other params, data or code; starting over" in out and "resuming" not in out
    assert [r["epoch"] for r in _history(res.report_dir)] == ["1"]
    assert load_state_dict(res.model_dir / "checkpoints" / "last.pt")["epoch"] == 0


def test_checkpoint_whose_mlflow_run_is_gone_still_resumes(trained, train_tiny, tiny_params, tmp_path, capsys) -> None:
    """A checkpoint naming a run the (fresh) store does not hold resumes the weights into a new, complete run."""
    ref = trained(RESUME_VARIANT)
    shutil.copytree(ref.model_dir, tmp_path / "models" / RESUME_VARIANT)
    res = train_tiny(RESUME_VARIANT, tiny_params, tmp_path)
    assert "resuming" in capsys.readouterr().out
    assert (res.model_dir / "model.pt").read_bytes() == (ref.model_dir / "model.pt").read_bytes()
    runs = _run_in(res.tracking_uri, RESUME_VARIANT)
    assert len(runs) == 1 and runs[0].data.tags["depthpipe.model_sha256"] == sha256_file(res.model_dir / "model.pt")
    assert runs[0].data.params["train.epochs"] == "2"
    assert len(runs[0].inputs.dataset_inputs) == 1


def test_fingerprint_covers_params_data_and_world(tiny_params) -> None:
    cfg, model = tiny_params.train.densedepth, tiny_params.models.densedepth
    fp = fingerprint("densedepth", cfg, model, "d" * 64, 1)
    assert fp == fingerprint("densedepth", cfg.model_copy(), model.model_copy(), "d" * 64, 1)
    others = [
        fingerprint("semantic_booster", cfg, model, "d" * 64, 1),
        fingerprint("densedepth", cfg.model_copy(update={"lr": 2e-3}), model, "d" * 64, 1),
        fingerprint("densedepth", cfg, model.model_copy(update={"decoder_width": 0.5}), "d" * 64, 1),
        fingerprint("densedepth", cfg, model, "e" * 64, 1),
        fingerprint("densedepth", cfg, model, "d" * 64, 2),
    ]
    assert fp not in others and len(set(others)) == len(others)


# ------------------------------------------------------------------------------------------ bad settings
def _train(params, variant, prepared, tmp_path):
    return trainer_mod.Trainer(
        variant,
        params.train_config(variant),
        params.model_config_of(variant),
        prepared,
        tmp_path / "m",
        tmp_path / "r",
        progress=False,
    ).train()


def test_batch_larger_than_the_data_is_one_line_naming_the_key(tiny_params, tiny_data, tmp_path, mlflow_store) -> None:
    big = with_changes(tiny_params, {"train.semantic_booster.batch_size": 100})
    with pytest.raises(DepthpipeError) as exc:
        _train(big, "semantic_booster", tiny_data.prepared, tmp_path)
    msg = str(exc.value)
    assert "train.semantic_booster.batch_size 100" in msg and "\n" not in msg, msg
    assert not (tmp_path / "m").exists()


def test_densedepths_own_settings_reach_the_optimiser_precision_and_augmentation(
    tiny_params, tiny_data, tmp_path, monkeypatch
) -> None:
    """The paper recipe's amsgrad, fp32 and BasicPolicy draw are what a training step runs with."""
    paper_like = with_changes(
        tiny_params,
        {
            "train.densedepth.optimizer": "adam",
            "train.densedepth.amsgrad": True,
            "train.densedepth.precision": "fp32",
            "train.densedepth.augment": {"hflip_p": 0.5, "channel_swap_p": 0.5, "channel_orders": "basic_policy"},
        },
    )
    drawn, draw = [], trainer_mod.random_augment_params

    def spy(*args):
        drawn.append(args[2:])
        return draw(*args)

    monkeypatch.setattr(trainer_mod, "random_augment_params", spy)
    torch.set_num_threads(1)  # restored after the test (conftest)
    t = trainer_mod.Trainer(
        "densedepth",
        paper_like.train_config("densedepth"),
        paper_like.model_config_of("densedepth"),
        tiny_data.prepared,
        tmp_path / "m",
        tmp_path / "r",
        progress=False,
    )
    assert type(t.optimizer) is torch.optim.Adam and t.optimizer.defaults["amsgrad"] is True
    assert t.precision.dtype == "fp32" and t.logged_params()["train.amsgrad"] is True
    t._step(next(iter(t.loader)), torch.Generator().manual_seed(0))
    assert drawn == [(0.5, 0.5, "basic_policy")]
    assert all("max_exp_avg_sq" in state for state in t.optimizer.state.values())  # AMSGrad's running max
    default = tiny_params.train_config("densedepth")
    assert (default.amsgrad, default.augment.channel_orders) == (False, "permutations")


def test_missing_prepared_data(tiny_params, tmp_path, mlflow_store) -> None:
    with pytest.raises(DepthpipeError, match="prepared data not found"):
        _train(tiny_params, "semantic_booster", tmp_path / "nowhere", tmp_path)
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_holding_code_is_refused_with_what_to_do(tmp_path) -> None:
    import argparse

    from depthpipe.models.trained import load_state_dict

    path = tmp_path / "last.pt"
    torch.save({"model": argparse.Namespace(x=1)}, path)  # unpickling it would import and run code
    with pytest.raises(DepthpipeError) as exc:
        load_state_dict(path)
    assert str(exc.value) == (
        f"{path}: not a depthpipe checkpoint (it holds Python objects, not only tensors); it was "
        "not loaded. Delete it if you did not make it, or move it away and run the stage again"
    )
    path.write_bytes(b"truncated")
    with pytest.raises(DepthpipeError, match="unreadable checkpoint .* delete it and run the stage again"):
        load_state_dict(path)


def test_temporaries_of_a_killed_run_are_removed_when_the_next_starts(
    trained, train_tiny, tiny_params, tmp_path
) -> None:
    shutil.copytree(trained(RESUME_VARIANT).model_dir, tmp_path / "models" / RESUME_VARIANT)
    ckpt = tmp_path / "models" / RESUME_VARIANT / "checkpoints"
    (ckpt / "best.tmp-999999.pt").write_bytes(b"half a checkpoint")  # what kill -9 during a write leaves
    train_tiny(RESUME_VARIANT, tiny_params, tmp_path)
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.pt", "last.pt"]


def test_cpu_threads_leave_a_core_per_loader_worker(monkeypatch) -> None:
    from depthpipe.training.device import set_cpu_threads, usable_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpu = torch.device("cpu")
    assert set_cpu_threads(cpu, 0) == usable_cores()
    assert set_cpu_threads(cpu, usable_cores() + 3) == 1  # never zero
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    assert set_cpu_threads(cpu, 0) == 1  # an explicit OMP_NUM_THREADS (torchrun's, or the user's) wins
