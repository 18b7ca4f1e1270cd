"""Small file helpers shared by every stage: atomic writes and content hashes.

Every output is written under a temporary name beside its final path and renamed into place only when
complete, so an interrupted or failed stage never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from depthpipe.errors import DepthpipeError, one_line

# errors that only writing gives: the output, not an input read in the same block, is at fault
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _naming(exc: BaseException, written: Path, final: Path) -> BaseException:
    """``exc`` with ``final`` as its file name when it is a failure to write ``written`` (a full disk, a
    read-only file system; HDF5's errors carry the errno in their text), else ``exc`` itself."""
    if not isinstance(exc, OSError):
        return exc
    code = exc.errno
    if code is None and "errno = " in str(exc):  # HDF5
        digits = str(exc).split("errno = ", 1)[1].split(",")[0].strip()
        code = int(digits) if digits.isdigit() else None
    name = Path(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else None
    inside = name is not None and (name == written or written in name.parents)
    if code not in _WRITE_ERRNOS and not inside:
        return exc
    shown = final / name.relative_to(written) if inside and name is not None else final
    return OSError(code, exc.strerror or one_line(exc), str(shown))


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
    On any exception the temporary file is removed and the exception propagates; a failure to write it (a full
    disk, a read-only file system) names ``path``, not the temporary file.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.stem}.tmp-{os.getpid()}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        named = _naming(exc, tmp, final)
        if named is exc:
            raise
        raise named from exc


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        named = _naming(exc, tmp, final)
        if named is exc:
            raise
        raise named from exc


def link_or_copy(src: Path, dst: Path) -> str:
    """Place ``src`` at ``dst`` atomically by hard link, or by copy where linking fails. Returns "link"/"copy"."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return "link"
    with atomic_path(dst) as tmp:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
            how = "link"
        except OSError:
            shutil.copyfile(src, tmp)
            how = "copy"
    return how


def copy_file(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (never a link: the copy may be made read-only by DVC)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as stable, sorted, indented JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse the JSON file ``path``; a missing or malformed file is a one-line error naming it and ``what`` it is."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise DepthpipeError(f"{p}: not found (is {p.parent} {what}?)") from None
    except json.JSONDecodeError as exc:
        raise DepthpipeError(f"{p}: not valid JSON ({exc})") from None


class StagedFiles:
    """Outputs written under their own names in hidden staging folders, moved into place only by :meth:`commit`.

    A stage writes every output through :meth:`path`, logs what it must (artifacts keep their final names), and
    commits at the very end: a failure anywhere before leaves the previous outputs untouched and no new ones.
    Use as a context manager; leaving it without :meth:`commit` (an exception) removes the staged files.
    """

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}

    def path(self, final: str | os.PathLike[str]) -> Path:
        """Where to write the output that belongs at ``final``."""
        final = Path(final)
        staging = final.parent / f".staging-{os.getpid()}"
        staging.mkdir(parents=True, exist_ok=True)
        self._staged[final] = staging / final.name
        return self._staged[final]

    def commit(self) -> None:
        """Move every staged output onto its final path (each an atomic rename)."""
        for final, staged in self._staged.items():
            os.replace(staged, final)
        self._cleanup()

    def _cleanup(self) -> None:
        for staged in self._staged.values():
            staged.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                staged.parent.rmdir()
        self._staged.clear()

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup()
