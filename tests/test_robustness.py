"""Robustness: concurrency, slow and broken clients, fuzzed bodies, admin exposure, key hygiene."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import MockServer, create_app
from mockserver.config import Settings

KEY = "sk-ld-mock"
AUTH = {"Authorization": f"Bearer {KEY}"}
COMPLETIONS = "/assistant/v1/chat/completions"
CREATE = "/assistant/v1/create"
HUGE: dict[str, Any] = {"default_rpm": 100_000_000, "default_tpm": 10_000_000_000}
TIMEOUT = 30.0  # per request; every wait below is bounded, so a deadlock fails instead of hanging


def _inline(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "assistant": {"name": "Robust", "instructions": "Be brief."},
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# A live server per test (their settings differ), and 200 connections at once.


@pytest.fixture
def server_factory() -> Iterator[Callable[..., MockServer]]:
    """Start MockServers with overrides; stop them and re-raise mock failures at teardown."""
    started: list[MockServer] = []

    def start(**overrides: Any) -> MockServer:
        started.append(MockServer(**overrides).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()
        server.check_failures()


async def _burst(
    url: str, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[int, bytes, str]]:
    """Send every request at once, each on its own connection; (status, body, content type)."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=url, headers=AUTH, timeout=TIMEOUT, limits=limits
    ) as http:

        async def one(method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
            async with http.stream(method, path, json=body) as response:
                content = await response.aread()
                return response.status_code, content, response.headers.get("content-type", "")

        jobs = [one(*request) for request in requests]
        return await asyncio.wait_for(asyncio.gather(*jobs), TIMEOUT * 2)


def _connections(server: MockServer) -> int:
    # uvicorn's own count of open connections: the only way to see a leaked one from outside.
    assert server._server is not None
    return len(server._server.server_state.connections)


def _drained(server: MockServer, *, keep: int = 0) -> bool:
    """Wait (bounded) until the server holds at most ``keep`` connections."""
    done = threading.Event()
    for _ in range(500):
        if _connections(server) <= keep:
            return True
        done.wait(0.02)
    return False


def test_200_concurrent_creates_store_each_assistant_once(
    server_factory: Callable[..., MockServer],
) -> None:
    server = server_factory()
    requests = [("POST", CREATE, {"name": f"Assistant {i}"}) for i in range(200)]
    answers = asyncio.run(_burst(server.url, requests))
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
        else ("POST", COMPLETIONS, _inline(f"request {i}"))
        for i in range(200)
    ]
    answers = asyncio.run(_burst(server.url, requests))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 37
    assert statuses.count(429) == 163
    ids = [orjson.loads(body)["result"][-1]["id"] for status, body, _ in answers if status == 200]
    assert len(set(ids)) == 37
    with server.state.lock:
        usage = server.state.limiter.usage()
    assert [(row["requests"]) for row in usage if row["model"] == "gpt-4o"] == [37]


def _agent_inline(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "agent": {"name": "Robust", "instructions": "Be brief."},
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
        **extra,
    }


def test_200_concurrent_streams_all_finish(server_factory: Callable[..., MockServer]) -> None:
    server = server_factory(**HUGE)
    agent_path = "/agent/v1/chat/completions"
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        probes = {
            COMPLETIONS: http.post(COMPLETIONS, json=_inline(stream=True)),
            agent_path: http.post(agent_path, json=_agent_inline("probe", stream=True)),
        }
    if not all(
        p.headers.get("content-type", "").startswith("text/event-stream") for p in probes.values()
    ):
        pytest.skip("stream: true is not implemented yet")
    requests = [
        ("POST", COMPLETIONS, _inline(f"stream {i}", stream=True))
        if i % 2
        else ("POST", agent_path, _agent_inline(f"stream {i}", stream=True))
        for i in range(200)
    ]
    answers = asyncio.run(_burst(server.url, requests))
    assert {status for status, _, _ in answers} == {200}
    for (_, path, _), (_, body, content_type) in zip(requests, answers, strict=True):
        assert content_type.startswith("text/event-stream")
        # Each stream got to its family's last line: "data: d:{...}" (AI SDK 4 data stream) or
        # "data: [DONE]" (AI SDK 5 UI message stream).
        ending = probes[path].content.rstrip().rsplit(b"\n", 1)[-1].split(b"{", 1)[0]
        assert body.rstrip().rsplit(b"\n", 1)[-1].split(b"{", 1)[0] == ending


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
    body = orjson.dumps(_inline("slowly " * 20))
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
                http.post(COMPLETIONS, json=_inline(f"fast {i}")).status_code for i in range(20)
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
    body = orjson.dumps(_inline("cut short"))
    rng = random.Random(7)
    for i in range(150):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            if i % 3 == 0:  # announced 10 kB, sent a third of the body, gone
                sock.sendall(_raw_request(port, body, length=10_000) + body[: len(body) // 3])
            elif i % 3 == 1:  # headers only, gone
                sock.sendall(_raw_request(port, body))
            else:  # not HTTP at all
                sock.sendall(rng.randbytes(rng.randrange(1, 400)))
    assert _drained(server)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as http:
        for i in range(60):
            assert http.post(COMPLETIONS, json=_inline(f"after {i}")).status_code == 200
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
            body = orjson.dumps(_inline(f"never read {i}", stream=bool(i % 2)))
            sock.sendall(_raw_request(port, body) + body)
            stalled.append(sock)
        try:
            for i in range(20):  # others are served meanwhile
                assert http.post(COMPLETIONS, json=_inline(f"reader {i}")).status_code == 200
        finally:
            for sock in stalled:
                sock.close()
        assert _drained(server, keep=1)  # the stalled answers were dropped, not kept forever
        assert http.get("/__admin/health").status_code == 200
    assert server.state.failures == []


# ---------------------------------------------------------------------------------------------
# Fuzzing in process: the ASGI app called directly (no HTTP client), thousands of requests.


class Asgi:
    """Call the app directly on one event loop: the fast way to send thousands of requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.tests: set[str] = set()  # which tests sent requests (xdist may split the module)

    def close(self) -> None:
        """Cancel what the app left running (sse-starlette's shutdown watcher), close the loop."""
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def __call__(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        query: str = "",
        client: str = "127.0.0.1",
    ) -> tuple[int, bytes]:
        """(status, body) of one request."""
        merged = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        raw = [(k.encode(), v.encode("latin-1")) for k, v in merged.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        status, content = self.loop.run_until_complete(
            asyncio.wait_for(self._call(method, path, body, raw, query, client), TIMEOUT)
        )
        self.sent += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        current = os.environ.get("PYTEST_CURRENT_TEST", "")  # "path::name[id] (call)"
        self.tests.add(current.rpartition("::")[2].partition(" ")[0].partition("[")[0])
        return status, content

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        query: str,
        client: str,
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": (client, 40000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        delivered = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected until the answer ends
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


@pytest.fixture(scope="module")
def asgi() -> Iterator[Asgi]:
    """One app with response self-checks on, for every fuzz test of the module."""
    app = create_app(Settings(freeze_clock=True, check_responses=True, **HUGE))
    driver = Asgi(app)
    yield driver
    driver.close()
    assert app.state.mock.failures == []


# Every operation that takes a body, with a valid example to mutate.
VALID: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", COMPLETIONS, _inline("fuzz", output={"type": "object"})),
    ("POST", COMPLETIONS, _inline("x", output={"type": "enum", "enum": ["a", "b"]}, stream=True)),
    (
        "POST",
        "/agent/v1/chat/completions",
        {
            "agent": {"name": "Fuzz", "instructions": "x"},
            "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
        },
    ),
    (
        "POST",
        CREATE,
        {
            "name": "Fuzz",
            "description": "d",
            "instruction": "i",
            "creativity": 0.3,
            "conversationStarters": ["a"],
            "inputFields": [{"slug": "s", "type": "TEXT", "label": "L"}],
        },
    ),
    ("POST", "/agent/v1/create", {"name": "Fuzz agent", "webSearch": True}),
    ("PATCH", "/assistant/v1/update", {"assistantId": "00000000-0000-4000-8000-000000000000"}),
    (
        "PATCH",
        "/agent/v1/disable",
        {"agentId": "00000000-0000-4000-8000-000000000000", "disabled": True},
    ),
    ("POST", "/agent/v1/publish", {"agentId": "00000000-0000-4000-8000-000000000000"}),
    ("DELETE", "/attachment/v1/delete", {"attachmentId": "00000000-0000-4000-8000-000000000000"}),
]
BODY_ROUTES = sorted({(method, path) for method, path, _ in VALID})
QUERY_ROUTES = ["/assistant/v1/get", "/agent/v1/get", "/assistant/v1/models"]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Replacement values for near-valid payloads: shallow, so Hypothesis spends its time on the edits.
SHALLOW = LEAVES | st.lists(LEAVES, max_size=3) | st.dictionaries(st.text(max_size=8), LEAVES)
FUZZ: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def _no_server_error(status: int, content: bytes) -> None:
    assert 200 <= status < 500, content[:500]
    if status >= 400:
        assert set(orjson.loads(content)) <= {"message", "error"}  # the vendor's envelope


@pytest.mark.parametrize(
    ("declared", "status"),
    [("²", 400), ("9" * 5000, 413), ("99999999999999999999", 413), ("-1", 400), ("1e3", 400)],
    ids=["superscript-two", "5000-digits", "20-digits", "negative", "exponent"],
)
def test_odd_content_lengths_are_no_500(asgi: Asgi, declared: str, status: int) -> None:
    # uvicorn's parser refuses these itself; other ASGI servers and in-process clients pass them.
    answer = asgi("POST", COMPLETIONS, b'{"messages": 1}', headers={"content-length": declared})
    assert answer[0] == status, answer


def test_fuzz_random_bytes(asgi: Asgi) -> None:
    rng = random.Random(2024)
    start = asgi.sent
    content_types = ["application/json", "text/plain", "multipart/form-data; boundary=x", ""]
    for i in range(3600):
        method, path = BODY_ROUTES[i % len(BODY_ROUTES)]
        if i % 10 == 9:
            method, path = "POST", "/attachment/v1/upload"
        size = rng.choice([0, 1, 2, 8, 64, 700, 5000])
        headers = {"content-type": rng.choice(content_types)}
        _no_server_error(*asgi(method, path, rng.randbytes(size), headers=headers))
    for i in range(300):
        query = rng.randbytes(rng.randrange(0, 40)).decode("latin-1")
        _no_server_error(*asgi("GET", QUERY_ROUTES[i % 3], query=query))
    assert asgi.sent - start == 3900


@settings(max_examples=500, **FUZZ)
@given(body=JSON)
def test_fuzz_random_json_on_every_body_route(asgi: Asgi, body: Any) -> None:
    raw = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS) if _orjson_ok(body) else b"{"
    for method, path in BODY_ROUTES:
        _no_server_error(*asgi(method, path, raw))
    if isinstance(body, dict):
        query = "&".join(f"{k}={v}" for k, v in body.items() if isinstance(v, str))
        _no_server_error(*asgi("GET", "/assistant/v1/get", query=query))


def _orjson_ok(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False  # integers past 64 bits: sent as Python's json writes them, below
    return True


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else document
    *parents, last = path
    node = document
    for token in parents:
        node = node[token]
    if action == "delete":
        del node[last]
    elif action == "replace":
        node[last] = value
    elif action == "grow" and isinstance(node[last], str):
        node[last] = (node[last] or "x") * (40_000 // max(1, len(node[last])))  # past any maxLength
    elif action == "extra" and isinstance(node, dict):
        node[f"unknown_{last}"] = value
    elif action == "nest":
        node[last] = [[[[node[last]]]]]
    return document


@settings(max_examples=700, **FUZZ)
@given(
    seed=st.sampled_from(VALID),
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0),
            st.sampled_from(["delete", "replace", "grow", "extra", "nest"]),
            SHALLOW,
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_fuzz_near_valid_payloads(
    asgi: Asgi, seed: tuple[str, str, dict[str, Any]], edits: list[tuple[int, str, Any]]
) -> None:
    method, path, valid = seed
    document: Any = json.loads(json.dumps(valid))
    for index, action, value in edits:
        paths = list(_paths(document))
        document = _mutate(document, paths[index % len(paths)], action, value)
    raw = json.dumps(document).encode()  # Python's writer: big integers, NaN and Infinity too
    _no_server_error(*asgi(method, path, raw))
    _no_server_error(*asgi(method, "/api/public" + path, raw))
    _no_server_error(*asgi("POST", COMPLETIONS, raw))


FUZZ_TESTS = {
    "test_fuzz_random_bytes",
    "test_fuzz_random_json_on_every_body_route",
    "test_fuzz_near_valid_payloads",
}


def test_fuzz_volume_reached(asgi: Asgi) -> None:
    # Runs after the three fuzz tests above (module order): together at least 10,000 requests.
    if not asgi.tests >= FUZZ_TESTS:
        pytest.skip("only part of the fuzz tests ran in this process (selection or xdist)")
    assert asgi.sent >= 10_000, asgi.statuses
    assert sum(n for status, n in asgi.statuses.items() if status >= 500) == 0


# ---------------------------------------------------------------------------------------------
# Who may use the admin API, and what the journal keeps of keys.

ADMIN_CALLS = [
    ("GET", "/__admin/health"),
    ("POST", "/__admin/reset"),
    ("GET", "/__admin/requests"),
    ("DELETE", "/__admin/requests"),
    ("GET", "/__admin/limits"),
    ("GET", "/__admin/clock"),
    ("POST", "/__admin/keys"),
    ("GET", "/__admin/replies"),
    ("GET", "/__admin/coverage"),
]


def _admin_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        # The inspector's routes (a page, a live feed, CSRF-guarded POSTs) have the same
        # matrix in test_inspector.py.
        if path.startswith("/__admin") and not path.startswith("/__admin/ui"):
            for method in sorted(set(route.methods) - {"HEAD"}):
                found.append((method, path.replace("{fault_id}", "nope")))
    return found


@pytest.mark.parametrize(
    ("overrides", "client", "token", "expected"),
    [
        ({}, "127.0.0.1", None, "open"),
        ({}, "::1", None, "open"),
        ({}, "203.0.113.7", None, 403),
        ({"admin_open": True}, "203.0.113.7", None, "open"),
        ({"admin_token": "s3cret-admin"}, "127.0.0.1", None, 401),
        ({"admin_token": "s3cret-admin"}, "203.0.113.7", "wrong", 401),
        ({"admin_token": "s3cret-admin"}, "203.0.113.7", "s3cret-admin", "open"),
    ],
    ids=["loopback", "loopback-v6", "remote", "open", "token-missing", "token-wrong", "token"],
)
def test_admin_api_exposure(
    overrides: dict[str, Any], client: str, token: str | None, expected: int | str
) -> None:
    app = create_app(Settings(freeze_clock=True, **overrides))
    driver = Asgi(app)
    try:
        routes = _admin_routes(app)
        assert len(routes) >= len(ADMIN_CALLS)
        headers = {"authorization": f"Bearer {token}"} if token else {"authorization": ""}
        for method, path in routes:
            status, content = driver(method, path, b"", headers=headers, client=client)
            if expected == "open":
                assert status not in (401, 403), (method, path, content)
            else:
                assert status == expected, (method, path, content)
                assert "message" in orjson.loads(content)
    finally:
        driver.close()


def test_admin_token_on_a_live_server(server_factory: Callable[..., MockServer]) -> None:
    server = server_factory(admin_token="live-admin-token")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        for method, path in ADMIN_CALLS:
            assert http.request(method, path).status_code == 401
            bearer = {"Authorization": "Bearer live-admin-token"}
            assert http.request(method, path, headers=bearer).status_code not in (401, 403)
        assert http.post(COMPLETIONS, json=_inline(), headers=AUTH).status_code == 200


def test_journal_never_stores_a_key_in_clear(http: httpx.Client, live: MockServer) -> None:
    other = live.add_key("sk-ld-second-key-0123456789")
    unknown = "sk-ld-unknown-9876543210abcdef"
    for key in (KEY, other, unknown):
        bearer = {"Authorization": f"Bearer {key}"}
        http.post(COMPLETIONS, json=_inline(), headers=bearer)
        http.post(COMPLETIONS, json={"messages": "bad"}, headers=bearer)
        http.get("/assistant/v1/get", params={"assistantId": "x"}, headers=bearer)
        http.post("/nowhere", headers=bearer)
        http.post(COMPLETIONS, content=b"{", headers={**bearer, "Authorization": f"bearer  {key}"})
    raw = http.get("/__admin/requests").text
    assert json.loads(raw)["requests"]
    for key in (KEY, other, unknown):
        assert key not in raw
        filtered = http.get("/__admin/requests", params={"key": key}).json()["requests"]
        assert filtered  # still findable by key, through its fingerprint
        assert key not in json.dumps(filtered)
