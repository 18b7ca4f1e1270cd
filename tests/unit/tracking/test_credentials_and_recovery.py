"""What a shared tracking server needs from the client: credentials never printed, metrics a store lost logged
again on resume, and registry versions whose export run did not finish found and labelled."""

from __future__ import annotations

import socket

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from depthpipe.errors import DepthpipeError
from depthpipe.tracking import provenance, registry, runs, store

EXP = "depthpipe-test"


@pytest.fixture(autouse=True)
def _experiment(monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXP)
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(key, raising=False)


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


# ------------------------------------------------------------------------------------------ credentials
def test_passwords_and_tokens_are_hidden_wherever_a_uri_is_shown(monkeypatch) -> None:
    assert store.redacted("http://bob:pw@h:5/x?token=abc&a=1") == "http://bob:***@h:5/x?token=***&a=1"
    text = "API request to http://bob:s3cr%40t@h:5/api?x=1&access_token=abc failed (http://h/?X-Amz-Signature=zz)"
    assert store.redacted_text(text) == (
        "API request to http://bob:***@h:5/api?x=1&access_token=*** failed (http://h/?X-Amz-Signature=***)"
    )
    assert store.split_credentials("http://bob:s3cr%40t@h:5/p") == ("http://h:5/p", ("bob", "s3cr@t"))
    assert store.split_credentials("sqlite:////tmp/mlflow.db") == ("sqlite:////tmp/mlflow.db", None)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    assert store.shown("http://h:5") == "http://bob:***@h:5"  # whose access it is, not the password


def test_configure_keeps_credentials_out_of_the_uri_mlflow_prints(monkeypatch) -> None:
    """MLflow prints "View run ... at <tracking URI>" and puts the URI in its errors: it never gets the password."""
    port = _refused_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:Hunter2@127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(Exception) as err:
        store.configure()
    assert "Hunter2" not in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert mlflow.get_tracking_uri() == f"http://127.0.0.1:{port}"
    assert store.tracking_uri() == f"http://127.0.0.1:{port}"
    assert (store.os.environ["MLFLOW_TRACKING_USERNAME"], store.os.environ["MLFLOW_TRACKING_PASSWORD"]) == (
        "alice",
        "Hunter2",
    )
    assert store.shown() == f"http://alice:***@127.0.0.1:{port}"


def test_an_unreachable_server_is_one_line_with_its_whole_cause(monkeypatch) -> None:
    port = _refused_port()
    with pytest.raises(DepthpipeError) as err:
        store.check_store(f"http://carol:pw@127.0.0.1:{port}")
    message = str(err.value)
    assert message.startswith(f"MLflow tracking server http://carol:***@127.0.0.1:{port} did not answer")
    assert "Connection refused" in message and "\n" not in message and ":pw@" not in message


# ------------------------------------------------------------------------------------------ recovery
def test_a_resumed_run_logs_the_epochs_its_store_lacks(mlflow_store) -> None:
    tags = provenance.stage_tags("train", "densedepth", None, None)
    with runs.stage_run("train", "densedepth", {}, tags) as run:
        run.log_metrics({"train/loss": 0.9}, step=1)  # epoch 2's batch never reached the store
        history = [
            {"epoch": 1, "train_loss": 0.9, "val_loss": 0.8},
            {"epoch": 2, "train_loss": 0.7, "val_loss": float("nan")},
        ]
        assert run.log_missing(history, {"train_loss": "train/loss", "val_loss": "val/loss"}) == 2
        assert run.log_missing(history, {"train_loss": "train/loss", "val_loss": "val/loss"}) == 0
    client = MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "train/loss")] == [(1, 0.9), (2, 0.7)]
    assert [m.step for m in client.get_metric_history(run.run_id, "val/loss")] == [1]


def _version_of(client: MlflowClient, variant: str, status: str) -> tuple[str, str]:
    """A registered version whose export run ended with ``status``: (version, run id)."""
    with runs.stage_run("export", variant, {}, provenance.stage_tags("export", variant, None, None)) as run:
        info = mlflow.pyfunc.log_model(name="m", python_model=_Echo())
    client.set_terminated(run.run_id, status)
    assert client.get_run(run.run_id).info.status == status
    card = {"input": {"size": [8, 8]}, "depth_range_m": [0.1, 10], "task": "depth", "limitations": "none"}
    return registry.register(client, variant, info, run.run_id, card, {"depthpipe.train_run": "t"}), run.run_id


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_a_version_is_born_described_and_one_whose_run_did_not_finish_is_labelled(mlflow_store, capsys) -> None:
    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    finished, _ = _version_of(client, "densedepth", "FINISHED")
    killed, killed_run = _version_of(client, "densedepth", "KILLED")
    name = registry.registered_model_name("densedepth")
    version = client.get_model_version(name, killed)
    assert version.description.startswith("Exported from commit") and version.tags["depthpipe.train_run"] == "t"
    assert client.get_registered_model(name).description.startswith("depthpipe densedepth (depth)")
    labelled = registry.label_unfinished_versions(client, "densedepth", current_run="another")
    seen = [(v.version, client.get_run(v.run_id).info.status) for v in client.search_model_versions(f"name = '{name}'")]
    assert labelled == [killed], seen
    assert client.get_model_version(name, killed).tags[registry.UNFINISHED_TAG] == f"export run {killed_run} KILLED"
    assert registry.UNFINISHED_TAG not in client.get_model_version(name, finished).tags
    assert f"{name} version {killed}: its export run {killed_run} ended KILLED" in capsys.readouterr().out
    assert registry.label_unfinished_versions(client, "densedepth", current_run="another") == []  # once
