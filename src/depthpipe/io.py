"""Small file helpers shared by every stage: atomic writes and content hashes.

Every output is written under a temporary name beside its final path and renamed into place only when
complete, so an interrupted or failed stage never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the suffix (``x.tmp-123.h5``) so libraries that look at extensions still work.
    On any exception the temporary file is removed and the exception propagates.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.stem}.tmp-{os.getpid()}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as stable, sorted, indented JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse the JSON file ``path``; a missing or malformed file is a one-line error naming it and ``what`` it is."""
    from depthpipe.errors import DepthpipeError

    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise DepthpipeError(f"{p}: not found (is {p.parent} {what}?)") from None
    except json.JSONDecodeError as exc:
        raise DepthpipeError(f"{p}: not valid JSON ({exc})") from None
