"""Streamed knowledge uploads: 413 past the cap without the server's memory growing."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
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


def _read_until(sock: socket.socket, marker: bytes, answer: bytes = b"") -> bytes:
    """Bytes from ``sock`` until ``marker`` (the socket's timeout bounds every wait)."""
    while marker not in answer:
        piece = sock.recv(65536)
        if not piece:
            break
        answer += piece
    return answer


def test_a_slow_upload_holds_no_lock_while_it_streams_in(live: MockServer) -> None:
    """The form is read before the state lock is taken: others are answered meanwhile.

    A raw socket sends the upload's head with ``Expect: 100-continue``: uvicorn answers
    ``100 Continue`` when the endpoint first asks for the body, so from then on the endpoint
    is reading it. Half the file is sent and the upload stalls; requests on other connections
    must be answered (and the lock be free) before the rest is sent. Every wait has a timeout.
    """
    live.add_folder("slow")
    head, tail = _multipart(0, "slow.txt")
    content = b"slow words " * 10_000
    size = len(head) + len(content) + len(tail)
    host, port = live.url.removeprefix("http://").split(":")
    request = (
        f"POST /knowledge/slow HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-ld-mock\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(request)
        assert _read_until(slow, b"\r\n\r\n").startswith(b"HTTP/1.1 100 ")
        slow.sendall(head + content[: len(content) // 2])
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=5) as fast:
            for _ in range(3):
                listed = fast.get("/knowledge/slow/list")
                assert (listed.status_code, listed.json()["result"]) == (200, [])
                reply = fast.post(
                    "/assistant/v1/chat/completions",
                    json={
                        "assistant": {"name": "A", "instructions": "x"},
                        "messages": [{"role": "user", "content": "meanwhile"}],
                    },
                )
                assert reply.status_code == 200
        assert live.state.lock.acquire(timeout=5)  # free while the upload waits for its bytes
        live.state.lock.release()
        assert "knowledge.upload" not in [r.operation for r in live.requests]
        slow.sendall(content[len(content) // 2 :] + tail)
        answer = _read_until(slow, b"}}")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b'"name":"slow.txt"' in answer
    assert [r.status for r in live.requests if r.operation == "knowledge.upload"] == [200]


def test_a_file_is_read_off_the_state_lock_and_the_event_loop(
    live: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text extraction (seconds for a big file) runs in a worker thread, before the lock.

    The read is held at an event while other requests on the same server are answered and the
    lock is free; released, the upload completes. Every wait has a timeout.
    """
    from mockserver.api.knowledge.folders import read_file

    reading, release = threading.Event(), threading.Event()

    def held(upload: Any) -> Any:
        reading.set()
        assert release.wait(10)
        return read_file(upload)

    monkeypatch.setattr("mockserver.asgi.endpoint.read_file", held)
    live.add_folder("held")
    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(
            httpx.post,
            live.url + "/knowledge/held",
            files={"file": ("held.txt", b"held words")},
            headers=AUTH,
            timeout=20,
        )
        assert reading.wait(10)
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=5) as fast:
            listed = fast.get("/knowledge/held/list")
            assert (listed.status_code, listed.json()["result"]) == (200, [])
        assert live.state.lock.acquire(timeout=5)
        live.state.lock.release()
        release.set()
        answer = upload.result(timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["name"] == "held.txt"


def test_the_folders_404_and_403_still_come_before_the_files_400(live: MockServer) -> None:
    """The file is read before the handler runs; the handler's own refusals still win."""
    outsider = live.add_key(workspace="other", scopes=["KNOWLEDGE_FOLDER_API"])
    reader = live.add_key(workspace="default", scopes=["KNOWLEDGE_FOLDER_API"])
    live.add_folder("mine", shared_with=["sk-ld-mock", reader], editors=["sk-ld-mock"])
    unsupported = {"file": ("notes.exe", b"MZ binary")}

    def status(key: str, folder: str = "mine") -> int:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(
            live.url + f"/knowledge/{folder}", files=unsupported, headers=headers, timeout=10
        ).status_code

    assert status("sk-ld-mock", "nope") == 404
    assert status(outsider) == 404  # it cannot see the folder
    assert status(reader) == 403  # it sees it, but is no editor
    assert status("sk-ld-mock") == 400  # the editor: the file's kind is refused
