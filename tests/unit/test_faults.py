"""Failures as one line and a documented exit code (depthpipe.faults), one test per class, with the real thing:
a truncated HDF5 file, a full tmpfs, a read-only tmpfs, a socket that holds a port, a store that is missing or
down, an output that cannot be written."""

from __future__ import annotations

import errno
import socket
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from depthpipe.cli import main
from depthpipe.errors import DepthpipeError
from depthpipe.faults import describe, exit_code
from helpers.mounts import read_only_copy, tmpfs


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_a_truncated_hdf5_file_is_one_line_naming_it_and_what_to_do(tmp_path: Path) -> None:
    from depthpipe.data.prepared.hdf5 import PreparedSplit

    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as f:
        f["rgb"] = np.zeros((64, 48, 64, 3), np.uint8)
    truncated = tmp_path / "train.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DepthpipeError) as caught:
        PreparedSplit(truncated)
    line = describe(caught.value)
    assert line is not None and "\n" not in line
    assert line.startswith(f"{truncated}: not a readable HDF5 file (") and "truncated file" in line
    assert "dvc repro prepare" in line
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(DepthpipeError, match=r"junk.h5: not a readable HDF5 file \(.*file signature not found"):
        PreparedSplit(tmp_path / "junk.h5")


def test_os_errors_name_the_file_and_the_remedy() -> None:
    full = describe(OSError(errno.ENOSPC, "No space left on device", "reports/x.json"))
    assert full == "reports/x.json: no space left on its disk: free some and run again [errno 28 ENOSPC]"
    assert "read-only" in (describe(OSError(errno.EROFS, "Read-only file system", "m.pt")) or "")
    assert "permission denied" in (describe(PermissionError(errno.EACCES, "Permission denied", "/x")) or "")
    h5 = OSError("Can't write data (file write failed: time = x, filename = 'data/prepared/a.h5', errno = 28, ...)")
    assert describe(h5) == "data/prepared/a.h5: no space left on its disk: free some and run again [errno 28 ENOSPC]"
    torn = RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory. More")
    assert describe(torn) == (
        "a torch file is truncated or corrupt (PytorchStreamReader failed reading zip archive: failed finding "
        "central directory); run the stage that makes it again"
    )
    assert describe(ValueError("a bug")) is None  # anything else keeps its traceback
    assert exit_code("gate") == 2 and exit_code("promote") == 1


def test_a_full_disk_names_the_output_and_leaves_no_partial_file(tmp_path: Path) -> None:
    from depthpipe.files import write_json_atomic
    from depthpipe.models.trained import save_tensors

    with tmpfs(tmp_path / "disk", "1m") as disk:
        with pytest.raises(OSError) as caught:
            save_tensors(disk / "models" / "model.pt", {"w": torch.zeros(1 << 20)})  # 4 MB on a 1 MB disk
        assert describe(caught.value) == (
            f"{disk / 'models' / 'model.pt'}: no space left on its disk: free some and run again [errno 28 ENOSPC]"
        )
        with pytest.raises(OSError, match="No space left") as caught:
            write_json_atomic(disk / "report.json", {"x": "y" * (2 << 20)})
        assert (describe(caught.value) or "").startswith(f"{disk / 'report.json'}: no space left on its disk")
        assert sorted(p.name for p in disk.rglob("*")) == ["models"]  # no temporary file, no partial output


def test_verbs_that_read_the_store_refuse_a_read_only_one(tmp_path: Path, monkeypatch, capsys, _mlflow_template):
    with read_only_copy(tmp_path / "ro", {"mlflow.db": _mlflow_template.read_bytes()}) as folder:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
        for argv in (
            ["promote", "densedepth"],
            ["serve", "densedepth"],
            ["predict", "x.jpg", "--model", "models:/depthpipe-densedepth@champion"],
            ["ui"],
        ):
            assert main(argv) == 1, argv
            assert _err_lines(capsys) == [
                f"depthpipe {argv[0]}: error: MLflow store {folder}/mlflow.db: its folder {folder} is on a read-only "
                f"file system; fix its permissions or set MLFLOW_TRACKING_URI to a store you can write"
            ]


def test_no_verb_makes_a_store_by_accident(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere" / "x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    assert main(["promote", "densedepth"]) == 1
    assert _err_lines(capsys) == [
        f"depthpipe promote: error: MLflow store {missing}: its folder does not exist; "
        "create it, or set MLFLOW_TRACKING_URI to the store you mean"
    ]
    assert not missing.parent.exists()
    absent = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{absent}")
    for verb in (["serve", "densedepth"], ["promote", "densedepth"]):
        assert main(verb) == 1
        (line,) = _err_lines(capsys)
        assert f"MLflow store {absent}: no such database (nothing was logged there)" in line
    assert not absent.exists()


def test_promote_with_a_dead_server_says_so_within_seconds(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as held:  # a port nothing answers on
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    assert main(["promote", "densedepth"]) == 1
    assert time.monotonic() - start < 10
    (line,) = _err_lines(capsys)
    assert line.startswith(f"depthpipe promote: error: MLflow tracking server http://127.0.0.1:{port} did not answer")


def test_a_busy_port_is_one_line_before_anything_starts(tmp_path: Path, mlflow_store, capsys) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.strip().splitlines() == [
            f"depthpipe ui: error: port {port} on 127.0.0.1: already in use, so the MLflow UI cannot listen there; "
            "stop what holds it or choose another with --port"
        ]


def test_gate_output_that_cannot_be_written_is_exit_2_before_the_table(tmp_path: Path, capsys) -> None:
    for output, says in (
        (tmp_path / "missing" / "gate.md", f"its folder {tmp_path / 'missing'} does not exist (create it first)"),
        (tmp_path, "a directory; give a file name"),
    ):
        assert main(["gate", "--output", str(output)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.strip().splitlines() == [f"depthpipe gate: error: --output {output}: {says}"]


def test_serve_without_the_alias_is_one_line_before_serving(tmp_path: Path, mlflow_store, capsys) -> None:
    assert main(["serve", "densedepth"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        f"depthpipe serve: error: registered model 'depthpipe-densedepth' has no @champion version in {mlflow_store}: "
        "no version of 'depthpipe-densedepth' is registered (run the export stage with export.register: true)"
    ]
