"""An exported program (``model.pt2``) loaded once per process for the same bytes.

``torch.export.load`` deserialises a program's graph in Python: seconds for DenseNet-169, whatever the input
size. The export stage loads the program it has written (its parity check), and MLflow then loads the model it
logs again to try its input example: that second load of the same bytes is the first one's module. The last
program loaded is kept, keyed by the sha256 of its file, so a process holds at most one. ``torch.export`` logs
the traceback of a file it cannot read before raising; that log is silenced: the caller's error, one line, says it.

It imports nothing of depthpipe: the served model carries this file (its ``code_paths``, beside
:mod:`depthpipe.serving.photo`) and needs only torch to run it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

import torch

_last: tuple[str, Any] | None = None  # (sha256 of the file, its module)


def load_program(path: str | os.PathLike[str]) -> Any:
    """The callable module of the program saved at ``path`` (``torch.export.load(path).module()``); the same
    object again while no other program has been loaded since."""
    global _last
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if _last is None or _last[0] != digest:
        logger = logging.getLogger("torch.export")
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            _last = (digest, torch.export.load(os.fspath(path)).module())
        finally:
            logger.setLevel(level)
    return _last[1]
