"""Streamed knowledge uploads: 413 past the cap without the server's memory growing."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver.asgi.upload import FRAMING

AUTH = {"Authorization": "Bearer sk-ld-mock"}
MIB = 1_048_576
LIMIT = 256 * MIB  # the documented maximum, the server's default
BOUNDARY = "knowledge-boundary"
CHUNK = b"a" * MIB


def _multipart(size: int, name: str = "big.txt") -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def _body(size: int) -> Iterator[bytes]:
    """A multipart body with a file of ``size`` bytes, made as it is sent (never held whole)."""
    head, tail = _multipart(size)
    yield head
    left = size
    while left:
        piece = CHUNK[: min(left, len(CHUNK))]
        left -= len(piece)
        yield piece
    yield tail


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in kB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    """``python -m mockserver serve`` in a subprocess on a free port: (url, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield match.group(0), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_an_upload_past_256_mb_is_a_413_and_the_server_stays_small(
    served: tuple[str, int], declared: bool, record_property: Any
) -> None:
    url, pid = served
    with httpx.Client(base_url=url, headers=AUTH, timeout=120) as client:
        folder = client.post("/__admin/knowledge-folders", json={"workspace": "default"})
        folder_id = folder.json()["id"]
        # Warm up: the upload path's imports and a spooled file, then measure from there.
        warm = client.post(
            f"/knowledge/{folder_id}", files={"file": ("warm.txt", b"warm words " * 200_000)}
        )
        assert warm.status_code == 200, warm.text
        before = _memory(pid)
        size = LIMIT + 1
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if declared:
            head, tail = _multipart(size)
            headers["Content-Length"] = str(len(head) + size + len(tail))
        response = client.post(f"/knowledge/{folder_id}", content=_body(size), headers=headers)
        after = _memory(pid)
        assert response.status_code == 413
        assert "limit" in response.json()["message"]
        # The peak resident size, not just the current: a transient copy would show.
        grown_kb = after["VmHWM"] - before["VmHWM"]
        record_property("server_peak_rss_growth_kb", grown_kb)
        assert grown_kb < 20 * 1024
        files = client.get(f"/knowledge/{folder_id}/list").json()["result"]
        assert [f["name"] for f in files] == ["warm.txt"]  # the refused upload left nothing


@pytest.mark.parametrize(
    ("size", "status"),
    [(MIB, 200), (MIB + 1, 413)],
    ids=["at-the-limit", "one-byte-over"],
)
def test_the_cap_is_the_file_size(make_client: object, size: int, status: int) -> None:
    client: TestClient = make_client(max_knowledge_bytes=MIB)  # type: ignore[operator]
    client.post("/__admin/knowledge-folders", json={"workspace": "default", "id": "f"})
    response = client.post(
        "/knowledge/f", files={"file": ("a.txt", b"w" * size)}, data={"url": "https://x"}
    )
    assert response.status_code == status, response.text


def test_a_body_past_the_cap_plus_framing_is_a_413(make_client: object) -> None:
    client: TestClient = make_client(max_knowledge_bytes=MIB)  # type: ignore[operator]
    client.post("/__admin/knowledge-folders", json={"workspace": "default", "id": "f"})
    fields = {"url": "u" * (FRAMING + 1)}  # no file at all: the fields alone pass the cap
    files = {"file": ("a.txt", b"w" * MIB)}
    response = client.post("/knowledge/f", files=files, data=fields)
    assert response.status_code == 413
