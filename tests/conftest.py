"""Shared fixtures: a tiny prepared dataset, tiny params, an isolated MLflow store and tiny trained models.

- ``tiny_data`` (session): 16 synthetic frames rendered at 120x160 (12 train / 4 test), prepared at a 64x96
  input / 32x48 output into a temporary ``prepared/`` folder (``train.h5``, ``test.h5``).
- ``tiny_params``: ``conf/`` composed with ``recipe=tiny`` and test overrides (2 epochs, batch 4, CPU, no
  workers, DenseDepth decoder_width 0.25, booster resnet18): a checked, frozen :class:`Params`; change it with
  :func:`depthpipe.config.with_changes`.
- ``mlflow_store``: ``MLFLOW_TRACKING_URI`` pointed at a fresh SQLite store under the test's tmp dir (a copy of
  a session-made empty store, so the schema migrations run once per session, not once per test).
- ``trained`` (session): ``trained(variant)`` trains that variant once per session on ``tiny_data`` and
  returns its output folders.

``nyu_fixtures`` stays importable as a plain module: tests/ has no ``__init__.py``, so pytest puts the
folder on ``sys.path``.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import depthpipe  # noqa: F401  (sets the quiet environment: depthpipe.env)
from helpers.paths import REPO

# the local HTTP server fixture (file_server) of the download tests; the team's stack (team_stack) of the team tests
pytest_plugins = ["helpers.http_server", "helpers.team_stack"]

os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on the 2 cores: one torch thread each (and in every stage they start),
    # or their thread pools fight over the cores (a tenfold slowdown, measured)
    os.environ["OMP_NUM_THREADS"] = "1"


# The order the groups are handed out in (`make test` runs `--dist loadgroup --no-loadscope-reorder`): each worker
# starts on one of the first, the rest fill in as workers free up. The team's tests come first, so that teammate A's
# chain (the session's one tiny chain, made by the first worker that needs it) is made while the long unit modules
# run; the modules that only work on copies of it come after those, when it is there.
LONGEST_FIRST = (
    "tests.e2e.test_team_stack",
    "tests.unit.export.test_exporter",
    "trained",  # the modules of the session's tiny models: evaluate, gate, trainer
    "tests.e2e.test_team_backup",
    "tests.e2e.test_team_faults",
    "tests.e2e.test_experiments",
    "tests.e2e.test_pipeline",
    "tests.e2e.test_nyu50k_pipeline",
    "tests.unit.training.test_distributed",
    "tests.unit.serving.test_predict",
    "tests.unit.benchmarks.test_gpu_check",
    "tests.unit.pipeline.test_runner",
    "tests.unit.tracking.test_runs",
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (torch, mlflow, dvc: the test modules' imports) lives as long as the worker: frozen,
    the collector no longer walks it at every full collection."""
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The main process stops the run's team stack once every worker is done (a worker's end is not the run's:
    the stack is shared, :mod:`helpers.team_stack`)."""
    if hasattr(session.config, "workerinput"):
        return
    from helpers.team_stack import stop_shared_stack

    stop_shared_stack(session.config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]


def _group(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return ""
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", ""))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (`--dist loadgroup`)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module's tests share one xdist worker (so its module-scoped fixtures are built once), unless they name a
    group of their own (``trained``); the groups come in the order of :data:`LONGEST_FIRST`."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item), len(rank)))  # stable: module order kept within a group


CLASS_MAPPING = REPO / "data" / "classMapping40.mat"
TINY_FRAMES = 16
TINY_TEST_FRACTION = 0.25
TINY_FULL_HW = (120, 160)
TINY_INPUT = [64, 96]
TINY_OUTPUT = [32, 48]


@dataclass(frozen=True)
class TinyData:
    root: Path  # holds labeled.mat, splits.mat and prepared/
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


# configure() also moves a URI's credentials to MLFLOW_TRACKING_USERNAME / _PASSWORD
MLFLOW_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(autouse=True)
def _restore_mlflow_uris():
    """``tracking.configure`` sets MLflow's process-wide tracking and registry URIs, and their environment
    variables, outside any monkeypatch: later tests of the worker would log into this test's store (or, once its
    folder is removed, fail on a deleted one). Give them back what they had."""
    before = {key: os.environ.get(key) for key in MLFLOW_URI_ENV}
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module: on a 2-core machine, oversubscribed OpenMP threads make small-input tests
    10x slower, and one thread is as fast as two for them. Use with ``pytestmark = usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_prepared(root: Path, frames: int, seed: int, test_fraction: float) -> Path:
    """Synthetic frames at the tiny recipe's sizes in ``root`` (``labeled.mat``, ``splits.mat``), prepared like
    ``params.yaml`` says but at ``TINY_INPUT`` and, as the tiny recipe, with no worker pool (a pool writes the same
    bytes: tests/unit/data/test_prepared.py); returns the prepared folder, ``root/prepared``."""
    from depthpipe.config import load_config
    from depthpipe.data.synthetic import write_synthetic
    from helpers.nyu import prepare_mat

    mat, splits = root / "labeled.mat", root / "splits.mat"
    write_synthetic(
        mat,
        splits,
        frames=frames,
        seed=seed,
        test_fraction=test_fraction,
        class_mapping=CLASS_MAPPING,
        height=TINY_FULL_HW[0],
        width=TINY_FULL_HW[1],
        progress=False,
    )
    prep = load_config(REPO / "params.yaml").prepare.model_copy(update={"input_size": tuple(TINY_INPUT), "workers": 0})
    prepare_mat(mat, splits, CLASS_MAPPING, root / "prepared", prep, source="synthetic", progress=False)
    return root / "prepared"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> TinyData:
    root = tmp_path_factory.mktemp("tiny_nyu")
    prepared = tiny_prepared(root, TINY_FRAMES, 0, TINY_TEST_FRACTION)
    return TinyData(root, root / "labeled.mat", root / "splits.mat", prepared)


TINY_OVERRIDES = [
    "recipe=tiny",
    f"prepare.input_size=[{TINY_INPUT[0]},{TINY_INPUT[1]}]",
    "models.densedepth.decoder_width=0.25",
    *(
        f"train.{v}.{k}"
        for v in ("densedepth", "semantic_booster")
        for k in ("epochs=2", "batch_size=4", "workers=0", "device=cpu", "nproc_per_node=1", "nnodes=1")
    ),
]


@pytest.fixture(scope="session")
def tiny_params(tmp_path_factory: pytest.TempPathFactory):
    """``conf/`` composed with the tiny recipe and :data:`TINY_OVERRIDES` (frozen: share it freely)."""
    from depthpipe.config.composition import compose_params

    return compose_params(REPO, TINY_OVERRIDES, out=tmp_path_factory.mktemp("params") / "params.yaml")


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
    """``MLFLOW_TRACKING_URI`` -> a fresh SQLite store in this test's tmp dir; returns the URI.

    MLflow's own tracking and registry URIs are set too: an earlier test in this worker may have set them
    (``store.configure``), and a client made before this test's first run would otherwise reach that store.
    """
    import mlflow

    uri = fresh_store(tmp_path / "mlflow", _mlflow_template)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(scope="session")
def train_tiny(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: TinyData, _mlflow_template: Path
) -> Callable[..., Trained]:
    """``train_tiny(variant, params, root, prepared=None, tracking_uri=None)``: ``Trainer.train`` into ``root``.

    Outputs go to ``root/models/<variant>`` and ``root/reports/<variant>``; MLflow to ``tracking_uri`` (default:
    the store ``root/mlflow/mlflow.db``, made fresh on first use, so runs into the same ``root`` share it). Runs on
    one intra-op thread (reproducible and polite on a shared 2-core machine), restoring the thread count and
    deterministic-algorithms flag afterwards.
    """

    def run(variant: str, params, root: Path, prepared: Path | None = None, tracking_uri: str | None = None) -> Trained:
        import torch

        from depthpipe.training.trainer import Trainer

        uri = tracking_uri or fresh_store(root / "mlflow", _mlflow_template)
        threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("MLFLOW_TRACKING_URI", uri)
                mp.setenv("OMP_NUM_THREADS", "1")  # the trainer keeps the thread count it finds
                summary = Trainer(
                    variant,
                    params.train_config(variant),
                    params.model_config_of(variant),
                    prepared or tiny_data.prepared,
                    root / "models" / variant,
                    root / "reports" / variant,
                    progress=False,
                ).train()
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(det)
        return Trained(variant, root / "models" / variant, root / "reports" / variant, uri, summary)

    return run


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, tiny_params, train_tiny: Callable[..., Trained]
) -> Callable[[str], Trained]:
    """``trained(variant)``: one tiny training run of ``variant`` (``tiny_params``) per session, cached."""
    cache: dict[str, Trained] = {}

    def get(variant: str) -> Trained:
        if variant not in cache:
            root = tmp_path_factory.mktemp(f"trained_{variant}")
            cache[variant] = train_tiny(variant, tiny_params, root)
        return cache[variant]

    return get


@pytest.fixture(scope="session")
def tiny_project(team_project, _mlflow_template: Path):
    """``(root, env, first)``: the session's one tiny chain, teammate A's clone after ``dvc exp run -S recipe=tiny``
    against the team's stack (:func:`helpers.team_stack.team_project`, results committed); ``env`` has no tracking
    URI, so what runs in a copy logs to the copy's own ``mlflow.db``. Modules work on copies (:func:`project_copy`);
    A's runs are on the team's server."""
    from helpers.project import project_env

    return team_project.a, project_env(), team_project.first, _mlflow_template


def project_copy(tiny_project, dest: Path):
    """A copy of the session's tiny project (git history, DVC cache and config included) at ``dest``, with an
    empty MLflow store of its own; returns ``(root, env, first)``."""
    from helpers.project import copy_workspace

    root, env, first, template = tiny_project
    copy_workspace(root, dest)
    fresh_store(dest, template)
    return dest, env, first
