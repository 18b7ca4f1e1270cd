"""End to end through DVC: a small DenseDepth-style nyu_data.zip (synthetic and real frames) served by a real HTTP
server on 127.0.0.1, then `dvc exp run evaluate@densedepth -S recipe=tiny -S data.source=nyu50k ...` in a
temporary copy of the repository: download -> validate -> prepare (encoded layout) -> a tiny DenseDepth training
-> evaluate under both protocols, whose metrics are checked against an independent numpy computation.

Only DenseDepth trains (the semantic booster is labeled-only). The other layout, the nyudepthv2 tree, goes
through the library functions in tests/test_nyu50k.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.http_server import FileServer
from helpers.nyu50k import real_raw_frames, real_test_frames, synthetic_frames, write_nyu50k_zip
from helpers.project import copy_project, project_env
from helpers.project import dvc as _dvc
from helpers.project import ran_stages as _ran
from helpers.project import run as _run
from helpers.reference_metrics import DENSEDEPTH, EIGEN, independent_metrics, zip_test_frames

pytestmark = pytest.mark.slow


def _predict(model: torch.nn.Module, rgb: np.ndarray, config: dict, mirrored: bool) -> list[np.ndarray]:
    """The trained model's depth in metres at 480x640 (bilinear), clipped, with flip TTA when ``mirrored``."""

    def metres(x: torch.Tensor) -> torch.Tensor:
        target = model(x)["depth"].float().clamp(1.0, config["max_depth"] / config["min_depth"])
        return config["max_depth"] / target

    with torch.no_grad():
        x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0
        depth = metres(x)
        if mirrored:
            depth = 0.5 * (depth + metres(x.flip(-1)).flip(-1))
        depth = F.interpolate(depth, size=(480, 640), mode="bilinear", align_corners=False).clamp(1e-3, 10.0)
    return [d.astype(np.float64) for d in depth[:, 0].numpy()]


def test_nyu50k_zip_through_dvc_exp_run(tmp_path: Path, file_server: FileServer) -> None:
    zip_path = write_nyu50k_zip(tmp_path / "nyu_data.zip", synthetic_frames(6) + real_raw_frames(), real_test_frames(3))
    blob = zip_path.read_bytes()
    url = file_server.add("/densedepth/nyu_data.zip", blob)
    root = copy_project(tmp_path / "repo")
    env = project_env() | {"PYTHONPATH": str(root / "src")}  # the stage scripts import this copy's depthpipe
    _run(["git", "init", "-q", "-b", "main"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "a fresh clone"], root, env)
    res = _run(
        _dvc(
            "exp",
            "run",
            "evaluate@densedepth",
            "-S",
            "recipe=tiny",
            "-S",
            "data.source=nyu50k",
            "-S",
            f"data.nyu50k.url={url}",
            "-S",
            "prepare.layout=encoded",
            "-S",
            "validate.expected_test_frames=3",
            "-S",
            "evaluate.protocols=[standard,densedepth]",
            "-S",
            "train.densedepth.epochs=1",  # any trained model: the metrics are checked against its own predictions
        ),
        root,
        env,
        timeout=900,
    )
    assert _ran(res) == {"check", "download", "validate", "prepare", "train@densedepth", "evaluate@densedepth"}

    source = json.loads((root / "data" / "raw" / "source.json").read_text())
    sha = hashlib.sha256(blob).hexdigest()
    assert (source["source"], source["frames"], source["train"], source["test"]) == ("nyu50k", 12, 9, 3)
    assert source["fetched_sha256"] == sha == source["data_sha256"] and source["sha256_published"] is False
    report = json.loads((root / "reports" / "validation.json").read_text())
    assert report["success"] is True and report["test_frames"] == 3
    with h5py.File(root / "data" / "prepared" / "train.h5") as f:
        assert f.attrs["layout"] == "encoded" and f.attrs["has_labels"] == 0 and "rgb_bytes" in f
    config = json.loads((root / "models" / "densedepth" / "config.json").read_text())
    assert config["input_size"] == [64, 96]

    from depthpipe.data.prepared.hdf5 import PreparedSplit
    from depthpipe.models.trained import load_trained

    model, config = load_trained(root / "models" / "densedepth")
    rgb = PreparedSplit(root / "data" / "prepared" / "test.h5").read("rgb", slice(None))  # what the model saw
    _, gts = zip_test_frames(zip_path)
    want = {
        "standard": independent_metrics(_predict(model.eval(), rgb, config, False), gts, EIGEN, False),
        "densedepth": independent_metrics(_predict(model, rgb, config, True), gts, DENSEDEPTH, True),
    }
    got = json.loads((root / "metrics" / "densedepth.json").read_text())
    assert set(got) == {"standard", "densedepth"}
    for protocol, metrics in want.items():
        for key, value in metrics.items():
            assert got[protocol][key] == pytest.approx(value, rel=1e-4, abs=2e-6), (protocol, key)
