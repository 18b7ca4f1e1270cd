"""Real file-system faults for tests: a tiny tmpfs that fills up, or one mounted read-only; the test is skipped,
with the reason, where this machine does not let the test mount one (not root, no mount namespace)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    res = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({' '.join(res.stderr.split()) or res.returncode})")


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (created): a disk that fills up."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def read_only_copy(path: Path, files: dict[str, bytes]) -> Iterator[Path]:
    """A tmpfs at ``path`` holding ``files`` (name -> bytes), then remounted read-only."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path))
    try:
        for name, data in files.items():
            (path / name).write_bytes(data)
        _mount("-o", "remount,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30)
