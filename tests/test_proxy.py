"""The validation proxy: forwarding, checks both ways, streaming pass-through, upstream failures."""

from __future__ import annotations

import contextlib
import copy
import gzip
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mockserver import MockServer
from mockserver.errors import ConfigError
from mockserver.schemas import Operation, SchemaBundle, load_bundle
from mockserver.server import ProxyServer
from tests.upstreams import Canned, serving

KEY = "sk-ld-client-key-0123456789"
CREATE = "/assistant/v1/create"
AGENT_CHAT = "/agent/v1/chat/completions"
AGENT_BODY = {
    "agent": {"name": "A", "instructions": "", "model": "gpt-4o"},
    "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}],
    "stream": True,
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    """A langdock-mock playing the real API, with a client key of its own."""
    with MockServer() as server:
        yield server


@pytest.fixture
def mock_upstream(upstream: MockServer) -> MockServer:
    upstream.reset()
    upstream.add_key(KEY, workspace="acme")
    return upstream


def _client(proxy: MockServer, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _drift_of(proxy: MockServer) -> list[str]:
    return [w for entry in proxy.requests for w in entry.warnings]


def test_requests_reach_the_upstream_with_the_clients_own_key(mock_upstream: MockServer) -> None:
    with ProxyServer(upstream=mock_upstream.url) as proxy, _client(proxy) as http:
        created = http.post(CREATE, json={"name": "Doc"})
        fetched = http.get(
            "/assistant/v1/get", params={"assistantId": created.json()["assistant"]["id"]}
        )
    assert created.status_code == 201
    assert fetched.status_code == 200
    assert fetched.json()["assistant"]["name"] == "Doc"
    # The upstream saw the client's key (its workspace), not one of the proxy's.
    assert [r.workspace for r in mock_upstream.requests] == ["acme", "acme"]
    assert "x-mock-drift" not in created.headers
    assert "x-mock-warnings" not in created.headers
    assert [(r.operation, r.status) for r in proxy.requests] == [
        ("assistant.create", 201),
        ("assistant.get", 200),
    ]
    assert _drift_of(proxy) == []


def test_one_callers_cookie_never_reaches_the_upstream_for_another() -> None:
    # An upstream setting a cookie (a load balancer's, say): the proxy passes the Set-Cookie
    # on to the caller, keeps no cookie jar, and sends only what each caller sends.
    canned = Canned(200, b"{}")
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy:
        with _client(proxy) as first:
            canned.extra_headers = {"set-cookie": "lb=node-7; Path=/"}
            answered = first.get("/assistant/v1/get", params={"assistantId": "a"})
            assert answered.headers["set-cookie"] == "lb=node-7; Path=/"
        canned.extra_headers = {}
        with _client(proxy, "sk-ld-another-key-987654321") as second:
            second.get("/assistant/v1/get", params={"assistantId": "a"})
            second.get(
                "/assistant/v1/get", params={"assistantId": "a"}, headers={"cookie": "own=1"}
            )
    assert [headers.get("cookie") for _, _, headers, _ in canned.seen] == [None, None, "own=1"]
    # Nor the encodings it asked for: the proxy reads bodies, so it asks for what it decodes.
    assert {headers["accept-encoding"] for _, _, headers, _ in canned.seen} == {"gzip, deflate"}


def test_every_operation_of_the_manifest_is_forwarded() -> None:
    # Worked out from the manifest, so operations added later are covered as they land.
    bundle = load_bundle()
    paths = {
        op_id: "/api/public" + _concrete(bundle, op) for op_id, op in bundle.operations.items()
    }
    canned = Canned(200, b"{}")
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        for op_id, op in bundle.operations.items():
            http.request(op.method, paths[op_id], json=None if op.method == "GET" else {})
    assert [(m, p) for m, p, _, _ in canned.seen] == [
        (op.method, paths[op_id]) for op_id, op in bundle.operations.items()
    ]
    assert all(headers["authorization"] == f"Bearer {KEY}" for _, _, headers, _ in canned.seen)
    assert [r.operation for r in proxy.requests] == list(bundle.operations)


def _concrete(bundle: SchemaBundle, op: Operation) -> str:
    """The operation's path with each ``{name}`` filled: its enum's first value, or a word."""
    declared = bundle.manifest.get("pathParameters", {})

    def value(match: re.Match[str]) -> str:
        return str(declared.get(match[1], {}).get("enum", ["p1"])[0])

    return re.sub(r"\{(\w+)\}", value, op.path)


def _saved(upstream: MockServer) -> dict[str, Any]:
    with _client(upstream, upstream.api_key) as http:
        body: dict[str, Any] = http.post(CREATE, json={"name": "Doc"}).json()
    return body


def _renamed(body: dict[str, Any]) -> dict[str, Any]:
    body["assistant"]["emoji"] = body["assistant"].pop("emojiIcon")
    return body


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    body["assistant"]["folderId"] = "f-1"
    return body


def _retyped(body: dict[str, Any]) -> dict[str, Any]:
    body["assistant"]["temperature"] = "0.3"
    return body


def _enum(body: dict[str, Any]) -> dict[str, Any]:
    body["assistant"]["inputType"] = "VOICE"
    return body


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_renamed, ["missing field at $.assistant.emojiIcon", "new field at $.assistant.emoji"]),
        (_extra, ["new field at $.assistant.folderId"]),
        (_retyped, ["type change at $.assistant.temperature"]),
        (_enum, ["constraint at $.assistant.inputType"]),
    ],
    ids=["renamed-field", "extra-field", "type-change", "enum-value"],
)
def test_response_drift_is_named_in_a_header_and_the_journal(
    mock_upstream: MockServer, change: Any, expected: list[str]
) -> None:
    drifted = change(copy.deepcopy(_saved(mock_upstream)))
    canned = Canned(201, orjson.dumps(drifted))
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        response = http.post(CREATE, json={"name": "Doc"})
    assert response.status_code == 201
    assert response.json() == drifted  # passed on as the upstream sent it
    header = response.headers["x-mock-drift"]
    journal = _drift_of(proxy)
    for text in expected:
        assert f"response: {text}" in header
        assert any(f"response: {text}" in line for line in journal)


def test_a_status_the_operation_does_not_document_is_drift(mock_upstream: MockServer) -> None:
    mock_upstream.fail_next(418, path=CREATE)
    with ProxyServer(upstream=mock_upstream.url) as proxy, _client(proxy) as http:
        response = http.post(CREATE, json={"name": "Doc"})
    assert response.status_code == 418
    assert (
        "HTTP 418 is not a documented status of assistant.create"
        in response.headers["x-mock-drift"]
    )


def test_warn_forwards_a_bad_request_and_names_what_is_wrong(mock_upstream: MockServer) -> None:
    with ProxyServer(upstream=mock_upstream.url) as proxy, _client(proxy) as http:
        response = http.post(CREATE, json={"name": "", "instructions": "x"})
    assert response.status_code == 400  # the upstream's own answer
    assert len(mock_upstream.requests) == 1
    warnings = response.headers["x-mock-warnings"]
    assert "request: invalid at $.name" in warnings
    assert "request: unknown field at $.instructions" in warnings
    (entry,) = proxy.requests
    assert entry.errors[0]["path"] == ["name"]


def test_enforce_answers_a_bad_request_itself_and_never_calls_the_upstream(
    mock_upstream: MockServer,
) -> None:
    with (
        ProxyServer(upstream=mock_upstream.url, validate="enforce") as proxy,
        _client(proxy) as http,
    ):
        bad = http.post(CREATE, json={"name": 7})
        broken = http.post(
            CREATE, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        query = http.get("/assistant/v1/get", params={"assistantId": "nope"})
        assert len(mock_upstream.requests) == 0
        good = http.post(CREATE, json={"name": "Doc"})
    assert bad.status_code == 400
    assert bad.json()["message"][0]["path"] == ["name"]
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["message"]
    assert query.status_code == 400
    assert good.status_code == 201
    assert len(mock_upstream.requests) == 1
    assert [r.status for r in proxy.requests] == [400, 400, 400, 201]


def test_enforce_still_forwards_unknown_fields_unless_strict(mock_upstream: MockServer) -> None:
    body = {"name": "Doc", "instructions": "x"}
    with (
        ProxyServer(upstream=mock_upstream.url, validate="enforce") as proxy,
        _client(proxy) as http,
    ):
        assert http.post(CREATE, json=body).status_code == 201
    with (
        ProxyServer(upstream=mock_upstream.url, validate="enforce", strict=True) as proxy,
        _client(proxy) as http,
    ):
        assert http.post(CREATE, json=body).status_code == 400
    assert len(mock_upstream.requests) == 1


def _first_chunk_app(release: threading.Event, observed: list[bool]) -> Starlette:
    """An agent stream whose rest waits for the test to say it saw the first chunk."""

    async def chat(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b'data: {"type":"start"}\n\n'
            # The rest only once the client has the first chunk (10 s at most, then on anyway).
            observed.append(await anyio.to_thread.run_sync(release.wait, 10))
            for chunk in (
                b'data: {"type":"start-step"}\n\n',
                b'data: {"type":"finish-step"}\n\n',
                b'data: {"type":"finish"}\n\n',
                b"data: [DONE]\n\n",
            ):
                yield chunk

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route(AGENT_CHAT, chat, methods=["POST"])])


def test_a_stream_passes_through_unbuffered() -> None:
    release = threading.Event()
    observed: list[bool] = []
    with (
        serving(_first_chunk_app(release, observed)) as url,
        ProxyServer(upstream=url) as proxy,
        _client(proxy) as http,
        http.stream("POST", AGENT_CHAT, json=AGENT_BODY) as response,
    ):
        chunks = response.iter_raw()
        # The upstream holds the rest back until the client has the first chunk: had the proxy
        # buffered, this would wait out the upstream's 10 s and ``observed`` would say False.
        first = next(chunks)
        release.set()
        rest = b"".join(chunks)
    assert first == b'data: {"type":"start"}\n\n'
    assert rest.endswith(b"data: [DONE]\n\n")
    assert observed == [True]  # the upstream was released by the test, not by its timeout
    assert _drift_of(proxy) == []


def test_stream_events_and_the_streams_end_are_checked(mock_upstream: MockServer) -> None:
    stream = (
        b'data: {"type":"start"}\n\n'
        b'data: {"type":"text-delta","id":"t","text":"renamed"}\n\n'
        b"data: {broken\n\n"
        b'data: {"type":"finish"}\n\n'
    )
    canned = Canned(200, stream, "text/event-stream")
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        response = http.post(AGENT_CHAT, json=AGENT_BODY)
    assert response.content == stream
    drift = "\n".join(_drift_of(proxy))
    assert "stream: missing field at $.events[1].delta" in drift
    assert "stream: malformed event at $.events[2]" in drift
    assert "stream: stream end: the stream ended without data: [DONE]" in drift


def test_a_cut_stream_is_drift(mock_upstream: MockServer) -> None:
    mock_upstream.add_fault({"match": {"path": AGENT_CHAT}, "action": {"cut_after_events": 3}})
    with ProxyServer(upstream=mock_upstream.url) as proxy, _client(proxy) as http:
        response = http.post(AGENT_CHAT, json=AGENT_BODY)
    assert response.status_code == 200
    assert response.text.count("data:") == 3
    drift = "\n".join(_drift_of(proxy))
    assert "the stream ended without data: [DONE]" in drift
    assert "the stream has no finish chunk" in drift


def test_an_assistants_stream_is_checked_as_ai_sdk_4_lines(mock_upstream: MockServer) -> None:
    with _client(mock_upstream, mock_upstream.api_key) as http:
        assistant = http.post(CREATE, json={"name": "Doc"}).json()["assistant"]["id"]
    body = {
        "assistantId": assistant,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    with (
        ProxyServer(upstream=mock_upstream.url) as proxy,
        _client(proxy, mock_upstream.api_key) as http,
    ):
        clean = http.post("/assistant/v1/chat/completions", json=body)
        mock_upstream.add_fault({"action": {"cut_after_events": 2}})
        cut = http.post("/assistant/v1/chat/completions", json=body)
    assert clean.status_code == cut.status_code == 200
    first, second = (entry.warnings for entry in proxy.requests)
    assert first == ()
    assert any("did not end with a d: (finish message) line" in w for w in second)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_upstream_is_a_502_in_the_vendor_shape() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        response = http.post(CREATE, json={"name": "Doc"})
    assert response.status_code == 502
    assert response.json()["message"].startswith(f"Bad gateway: cannot connect to upstream {url}")
    (entry,) = proxy.state.journal.entries()
    assert entry.status == 502
    assert "cannot connect" in (entry.error or "")
    proxy.check_failures()


def _silent_app(release: threading.Event) -> Starlette:
    async def hang(request: Request) -> Response:
        await anyio.to_thread.run_sync(release.wait, 10)
        return Response(b"{}", media_type="application/json")

    async def stall(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b'data: {"type":"start"}\n\n'
            await anyio.to_thread.run_sync(release.wait, 10)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[Route(CREATE, hang, methods=["POST"]), Route(AGENT_CHAT, stall, methods=["POST"])]
    )


def test_a_silent_upstream_is_a_504_and_a_stalled_stream_is_cut() -> None:
    release = threading.Event()
    with serving(_silent_app(release)) as url:
        try:
            with ProxyServer(upstream=url, upstream_timeout=0.2) as proxy, _client(proxy) as http:
                silent = http.post(CREATE, json={"name": "Doc"})
                stalled = http.post(AGENT_CHAT, json=AGENT_BODY)
        finally:
            release.set()  # before the upstream stops: it waits for its handlers
    assert silent.status_code == 504
    assert silent.json() == {
        "message": f"Gateway timeout: upstream {url} sent nothing for 0.2 s (upstream_timeout)"
    }
    assert stalled.status_code == 200
    assert stalled.content == b'data: {"type":"start"}\n\n'
    drift = "\n".join(_drift_of(proxy))
    assert "the upstream stream broke off: Gateway timeout" in drift


def test_a_compressed_answer_reaches_the_client_decoded() -> None:
    # The proxy reads the body to check it: it asks for gzip or deflate and passes on the bytes.
    body = orjson.dumps({"assistant": {"id": "a", "name": "Doc"}})
    canned = Canned(200, gzip.compress(body))
    canned.extra_headers = {"content-encoding": "gzip"}
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        response = http.get("/assistant/v1/get", params={"assistantId": "a"})
    assert response.content == body
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(body))


def test_a_large_body_reaches_the_upstream_whole() -> None:
    # Past 64 KiB the body goes out in slices (each moves the write deadline on): same bytes.
    body = orjson.dumps({"name": "Doc", "description": "0123456789abcdef" * 20_000})
    canned = Canned(201, b"{}")
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        http.post(CREATE, content=body, headers={"content-type": "application/json"})
    ((_, _, headers, seen),) = canned.seen
    assert seen == body
    assert headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in headers


@contextlib.contextmanager
def _unread_upstream() -> Iterator[str]:
    """A listener that takes connections and never reads from them: a stalled upstream."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # little for the kernel to take
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listener closed: the test is over
            while True:
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(5)
        for connection in held:
            connection.close()


def test_an_upstream_that_stops_reading_the_body_is_a_504() -> None:
    body = b"x" * (16 * 1_048_576)  # far more than the two sockets' buffers hold
    with (
        _unread_upstream() as url,
        ProxyServer(upstream=url, upstream_timeout=0.2, max_body_bytes=2 * len(body)) as proxy,
        _client(proxy) as http,
    ):
        stalled = http.post("/not/an/operation", content=body)
    assert stalled.status_code == 504
    assert stalled.json() == {
        "message": f"Gateway timeout: upstream {url} sent nothing for 0.2 s (upstream_timeout)"
    }


def test_a_slow_first_byte_is_waited_for_within_the_timeout(mock_upstream: MockServer) -> None:
    mock_upstream.add_fault({"match": {"path": CREATE}, "action": {"latency_ms": 150}})
    with (
        ProxyServer(upstream=mock_upstream.url, upstream_timeout=5) as proxy,
        _client(proxy) as http,
    ):
        assert http.post(CREATE, json={"name": "Doc"}).status_code == 201
    assert _drift_of(proxy) == []


def test_unknown_paths_are_forwarded_and_named() -> None:
    canned = Canned(200, b"{}")
    with serving(canned.app) as url, ProxyServer(upstream=url) as proxy, _client(proxy) as http:
        response = http.delete("/assistant/v1/delete")
        health = http.get("/__admin/health")
    assert response.status_code == 200
    assert "is not an operation of the contract" in response.headers["x-mock-warnings"]
    assert health.status_code == 200  # the proxy's own admin API, not forwarded
    assert [path for _, path, _, _ in canned.seen] == ["/assistant/v1/delete"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"validate": "block"}, "validate: 'block' is not one of warn, enforce"),
        ({"upstream": "ftp://x"}, "upstream: 'ftp://x' is not an http:// or https:// URL"),
        ({"upstream_timeout": 0}, "upstream_timeout: must be more than 0 seconds"),
        ({"record_format": "csv"}, "record_format: 'csv' is not one of jsonl, har"),
    ],
)
def test_bad_proxy_settings_are_config_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProxyServer(**overrides)
