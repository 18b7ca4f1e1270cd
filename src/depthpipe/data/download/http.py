"""Resumable, checksummed HTTP download (for the 2.8 GiB NYU labeled file).

The bytes stream into ``<cache_dir>/<name>.part``; when the transfer breaks (connection cut, timeout, short read,
a 5xx answer) the next attempt asks for the rest with ``Range: bytes=N-`` after an exponential back-off, so a
later run (or the next attempt) never fetches the kept bytes again. A server that ignores the range (answers
200) makes the download restart from zero; 416 (range not satisfiable) means the ``.part`` already holds
everything.
Bytes are appended one read chunk at a time, so a cut loses at most the chunk being read (``chunk_bytes``).

Verification, in order: the size (when known), then the sha256 (when given). The hash is computed
incrementally while the bytes arrive when a single response delivered the whole file from byte 0; after any
resume it is computed over the finished ``.part`` in one pass (so a resumed file is still hashed exactly once
and correctly). A verified file is renamed atomically onto ``dest``. A file that fails verification is moved
aside to ``<name>.bad-sha256-<first 12 hex of what it hashed to>`` (or ``<name>.bad-size-<bytes>``) in
``cache_dir``, kept for inspection but never used, and a :class:`DepthpipeError` says what was expected, what
was got and where the file was kept. If ``dest`` already exists with the right size and sha256 it is returned
without any network access.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from depthpipe.config import NYUDownload
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path, sha256_file

MAX_BACKOFF_S = 60.0
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class _Retry(Exception):
    """A transient failure: try again (resuming) after a back-off."""


def _check_existing(dest: Path, size: int | None, sha256: str | None) -> bool:
    """Whether ``dest`` exists and matches the expected size and sha256 (both optional)."""
    if not dest.is_file():
        return False
    if size is not None and dest.stat().st_size != size:
        return False
    return sha256 is None or sha256_file(dest) == sha256.lower()


def _set_aside(part: Path, tag: str) -> Path:
    """Move a failed download beside the ``.part`` as ``<name>.<tag>`` (replacing an older one)."""
    kept = part.with_name(part.name[: -len(".part")] + f".{tag}")
    os.replace(part, kept)
    return kept


def _place(part: Path, dest: Path) -> None:
    """Rename the verified ``.part`` onto ``dest`` (copy through a temporary file across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(part, dest)
    except OSError:
        with atomic_path(dest) as tmp:
            shutil.copyfile(part, tmp)
        part.unlink()


def _content_range_start(value: str | None) -> int | None:
    """The first byte of a ``Content-Range: bytes a-b/n`` header, or None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def download(
    url: str,
    dest: str | os.PathLike[str],
    size: int | None,
    sha256: str | None,
    cache_dir: str | os.PathLike[str],
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60,
    chunk_bytes: int = 1 << 20,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify ``size`` and ``sha256`` (either may be None).

    ``retries`` is the number of further attempts after the first; attempt ``k`` (from 1) waits
    ``backoff_s * 2 ** (k - 1)`` seconds (at most 60) first. ``timeout_s`` bounds the connection and every read.
    Returns ``dest``. Raises :class:`DepthpipeError` on a 4xx answer, on a verification failure and when the
    retries are exhausted (the ``.part`` is kept so a later call resumes).
    """
    dest = Path(dest)
    cache = Path(cache_dir)
    if sha256 is not None:
        sha256 = sha256.lower()
    if _check_existing(dest, size, sha256):
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{dest.name}.part"
    last_error = "no attempt made"
    attempts = max(0, int(retries)) + 1
    with requests.Session() as session:
        for attempt in range(attempts):
            if attempt:
                sleep(min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            try:
                total, digest = _attempt(session, url, part, size, timeout_s, chunk_bytes, progress)
            except _Retry as exc:
                last_error = str(exc)
                continue
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
                continue
            except requests.RequestException as exc:  # a bad URL and the like: retrying cannot help
                raise DepthpipeError(f"{url}: {type(exc).__name__}: {exc}") from None
            return _verify_and_place(url, part, dest, size if size is not None else total, sha256, digest)
    have = part.stat().st_size if part.exists() else 0
    raise DepthpipeError(
        f"{url}: download failed after {attempts} attempts ({last_error}); "
        f"{have} bytes kept in {part} for a later resume"
    )


def download_section(dl: NYUDownload, workspace: Path, progress: bool) -> Path:
    """Download what a ``data.<source>`` section names (``url``, ``size``, ``sha256``, retries) into its
    ``cache_dir`` (relative to ``workspace`` unless absolute), under the URL's file name; returns the file."""
    cache = Path(dl.cache_dir)
    cache = cache if cache.is_absolute() else workspace / cache
    return download(
        dl.url,
        cache / Path(urlparse(dl.url).path).name,
        size=dl.size,
        sha256=dl.sha256,
        cache_dir=cache,
        retries=dl.retries,
        backoff_s=dl.backoff_s,
        timeout_s=dl.timeout_s,
        progress=progress,
    )


def _attempt(
    session: requests.Session,
    url: str,
    part: Path,
    size: int | None,
    timeout_s: float,
    chunk_bytes: int,
    progress: bool,
) -> tuple[int | None, str | None]:
    """One request: append to ``part`` from where it ends. Returns (total size if known, sha256 or None).

    The sha256 is returned only when this response streamed the whole file from byte 0.
    """
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # longer than the file can be: start again
        part.unlink()
        have = 0
    if size is not None and have == size:
        return size, None  # complete already: verify
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout_s) as resp:
        if resp.status_code == 416 and have:
            total = _total_from_416(resp.headers.get("Content-Range"))
            if total is None or total == have:
                return have, None  # the .part is the whole file
            part.unlink()
            raise _Retry(f"HTTP 416 with {have} bytes held of {total}; restarting from zero")
        have, mode = _resume_point(resp, url, part, have)
        length = resp.headers.get("Content-Length")
        expected_total = size if size is not None else (have + int(length) if length and length.isdigit() else None)
        digest = _stream_into(part, mode, resp, have, expected_total, chunk_bytes, progress)
        got = part.stat().st_size
        if expected_total is not None and got < expected_total:
            raise _Retry(f"short read: {got} of {expected_total} bytes")
        return expected_total if expected_total is not None else got, digest


def _resume_point(resp: requests.Response, url: str, part: Path, have: int) -> tuple[int, str]:
    """Where the answer's bytes go: (bytes of ``part`` kept, file mode) -- appended after a 206 that starts
    where ``part`` ends, written from zero after a 200; other answers raise (:class:`_Retry` when transient)."""
    status = resp.status_code
    if status in _RETRYABLE_STATUS:
        raise _Retry(f"HTTP {status} {resp.reason}")
    if status >= 400:
        raise DepthpipeError(f"{url}: HTTP {status} {resp.reason} (not retried)")
    if status == 206:
        start = _content_range_start(resp.headers.get("Content-Range"))
        if start != have:
            part.unlink()
            raise _Retry(f"server resumed at byte {start}, expected {have}; restarting from zero")
        return have, "ab"
    if status == 200:
        return 0, "wb"  # a fresh start, or a server that ignored the Range header
    raise _Retry(f"unexpected HTTP {status} {resp.reason}")


def _stream_into(
    part: Path,
    mode: str,
    resp: requests.Response,
    have: int,
    expected_total: int | None,
    chunk_bytes: int,
    progress: bool,
) -> str | None:
    """Write the answer's body to ``part`` (``mode`` ab or wb) one chunk at a time, with a progress bar;
    returns the sha256 of the file when the body starts at byte 0 (``have`` 0), else None."""
    digest = hashlib.sha256() if have == 0 else None
    with (
        open(part, mode) as fh,
        tqdm(
            total=expected_total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name[: -len(".part")],
            disable=not progress,
        ) as bar,
    ):
        for block in resp.iter_content(chunk_size=chunk_bytes):
            if not block:
                continue
            fh.write(block)
            if digest is not None:
                digest.update(block)
            bar.update(len(block))
    return digest.hexdigest() if digest else None


def _total_from_416(value: str | None) -> int | None:
    """The ``n`` of ``Content-Range: bytes */n`` on a 416 answer, or None."""
    if value and "/" in value:
        tail = value.rsplit("/", 1)[1].strip()
        if tail.isdigit():
            return int(tail)
    return None


def _verify_and_place(
    url: str, part: Path, dest: Path, size: int | None, sha256: str | None, digest: str | None
) -> Path:
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        kept = _set_aside(part, f"bad-size-{got_size}")
        raise DepthpipeError(f"{url}: size mismatch: expected {size} bytes, got {got_size}; kept at {kept} (not used)")
    if sha256 is not None:
        got = digest if digest is not None else sha256_file(part)
        if got != sha256:
            kept = _set_aside(part, f"bad-sha256-{got[:12]}")
            raise DepthpipeError(f"{url}: sha256 mismatch: expected {sha256}, got {got}; kept at {kept} (not used)")
    _place(part, dest)
    return dest
