"""Where a run comes from: the pipeline run it belongs to, the commit, the stage, the machine; as MLflow tags.

This is provenance, and it lives in MLflow only: no DVC output holds any of it, so the same inputs give the
same bytes whoever runs the pipeline, wherever and whenever.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from depthpipe.config import Params

PIPELINE_RUN_ENV = "DEPTHPIPE_PIPELINE_RUN"
_PIPELINE_PARAMS: contextvars.ContextVar[Params | None] = contextvars.ContextVar("pipeline_params", default=None)


def _git(args: list[str], workspace: str | os.PathLike[str] | None) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=workspace or Path.cwd(), capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(workspace: str | os.PathLike[str] | None = None) -> str:
    """The commit checked out in ``workspace`` (default: the working directory); ``unknown`` outside git."""
    out = _git(["rev-parse", "HEAD"], workspace)
    return out.strip() if out else "unknown"


def git_dirty(workspace: str | os.PathLike[str] | None = None) -> str:
    """``true`` when tracked files differ from the commit (params.yaml included), ``false``, or ``unknown``."""
    out = _git(["status", "--porcelain", "--untracked-files=no"], workspace)
    return "unknown" if out is None else str(bool(out.strip())).lower()


def pipeline_run_id() -> str:
    """One id shared by every stage of one pipeline run, passed down by whoever started it.

    ``DEPTHPIPE_PIPELINE_RUN`` when set (``make repro`` and ``depthpipe repro`` set it); inside ``dvc exp
    run`` the experiment (DVC's ``DVC_EXP_NAME`` on ``DVC_EXP_BASELINE_REV``); else a fresh id (a stage run
    on its own, or a bare ``dvc repro``).
    """
    given = os.environ.get(PIPELINE_RUN_ENV)
    if given:
        return given
    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        return hashlib.sha1(f"{exp}@{os.environ.get('DVC_EXP_BASELINE_REV', '')}".encode()).hexdigest()[:12]
    return uuid.uuid4().hex[:12]


def stage_tags(stage: str, variant: str | None, data_source: str | None, data_sha256: str | None) -> dict[str, str]:
    """The tags every stage run carries."""
    tags = {
        "depthpipe.stage": stage,
        "depthpipe.pipeline_run": pipeline_run_id(),
        "mlflow.source.git.commit": git_commit(),
        "dvc.stage": os.environ.get("DVC_STAGE", stage if variant is None else f"{stage}@{variant}"),
        "depthpipe.host": socket.gethostname(),
        "depthpipe.pid": str(os.getpid()),
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if variant:
        tags["depthpipe.variant"] = variant
    if data_source:
        tags["depthpipe.data.source"] = data_source
    if data_sha256:
        tags["depthpipe.data.source_sha256"] = data_sha256
    return tags


@contextlib.contextmanager
def pipeline_context(params: Params) -> Iterator[None]:
    """Within the block, a stage's parent run (when it has to create it) records ``params`` as resolved."""
    token = _PIPELINE_PARAMS.set(params)
    try:
        yield
    finally:
        _PIPELINE_PARAMS.reset(token)


def pipeline_params() -> Params | None:
    """The params :func:`pipeline_context` holds (None outside it)."""
    return _PIPELINE_PARAMS.get()
