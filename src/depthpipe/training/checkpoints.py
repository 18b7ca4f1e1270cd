"""The resumable state of a training run: ``models/<variant>/checkpoints/``.

``last.pt`` is the checkpoint of the last epoch (see :mod:`depthpipe.training.state` for what it holds) and
``best.pt`` the best weights so far. The folder is git-ignored and no DVC output: an interrupted run resumes
from it in the same workspace, and a fresh one (a clone, ``--temp``, ``--queue``) starts from scratch.
Temporaries left by a killed run are removed when the next run starts (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKPOINTS = "checkpoints"
LAST, BEST = "last.pt", "best.pt"


def checkpoint_dir(model_dir: str | os.PathLike[str]) -> Path:
    """``<model_dir>/checkpoints``: the resumable state of a run."""
    return Path(model_dir) / CHECKPOINTS


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete ``*.tmp-<pid>.*`` files that a killed process left in ``directory``; returns what was removed."""
    d = Path(directory)
    stale = sorted(d.glob("*.tmp-*")) if d.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
