"""Shared fixtures: a tiny prepared dataset, tiny params, an isolated MLflow store and tiny trained models.

- ``tiny_data`` (session): 16 synthetic frames rendered at 120x160 (12 train / 4 test), prepared at a 64x96
  input / 32x48 output into a temporary ``prepared/`` folder (``train.h5``, ``test.h5``).
- ``tiny_params``: ``params.yaml`` loaded with ``recipe: tiny`` and test overrides (2 epochs, batch 4, CPU,
  no workers, DenseDepth decoder_width 0.25, booster resnet18, no system metrics); a fresh deep copy per test.
- ``mlflow_store``: ``MLFLOW_TRACKING_URI`` pointed at a fresh SQLite store under the test's tmp dir (a copy of
  a session-made empty store, so the schema migrations run once per session, not once per test).
- ``trained`` (session): ``trained(variant)`` trains that variant once per session on ``tiny_data`` and
  returns its output folders.

``nyu_fixtures`` stays importable as a plain module: tests/ has no ``__init__.py``, so pytest puts the
folder on ``sys.path``.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

for _k, _v in {"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
               "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}.items():
    os.environ.setdefault(_k, _v)

REPO = Path(__file__).resolve().parents[1]
CLASS_MAPPING = REPO / "data" / "classMapping40.mat"
TINY_FRAMES = 16
TINY_TEST_FRACTION = 0.25
TINY_FULL_HW = (120, 160)
TINY_INPUT = [64, 96]
TINY_OUTPUT = [32, 48]


@dataclass(frozen=True)
class TinyData:
    root: Path      # holds labeled.mat, splits.mat and prepared/
    mat: Path
    splits: Path
    prepared: Path  # train.h5, test.h5, manifest.csv

    @property
    def train_h5(self) -> Path:
        return self.prepared / "train.h5"

    @property
    def test_h5(self) -> Path:
        return self.prepared / "test.h5"


@dataclass(frozen=True)
class Trained:
    variant: str
    model_dir: Path
    report_dir: Path
    tracking_uri: str
    summary: dict


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """``run_training`` turns on deterministic algorithms process-wide; give later tests the state they had."""
    torch = sys.modules.get("torch")
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        if before is None:
            torch.use_deterministic_algorithms(False)
        else:
            torch.use_deterministic_algorithms(before[0])
            torch.set_num_threads(before[1])


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> TinyData:
    from depthpipe.data.prepare import prepare_dataset
    from depthpipe.data.synthetic import write_synthetic
    from depthpipe.params import load_params

    root = tmp_path_factory.mktemp("tiny_nyu")
    mat, splits = root / "labeled.mat", root / "splits.mat"
    write_synthetic(mat, splits, frames=TINY_FRAMES, seed=0, test_fraction=TINY_TEST_FRACTION,
                    class_mapping=CLASS_MAPPING, height=TINY_FULL_HW[0], width=TINY_FULL_HW[1], progress=False)
    prep = dict(load_params(REPO / "params.yaml")["prepare"])
    prep["input_size"] = list(TINY_INPUT)
    prepare_dataset(mat, splits, CLASS_MAPPING, root / "prepared", prep, source="synthetic", progress=False)
    return TinyData(root, mat, splits, root / "prepared")


def tiny_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Apply the test overrides to already loaded params (in place) and return them."""
    params["prepare"]["input_size"] = list(TINY_INPUT)
    params["models"]["densedepth"].update(decoder_width=0.25, encoder_weights="none")
    params["models"]["semantic_booster"].update(backbone="resnet18", encoder_weights="none")
    for variant in ("densedepth", "semantic_booster"):
        params["train"][variant].update(epochs=2, batch_size=4, workers=0, device="cpu", nproc_per_node=1, nnodes=1)
    params["tracking"]["system_metrics"] = False
    return params


@pytest.fixture(scope="session")
def _tiny_params_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import yaml

    from depthpipe.params import load_params

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["recipe"] = "tiny"
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return tiny_overrides(load_params(path))


@pytest.fixture
def tiny_params(_tiny_params_base: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(_tiny_params_base)


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite store (creating the schema takes seconds; copying it does not)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def fresh_store(directory: Path, template: Path) -> str:
    """The tracking URI of ``directory/mlflow.db``, copied from the empty template unless it already exists."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "mlflow.db"
    if not db.exists():
        shutil.copyfile(template, db)
    return f"sqlite:///{db}"


@pytest.fixture(scope="session")
def new_store(_mlflow_template: Path) -> Callable[[Path], str]:
    """``new_store(directory)``: the tracking URI of ``directory/mlflow.db`` (made from the template if absent)."""
    return lambda directory: fresh_store(Path(directory), _mlflow_template)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _mlflow_template: Path) -> str:
    """``MLFLOW_TRACKING_URI`` -> a fresh SQLite store in this test's tmp dir; returns the URI."""
    uri = fresh_store(tmp_path / "mlflow", _mlflow_template)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield uri
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(scope="session")
def train_tiny(tmp_path_factory: pytest.TempPathFactory, tiny_data: TinyData,
               _mlflow_template: Path) -> Callable[..., Trained]:
    """``train_tiny(variant, params, root, prepared=None, tracking_uri=None)``: ``run_training`` into ``root``.

    Outputs go to ``root/models/<variant>`` and ``root/reports/<variant>``; MLflow to ``tracking_uri`` (default:
    the store ``root/mlflow/mlflow.db``, made fresh on first use, so runs into the same ``root`` share it). Runs on one intra-op thread (reproducible and polite on a shared
    2-core machine), restoring the thread count and deterministic-algorithms flag afterwards.
    """

    def run(variant: str, params: dict[str, Any], root: Path, prepared: Path | None = None,
            tracking_uri: str | None = None) -> Trained:
        import torch

        from depthpipe.train import run_training

        uri = tracking_uri or fresh_store(root / "mlflow", _mlflow_template)
        threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("MLFLOW_TRACKING_URI", uri)
                summary = run_training(variant, params, root, prepared or tiny_data.prepared,
                                       root / "models" / variant, root / "reports" / variant, progress=False)
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(det)
        return Trained(variant, root / "models" / variant, root / "reports" / variant, uri, summary)

    return run


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, _tiny_params_base: dict[str, Any],
            train_tiny: Callable[..., Trained]) -> Callable[[str], Trained]:
    """``trained(variant)``: one tiny training run of ``variant`` (``tiny_params``) per session, cached."""
    cache: dict[str, Trained] = {}

    def get(variant: str) -> Trained:
        if variant not in cache:
            root = tmp_path_factory.mktemp(f"trained_{variant}")
            cache[variant] = train_tiny(variant, copy.deepcopy(_tiny_params_base), root)
        return cache[variant]

    return get
