"""Fault delivery: what a client sees of a reset, a truncated body, latency and a cut stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.config import Settings
from tests.asgi import http_scope
from tests.fault_requests import ASSISTANT, AUTH, COMPLETIONS, CREATE, MODELS
from tests.upstreams import serving


@contextlib.contextmanager
def _serve(protocol: str, **overrides: Any) -> Iterator[str]:
    """The app under uvicorn with a chosen HTTP protocol (MockServer always uses the default)."""
    app = create_app(Settings(freeze_clock=True, **overrides))
    with serving(app, http=protocol) as url:
        yield url


@pytest.fixture(scope="module", params=["httptools", "h11"])
def wire_client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client of a live server per uvicorn HTTP protocol (X-Mock-Fault allowed)."""
    with (
        _serve(request.param, allow_fault_header=True) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as client,
    ):
        yield client


@pytest.fixture
def wire(wire_client: httpx.Client) -> httpx.Client:
    """``wire_client`` after a reset of its server."""
    wire_client.post("/__admin/reset")
    return wire_client


# Connection-level faults, over real sockets with each of uvicorn's HTTP protocols.
def test_a_reset_closes_the_connection_without_a_response(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"match": {"path": CREATE}, "action": {"reset": True}})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        wire.post(CREATE, json=ASSISTANT)
    journal = wire.get("/__admin/requests").json()["requests"]
    assert [(e["path"], e["status"]) for e in journal] == [(CREATE, 0)]  # 0: no response
    assert wire.get(MODELS).status_code == 200  # the server itself is fine


def test_a_truncated_body_declares_its_full_length(wire: httpx.Client) -> None:
    expected = wire.get(MODELS).content
    wire.post("/__admin/faults", json={"action": {"truncate": True}, "times": 2})
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|without sending complete"):
        wire.get(MODELS)
    head, body = _raw_get(str(wire.base_url), MODELS)
    assert f"content-length: {len(expected)}".encode() in head.lower()
    assert 0 < len(body) < len(expected)
    assert expected.startswith(body)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    statuses = [e["status"] for e in wire.get("/__admin/requests").json()["requests"]]
    assert statuses == [200, 200, 200]  # the server answered; the wire cut it


def test_an_empty_524_has_no_body(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"action": {"status": 524, "empty": True}, "times": 1})
    response = wire.get(MODELS)
    assert response.status_code == 524
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers


def test_latency_longer_than_the_client_timeout_is_a_timeout(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"action": {"latency_ms": 400}, "times": 1})
    with pytest.raises(httpx.ReadTimeout):
        wire.get(MODELS, timeout=0.05)
    assert wire.get(MODELS).status_code == 200
    # The server finishes the request its client gave up on: wait (bounded) for its entry, so it
    # cannot land in the journal of the next test on this server.
    for _ in range(500):
        entries = wire.get("/__admin/requests", params={"path": MODELS}).json()["requests"]
        if len(entries) == 2:
            break
        threading.Event().wait(0.01)
    assert [entry["status"] for entry in entries] == [200, 200]


def test_latency_combines_with_a_status(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"action": {"latency_ms": [5, 20], "status": 503}})
    assert wire.get(MODELS).status_code == 503


def _raw_get(url: str, path: str) -> tuple[bytes, bytes]:
    """Head and body bytes of a GET, read until the server closes the connection."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-ld-mock\r\n\r\n"
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_in_process_a_reset_raises_and_a_truncate_cuts() -> None:
    app = create_app(Settings(freeze_clock=True, allow_fault_header=True))
    with TestClient(app, headers=AUTH) as client:
        _in_process_faults(client)


def _in_process_faults(client: TestClient) -> None:
    with pytest.raises(ConnectionResetError):
        client.get(MODELS, headers={"X-Mock-Fault": "reset"})
    full = client.get(MODELS).content
    cut = client.get(MODELS, headers={"X-Mock-Fault": "truncate"})
    assert cut.headers["content-length"] == str(len(full))
    assert full.startswith(cut.content)
    assert len(cut.content) < len(full)


class _Transport:
    """What uvicorn's request cycle holds: a transport a reset aborts."""

    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        raise AssertionError("a reset aborts; it does not close")

    def get_extra_info(self, name: str) -> None:
        return None


class _Cycle:
    """uvicorn hands the app ``cycle.send``: a bound method whose object holds the transport."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.sent: list[MutableMapping[str, Any]] = []

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)


@pytest.mark.parametrize("root_path", ["", "/mock"], ids=["shortcut", "router"])
def test_a_reset_reaches_the_servers_transport_on_either_route(root_path: str) -> None:
    # Behind a root path, requests take Starlette's router, whose middleware wraps `send`: the
    # reset must still find the server's own transport.
    app = create_app(Settings(freeze_clock=True, allow_fault_header=True))
    cycle = _Cycle()
    headers = [(b"authorization", b"Bearer sk-ld-mock"), (b"x-mock-fault", b"reset")]
    scope = http_scope("GET", MODELS, root_path=root_path, headers=headers)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    asyncio.run(app(scope, receive, cycle.send))
    assert cycle.transport.aborted
    assert cycle.sent == []  # not a byte of the response
    assert app.state.mock.journal.entries()[-1].fault


# Stream faults: each SSE event leaves the app as one body message, so they are counted there.
AGENT_COMPLETIONS = "/agent/v1/chat/completions"
STREAMS = {
    "agent": (
        AGENT_COMPLETIONS,
        {
            "agent": {"name": "Streamer", "instructions": "Talk."},
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}],
            "stream": True,
        },
    ),
    "assistant": (
        COMPLETIONS,
        {
            "assistant": {"name": "Streamer", "instructions": "Talk."},
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
        },
    ),
}


def _events(raw: bytes) -> list[str]:
    """The data of each complete SSE event in ``raw``."""
    complete = raw[: raw.rfind(b"\n\n") + 2] if b"\n\n" in raw else b""
    return [block.decode().removeprefix("data: ") for block in complete.split(b"\n\n")[:-1]]


def _read_stream(client: httpx.Client, family: str, fault: dict[str, Any] | None) -> bytes:
    """The raw stream of a completion (under a one-off fault rule), as far as it got."""
    if fault is not None:
        client.post("/__admin/faults", json={"action": fault, "times": 1})
    path, body = STREAMS[family]
    received = bytearray()
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        _drain(response, received)
    return bytes(received)


def _drain(response: httpx.Response, into: bytearray) -> None:
    for chunk in response.iter_raw():
        into += chunk


@pytest.mark.parametrize("family", ["agent", "assistant"])
def test_a_cut_stream_stops_after_n_events_without_its_end(wire: httpx.Client, family: str) -> None:
    whole = _events(_read_stream(wire, family, None))
    assert len(whole) > 3
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        _read_stream(wire, family, {"cut_after_events": 2})
    statuses = [e["status"] for e in wire.get("/__admin/requests").json()["requests"]]
    assert statuses == [200, 200]
    # What did arrive: exactly the first two events, nothing half-sent.
    path, body = STREAMS[family]
    wire.post("/__admin/faults", json={"action": {"cut_after_events": 2}, "times": 1})
    head, raw = _raw_post(str(wire.base_url), path, body)
    assert b"transfer-encoding: chunked" in head.lower()
    events = _events(_dechunk(raw))
    assert len(events) == 2
    assert [_kind(e) for e in events] == [_kind(e) for e in whole[:2]]


def _kind(event: str) -> str:
    """An event's type (agents) or line code (assistants), which ids do not change."""
    if event.startswith("{"):
        return str(orjson.loads(event)["type"])
    return event.partition(":")[0]


def _dechunk(raw: bytes) -> bytes:
    """The payload of a chunked body, as far as its complete chunks go."""
    payload = b""
    while raw:
        size_line, _, rest = raw.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        payload += rest[:size]
        raw = rest[size + 2 :]
    return payload


def _raw_post(url: str, path: str, body: dict[str, Any]) -> tuple[bytes, bytes]:
    """Head and body bytes of a POST, read until the server closes the connection."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    data = orjson.dumps(body)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-ld-mock\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n"
        )
        sock.sendall(request.encode() + data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize("family", ["agent", "assistant"])
def test_a_malformed_event_is_not_json_and_the_stream_goes_on(
    wire: httpx.Client, family: str
) -> None:
    events = _events(_read_stream(wire, family, {"malformed_event": True}))
    payloads = [e.partition(":")[2] if family == "assistant" else e for e in events]
    broken = []
    for index, payload in enumerate(payloads):
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError:
            broken.append(index)
    if family == "agent":
        assert payloads[-1] == "[DONE]"
        broken.remove(len(payloads) - 1)  # [DONE] is not JSON by design
    else:
        assert events[-1].startswith("d:")
    assert broken == [1]


def test_a_stall_longer_than_the_read_timeout_is_a_timeout_mid_stream(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"action": {"stall_ms": 400}, "times": 1})
    path, body = STREAMS["agent"]
    received = bytearray()
    timeout = httpx.Timeout(5, read=0.1)
    # The stream opens before pytest.raises: the timeout must hit while reading the events.
    with (
        wire.stream("POST", path, json=body, timeout=timeout) as response,
        pytest.raises(httpx.ReadTimeout),
    ):
        _drain(response, received)
    assert [_kind(e) for e in _events(bytes(received))] == ["start"]


def test_stream_actions_leave_json_replies_alone(wire: httpx.Client) -> None:
    wire.post("/__admin/faults", json={"action": {"cut_after_events": 0, "malformed_event": True}})
    path, body = STREAMS["assistant"]
    reply = wire.post(path, json={**body, "stream": False})
    assert reply.status_code == 200
    assert reply.json()["result"][0]["role"] == "assistant"


def test_in_process_a_cut_stream_just_ends() -> None:
    app = create_app(Settings(freeze_clock=True, allow_fault_header=True))
    path, body = STREAMS["agent"]
    with TestClient(app, headers=AUTH) as client:
        response = client.post(path, json=body, headers={"X-Mock-Fault": "cut_after_events=3"})
    assert [_kind(e) for e in _events(response.content)] == ["start", "start-step", "text-start"]


def test_serve_reads_the_header_switch_from_the_environment_and_drains_on_sigterm() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LANGDOCK_MOCK_PORT": str(port),
        "LANGDOCK_MOCK_ALLOW_FAULT_HEADER": "true",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # the server prints it once it is listening
            assert f"http://127.0.0.1:{port}" in line
            assert "sk-ld-mock" in line
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client:
                faulted = client.get(MODELS, headers={"X-Mock-Fault": "status=502"})
                assert faulted.status_code == 502
                _stop_while_streaming(client, process, port)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()


def _stop_while_streaming(client: httpx.Client, process: subprocess.Popen[str], port: int) -> None:
    """SIGTERM during a stream: no new connections, the stream finishes, exit 0 (for the caller)."""
    path, body = STREAMS["assistant"]
    stalled = {"X-Mock-Fault": "stall_ms=1500"}  # holds the stream in flight after one event
    with client.stream("POST", path, json=body, headers=stalled) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: f:")  # the request is in flight
        process.send_signal(signal.SIGTERM)
        refused = False
        for _ in range(500):  # bounded: the listener closes a moment after the signal
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                refused = True
                break
            threading.Event().wait(0.01)
        assert refused, "the server kept accepting connections after SIGTERM"
        rest = [line for line in lines if line]
    assert rest[-1].startswith("data: d:")  # the in-flight stream ran to its end
