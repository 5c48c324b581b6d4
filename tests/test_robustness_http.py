"""Robustness over real sockets: 200 connections at once, slow, broken and vanishing clients."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
from collections.abc import Callable

import httpx
import orjson
import pytest

from mockserver import MockServer
from tests.robustness import (
    AUTH,
    COMPLETIONS,
    CREATE,
    HUGE,
    KEY,
    TIMEOUT,
    burst,
    drained,
    inline,
)


def test_200_concurrent_creates_store_each_assistant_once(
    server_factory: Callable[..., MockServer],
) -> None:
    server = server_factory()
    requests = [("POST", CREATE, {"name": f"Assistant {i}"}) for i in range(200)]
    answers = asyncio.run(burst(server.url, requests))
    assert {status for status, _, _ in answers} == {201}
    created = [orjson.loads(body)["assistant"] for _, body, _ in answers]
    assert len({a["id"] for a in created}) == 200  # none duplicated
    assert sorted(a["name"] for a in created) == sorted(f"Assistant {i}" for i in range(200))
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        for assistant in created:  # none lost
            got = http.get("/assistant/v1/get", params={"assistantId": assistant["id"]})
            assert got.status_code == 200
            assert got.json()["assistant"]["name"] == assistant["name"]


def test_200_concurrent_completions_count_the_limit_exactly(
    server_factory: Callable[..., MockServer],
) -> None:
    server = server_factory(default_rpm=37)  # the clock is frozen: no request leaves the window
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        stored = http.post(CREATE, json={"name": "Target"}).json()["assistant"]["id"]
    requests = [
        (
            "POST",
            COMPLETIONS,
            {"assistantId": stored, "messages": [{"role": "user", "content": "x"}]},
        )
        if i % 2
        else ("POST", COMPLETIONS, inline(f"request {i}"))
        for i in range(200)
    ]
    answers = asyncio.run(burst(server.url, requests))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 37
    assert statuses.count(429) == 163
    ids = [orjson.loads(body)["result"][-1]["id"] for status, body, _ in answers if status == 200]
    assert len(set(ids)) == 37
    with server.state.lock:
        usage = server.state.limiter.usage()
    assert [(row["requests"]) for row in usage if row["model"] == "gpt-4o"] == [37]


# ---------------------------------------------------------------------------------------------
# Slow and broken clients.


def _raw_request(port: int, body: bytes, *, length: int | None = None) -> bytes:
    """The head of a completion request whose body follows (``length`` may lie about it)."""
    length = len(body) if length is None else length
    head = (
        f"POST {COMPLETIONS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    return head.encode()


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_body_sent_byte_by_byte_does_not_block_other_clients(
    server_factory: Callable[..., MockServer],
) -> None:
    server = server_factory(**HUGE)
    port = int(server.url.rsplit(":", 1)[1])
    body = orjson.dumps(inline("slowly " * 20))
    others_done = threading.Event()
    slow_status: list[int] = []

    def slow_client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(_raw_request(port, body))
            half = len(body) // 2
            for byte in body[:half]:
                sock.sendall(bytes([byte]))
            others_done.wait(TIMEOUT)  # the server now sits mid-body on this connection
            for byte in body[half:]:
                sock.sendall(bytes([byte]))
            slow_status.append(_read_status(sock))

    thread = threading.Thread(target=slow_client)
    thread.start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
            statuses = [
                http.post(COMPLETIONS, json=inline(f"fast {i}")).status_code for i in range(20)
            ]
    finally:
        others_done.set()
        thread.join(TIMEOUT)
    assert statuses == [200] * 20  # all answered while the slow body was half sent
    assert slow_status == [200]


def test_connections_closed_mid_body_or_garbage_leave_no_trace(
    server_factory: Callable[..., MockServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="uvicorn.error")  # one warning per garbage request
    server = server_factory(**HUGE, journal_size=50)
    port = int(server.url.rsplit(":", 1)[1])
    body = orjson.dumps(inline("cut short"))
    rng = random.Random(7)
    for i in range(150):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            if i % 3 == 0:  # announced 10 kB, sent a third of the body, gone
                sock.sendall(_raw_request(port, body, length=10_000) + body[: len(body) // 3])
            elif i % 3 == 1:  # headers only, gone
                sock.sendall(_raw_request(port, body))
            else:  # not HTTP at all
                sock.sendall(rng.randbytes(rng.randrange(1, 400)))
    assert drained(server)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        for i in range(60):
            assert http.post(COMPLETIONS, json=inline(f"after {i}")).status_code == 200
        journal = http.get("/__admin/requests").json()["requests"]
    assert len(journal) <= 50  # bounded
    assert server.state.failures == []


def test_client_that_never_reads_does_not_block_or_leak(
    server_factory: Callable[..., MockServer],
) -> None:
    server = server_factory(**HUGE, stream_chunk_chars=65_536)
    port = int(server.url.rsplit(":", 1)[1])
    server.reply_with("word " * 400_000)  # 2 MB: far more than the socket buffers hold
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        stalled = []
        for i in range(4):  # send a request that gets a 2 MB answer, and never read it
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            body = orjson.dumps(inline(f"never read {i}", stream=bool(i % 2)))
            sock.sendall(_raw_request(port, body) + body)
            stalled.append(sock)
        try:
            for i in range(20):  # others are served meanwhile
                assert http.post(COMPLETIONS, json=inline(f"reader {i}")).status_code == 200
        finally:
            for sock in stalled:
                sock.close()
        assert drained(server, keep=1)  # the stalled answers were dropped, not kept forever
        assert http.get("/__admin/health").status_code == 200
    assert server.state.failures == []
