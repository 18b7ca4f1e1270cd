"""benchmarks/gpu_check.sh, the GPU check of the paper recipe, on the CPU: it refuses to start without a GPU, and
with --smoke (every size shrunk) runs all three parts: throughput, data-loader wait, a paper-shaped dvc run, whose
log, dvc.lock and MLflow store --out keeps."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.paths import REPO
from helpers.project import project_env

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def _run(args: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_it_refuses_to_start_without_a_gpu_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"  # what a machine without a driver answers, wherever the real one is
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    env = project_env() | {"PATH": f"{fake.parent}:{project_env()['PATH']}"}
    res = _run([], env, timeout=30)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        "gpu_check: no CUDA device here (nvidia-smi lists no GPU); run it on a GPU machine, or with --smoke on a CPU"
    ]
    bad = _run(["--fast"], env, timeout=30)
    assert bad.returncode == 2 and "unknown argument '--fast'" in bad.stderr
    missing = _run(["--out", str(tmp_path / "nowhere")], env, timeout=30)
    assert missing.returncode == 2 and missing.stderr == f"gpu_check: --out {tmp_path / 'nowhere'}: no such folder\n"


@pytest.mark.slow
def test_smoke_runs_every_part_with_every_size_shrunk(tmp_path: Path) -> None:
    env = project_env() | {"OMP_NUM_THREADS": "1", "GPU_CHECK_LIMIT_S": "240", "GPU_CHECK_RUN_TARGET": "download"}
    res = _run(["--smoke", "--out", str(tmp_path)], env, timeout=300)
    out = res.stdout
    assert res.returncode == 0, f"{out[-3000:]}\n{res.stderr[-3000:]}"
    for part in ("## 1. train images/s", "## 2. data-loader wait", "## 3. a short paper-shaped run"):
        assert part in out, part
    for mode in ("fp32", "fp32-det", "bf16-cl"):
        assert f"| densedepth | 64x96 | {mode} |" in out, mode
    assert "(1 workers) |" in out and "(2 workers) |" in out  # the loader's wait, per worker count
    assert "check: params.yaml (paper recipe) and the MLflow store are fine" in out  # the paper's overrides compose
    assert "| (download: no metrics) | 0 |" in out and "stopped at its share" not in out
    assert "| download | - | FINISHED |" in out  # the run's MLflow store, read back
    assert {p.name for p in tmp_path.iterdir()} == {"gpu_check_run.log", "dvc.lock", "mlflow.db"}
    assert "download:" in (tmp_path / "dvc.lock").read_text()
    assert "gpu_check: done in" in out
