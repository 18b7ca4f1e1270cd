"""Test helpers for whole-project tests: a temporary copy of the repository as a fresh clone has it, its
environment, and running commands in it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.paths import REPO

BIN = Path(sys.executable).parent
COPY = [
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvc/plots_offline.html",
    "conf",
    "pipeline",
    "src",
    "data/splits.mat",
    "data/classMapping40.mat",
    "data/external/README.md",
]


def copy_project(dest: Path) -> Path:
    """The files a clone has, under ``dest``."""
    for rel in COPY:
        src, dst = REPO / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst)
    shutil.copy2(REPO / ".gitignore", dest / ".gitignore")
    return dest


def copy_workspace(src: Path, dest: Path, *ignore: str) -> Path:
    """A copy of the project at ``src`` (git, DVC cache and config included; names matching ``ignore`` left out)
    at ``dest``. The DVC cache's files are hard links: DVC never writes into a cache file once it is there (a new
    object is a new file), and no test writes into one, so the copy's cache costs no copying."""

    def copy(a: str, b: str) -> None:
        if f"{os.sep}.dvc{os.sep}cache{os.sep}" in a:
            with contextlib.suppress(OSError):
                os.link(a, b)
                return
        shutil.copy2(a, b)

    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(*ignore), copy_function=copy)
    return dest


def project_env() -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "DVC_ROOT", "DEPTHPIPE_PIPELINE_RUN"):
        env.pop(key, None)
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: int = 1200, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd``; with ``ok``, fail the test (showing the output) on a non-zero exit.

    The output goes through temporary files, not pipes: a daemon the command leaves behind (``dvc queue start``'s
    workers) inherits them, and a pipe would keep this call waiting for as long as that daemon lives."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=err, text=True, timeout=timeout)
        out.seek(0)
        err.seek(0)
        res = subprocess.CompletedProcess(args, done.returncode, out.read(), err.read())
    if ok:
        assert res.returncode == 0, (
            f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
        )
    return res


def dvc(*args: str) -> list[str]:
    """The venv's ``dvc`` with ``args``."""
    return [str(BIN / "dvc"), *args]


def dvc_status(root: Path) -> dict:
    """What ``dvc status --json`` prints in ``root``: the same call (``Repo.status`` under the repo lock, stages
    named relative to the working directory), made in this process instead of a new one that imports DVC first."""
    from dvc.repo import Repo, lock_repo

    with contextlib.chdir(root), Repo() as repo, lock_repo(repo):
        return repo.status()


def ran_stages(res: subprocess.CompletedProcess[str]) -> set[str]:
    """The stages a ``dvc repro`` / ``dvc exp run`` printed as run."""
    return {line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")}
