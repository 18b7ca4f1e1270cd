"""Resumable, checksummed download (``depthpipe.data.download.http``) against a real local HTTP server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from depthpipe.data.download.http import download
from depthpipe.errors import DepthpipeError
from helpers.http_server import FileServer

SIZE = 3 * (1 << 20) + 12345  # a few MB, not a multiple of the chunk size
FAST = dict(backoff_s=0.01, timeout_s=10, progress=False, chunk_bytes=1 << 16)


@pytest.fixture(scope="module")
def payload() -> bytes:
    return np.random.default_rng(7).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


@pytest.fixture
def served(file_server: FileServer, payload: bytes) -> tuple[FileServer, str, str]:
    url = file_server.add("/nyu/blob.mat", payload)
    return file_server, url, hashlib.sha256(payload).hexdigest()


def test_full_download_verifies_and_places(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    dest = tmp_path / "out" / "blob.mat"
    got = download(url, dest, SIZE, sha, tmp_path / "cache", **FAST)
    assert got == dest and dest.read_bytes() == payload
    assert server.ranges() == [None]
    assert not (tmp_path / "cache" / "blob.mat.part").exists()


def test_connection_cut_resumes_with_range(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    server.cut_next = 1  # the first response stops after half the file
    dest = tmp_path / "blob.mat"
    download(url, dest, SIZE, sha, tmp_path / "cache", **FAST)
    assert dest.read_bytes() == payload
    ranges = server.ranges()
    assert len(ranges) == 2 and ranges[0] is None
    # it resumes where the kept bytes end: at most the half that was sent (a partial read chunk may be lost)
    resumed_at = int(str(ranges[1]).removeprefix("bytes=").removesuffix("-"))
    assert SIZE // 2 - FAST["chunk_bytes"] <= resumed_at <= SIZE // 2
    assert [r["status"] for r in server.requests] == [200, 206]


def test_existing_part_resumes(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.mat.part").write_bytes(payload[:1_000_000])
    dest = tmp_path / "blob.mat"
    download(url, dest, SIZE, sha, cache, **FAST)
    assert dest.read_bytes() == payload
    assert server.ranges() == ["bytes=1000000-"]


def test_complete_part_answered_416_is_verified(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.mat.part").write_bytes(payload)
    dest = tmp_path / "blob.mat"
    download(url, dest, None, sha, cache, **FAST)  # size unknown: must ask, the server says 416
    assert dest.read_bytes() == payload
    assert [r["status"] for r in server.requests] == [416]


def test_wrong_sha256_is_kept_aside(served, payload: bytes, tmp_path: Path) -> None:
    _, url, sha = served
    cache, dest = tmp_path / "cache", tmp_path / "blob.mat"
    wrong = "0" * 64
    with pytest.raises(DepthpipeError, match="sha256 mismatch") as err:
        download(url, dest, SIZE, wrong, cache, **FAST)
    msg = str(err.value)
    assert wrong in msg and sha in msg and url in msg and "\n" not in msg
    kept = cache / f"blob.mat.bad-sha256-{sha[:12]}"
    assert kept.read_bytes() == payload and str(kept) in msg
    assert not dest.exists() and not (cache / "blob.mat.part").exists()


def test_wrong_size_is_kept_aside(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    cache, dest = tmp_path / "cache", tmp_path / "blob.mat"
    with pytest.raises(DepthpipeError, match=f"size mismatch: expected {SIZE + 10} bytes, got {SIZE}"):
        download(url, dest, SIZE + 10, None, cache, retries=2, **FAST)
    assert (cache / f"blob.mat.bad-size-{SIZE}").exists() and not dest.exists()
    # it asked once for everything, then for the missing tail, which the server does not have (416)
    assert [r["status"] for r in server.requests] == [200, 416]


def test_server_ignoring_range_restarts_cleanly(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    server.ignore_range = True
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.mat.part").write_bytes(b"stale partial bytes that must not survive")
    dest = tmp_path / "blob.mat"
    download(url, dest, SIZE, sha, cache, **FAST)
    assert dest.read_bytes() == payload
    assert server.ranges()[0] is not None and [r["status"] for r in server.requests] == [200]


def test_cut_on_server_ignoring_range_restarts_from_zero(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    server.ignore_range, server.cut_next = True, 1
    dest = tmp_path / "blob.mat"
    download(url, dest, SIZE, sha, tmp_path / "cache", **FAST)
    assert dest.read_bytes() == payload
    assert [r["status"] for r in server.requests] == [200, 200]


def test_transient_5xx_is_retried(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    server.fail_next = [503, 502]
    dest = tmp_path / "blob.mat"
    download(url, dest, SIZE, sha, tmp_path / "cache", **FAST)
    assert dest.read_bytes() == payload
    assert [r["status"] for r in server.requests] == [503, 502, 200]


def test_404_is_a_clear_error_without_retries(served, tmp_path: Path) -> None:
    server, url, sha = served
    missing = url.replace("blob.mat", "nothing.mat")
    with pytest.raises(DepthpipeError, match="HTTP 404") as err:
        download(missing, tmp_path / "nothing.mat", SIZE, sha, tmp_path / "cache", **FAST)
    assert missing in str(err.value)
    assert len(server.requests) == 1


def test_retries_exhausted_keeps_part(served, tmp_path: Path) -> None:
    server, url, sha = served
    server.cut_next = 100  # every response is cut
    cache = tmp_path / "cache"
    with pytest.raises(DepthpipeError, match="download failed after 3 attempts") as err:
        download(url, tmp_path / "blob.mat", SIZE, sha, cache, retries=2, **FAST)
    assert url in str(err.value)
    part = cache / "blob.mat.part"
    assert part.exists() and 0 < part.stat().st_size < SIZE and str(part) in str(err.value)
    assert len(server.requests) == 3
    # a later call resumes from what was kept
    server.cut_next = 0
    held = part.stat().st_size
    download(url, tmp_path / "blob.mat", SIZE, sha, cache, **FAST)
    assert server.ranges()[-1] == f"bytes={held}-"


def test_present_dest_makes_no_request(served, payload: bytes, tmp_path: Path) -> None:
    server, _, sha = served
    dest = tmp_path / "blob.mat"
    dest.write_bytes(payload)
    # a URL nobody listens on: any network access would fail
    got = download("http://127.0.0.1:9/blob.mat", dest, SIZE, sha, tmp_path / "cache", retries=0, **FAST)
    assert got == dest and server.requests == []


def test_present_but_wrong_dest_is_downloaded_again(served, payload: bytes, tmp_path: Path) -> None:
    server, url, sha = served
    dest = tmp_path / "blob.mat"
    dest.write_bytes(payload[:-1] + b"x")
    download(url, dest, SIZE, sha, tmp_path / "cache", **FAST)
    assert dest.read_bytes() == payload and len(server.requests) == 1


def test_unreachable_server_reports_url_and_last_error(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/blob.mat"
    with pytest.raises(DepthpipeError, match="download failed after 2 attempts .*ConnectionError") as err:
        download(url, tmp_path / "blob.mat", 10, None, tmp_path / "cache", retries=1, **FAST)
    assert url in str(err.value)
