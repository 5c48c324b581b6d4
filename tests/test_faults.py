"""Fault injection: rules via /__admin/faults and the handle, X-Mock-Fault, what clients see."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
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

from mockserver import MockServer, create_app
from mockserver.config import Settings, load_settings
from mockserver.errors import ConfigError
from mockserver.faults.rules import FaultAction, parse_fault_header, resolve
from mockserver.schemas import load_bundle
from tests.asgi import http_scope
from tests.docpages import page_text
from tests.upstreams import serving

AUTH = {"Authorization": "Bearer sk-ld-mock"}
MODELS = "/assistant/v1/models"
CREATE = "/assistant/v1/create"
COMPLETIONS = "/assistant/v1/chat/completions"
ASSISTANT = {"name": "Fault target", "instruction": "Answer briefly."}


def _chat(assistant_id: str) -> dict[str, Any]:
    return {"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hello"}]}


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


@pytest.fixture(scope="module")
def header_server() -> Iterator[MockServer]:
    """A MockServer that honours X-Mock-Fault."""
    with MockServer(allow_fault_header=True) as server:
        yield server


# The admin API.
def test_rules_are_added_listed_and_removed_over_http(http: httpx.Client) -> None:
    first = http.post("/__admin/faults", json={"action": {"status": 503}, "times": 2})
    assert first.status_code == 201
    rule = first.json()
    assert rule == {
        "id": rule["id"],
        "match": {},
        "action": {"status": 503},
        "times": 2,
        "probability": None,
        "fired": 0,
    }
    second = http.post(
        "/__admin/faults",
        json={"match": {"method": "get", "path": MODELS}, "action": {"latency_ms": [1, 2]}},
    )
    assert second.status_code == 201
    listed = http.get("/__admin/faults").json()["faults"]
    assert [r["id"] for r in listed] == [rule["id"], second.json()["id"]]
    assert listed[1]["match"] == {"method": "get", "path": MODELS}
    assert listed[1]["action"] == {"latency_ms": [1, 2]}

    deleted = http.delete(f"/__admin/faults/{rule['id']}")
    assert deleted.json() == {"status": "deleted", "id": rule["id"]}
    assert http.delete(f"/__admin/faults/{rule['id']}").status_code == 404
    assert [r["id"] for r in http.get("/__admin/faults").json()["faults"]] == [second.json()["id"]]
    assert http.delete("/__admin/faults").json() == {"status": "cleared"}
    assert http.get("/__admin/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("rule", "path", "code"),
    [
        ({}, ["action"], "invalid_type"),
        ({"action": {}}, ["action"], "custom"),
        ({"action": {"status": 302}}, ["action", "status"], "too_small"),
        ({"action": {"status": 600}}, ["action", "status"], "too_big"),
        ({"action": {"empty": True}}, ["action", "status"], "invalid_type"),
        ({"action": {"reset": False}}, ["action", "reset"], "invalid_enum_value"),
        ({"action": {"latency_ms": [1]}}, ["action", "latency_ms"], "invalid_union"),
        ({"action": {"latency_ms": [400, 100]}}, ["action", "latency_ms"], "custom"),
        ({"action": {"status": 503, "reset": True}}, ["action"], "custom"),
        ({"action": {"truncate": True, "cut_after_events": 1}}, ["action"], "custom"),
        ({"action": {"status": 503}, "times": 0}, ["times"], "too_small"),
        ({"action": {"status": 503}, "probability": 0}, ["probability"], "too_small"),
        ({"action": {"status": 503}, "probability": 1.5}, ["probability"], "too_big"),
        ({"action": {"status": 503}, "match": {"model": "x"}}, ["match", "model"], None),
        ({"action": {"status": 503}, "when": "now"}, ["when"], "unrecognized_keys"),
    ],
    ids=[
        "no-action",
        "empty-action",
        "status-3xx",
        "status-600",
        "empty-without-status",
        "reset-false",
        "latency-one-bound",
        "latency-reversed",
        "status-and-reset",
        "truncate-and-stream",
        "times-zero",
        "probability-zero",
        "probability-above-one",
        "unknown-match-field",
        "unknown-field",
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field_and_changes_nothing(
    client: TestClient, rule: dict[str, Any], path: list[Any], code: str | None
) -> None:
    response = client.post("/__admin/faults", json=rule)
    assert response.status_code == 400
    issues = response.json()["message"]
    assert issues[0]["path"] == path
    if code is not None:
        assert issues[0]["code"] == code
    assert client.get("/__admin/faults").json() == {"faults": []}
    with pytest.raises(ConfigError, match="fault rule"):
        MockServer().add_fault(rule)


# Statuses.
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, "Rate limit exceeded"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (404, "Not Found"),
    ],
    ids=["429", "500", "502", "503", "404"],
)
def test_a_status_fault_answers_in_the_vendor_envelope_and_is_journaled(
    client: TestClient, status: int, message: str
) -> None:
    client.post("/__admin/faults", json={"action": {"status": status}, "times": 1})
    response = client.get(MODELS)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": message}
    assert client.get(MODELS).status_code == 200
    statuses = [e["status"] for e in client.get("/__admin/requests").json()["requests"]]
    assert statuses == [status, 200]


def test_a_custom_message_and_times_count_down(http: httpx.Client) -> None:
    rule = {"action": {"status": 503, "message": "upstream overloaded"}, "times": 2}
    rule_id = http.post("/__admin/faults", json=rule).json()["id"]
    assert http.get(MODELS).json() == {"message": "upstream overloaded"}
    assert http.get("/__admin/faults").json()["faults"][0] | {"id": rule_id} == {
        "id": rule_id,
        "match": {},
        "action": {"status": 503, "message": "upstream overloaded"},
        "times": 1,
        "probability": None,
        "fired": 1,
    }
    assert http.get(MODELS).status_code == 503
    assert http.get("/__admin/faults").json() == {"faults": []}  # spent rules go
    assert http.get(MODELS).status_code == 200


def test_a_rule_without_times_fires_on_every_match(http: httpx.Client) -> None:
    http.post("/__admin/faults", json={"match": {"path": MODELS}, "action": {"status": 500}})
    assert [http.get(MODELS).status_code for _ in range(3)] == [500, 500, 500]
    assert http.get("/__admin/faults").json()["faults"][0]["fired"] == 3


@pytest.mark.parametrize("action", [{"status": 502}, {"reset": True}], ids=["status", "reset"])
def test_a_fault_skips_the_handler(
    live: MockServer, http: httpx.Client, action: dict[str, Any]
) -> None:
    http.post("/__admin/faults", json={"action": action, "times": 1})
    with contextlib.suppress(httpx.ReadError):
        assert http.post(CREATE, json=ASSISTANT).status_code == 502
    assert live.state.store.records == {}  # the failed call created nothing
    assert http.post(CREATE, json=ASSISTANT).status_code == 201
    assert len(live.state.store.records) == 1


# Matching.
def test_rules_match_method_path_prefix_and_wildcard(client: TestClient) -> None:
    client.post("/__admin/faults", json={"match": {"method": "POST"}, "action": {"status": 503}})
    assert client.get(MODELS).status_code == 200
    client.delete("/__admin/faults")
    client.post("/__admin/faults", json={"match": {"path": MODELS}, "action": {"status": 503}})
    assert client.get(MODELS).status_code == 503
    assert client.get("/api/public" + MODELS).status_code == 503  # the operation's own path
    assert client.post(CREATE, json=ASSISTANT).status_code == 201
    client.delete("/__admin/faults")
    client.post(
        "/__admin/faults", json={"match": {"path": "/api/public/*"}, "action": {"status": 504}}
    )
    assert client.get(MODELS).status_code == 200
    assert client.get("/api/public" + MODELS).json() == {"message": "Gateway Timeout"}


def test_rules_match_assistant_key_and_workspace(client: TestClient) -> None:
    first = client.post(CREATE, json=ASSISTANT).json()["assistant"]["id"]
    second = client.post(CREATE, json=ASSISTANT).json()["assistant"]["id"]
    other = client.post("/__admin/keys", json={"workspace": "acme"}).json()["key"]
    rule = {"match": {"assistantId": first}, "action": {"status": 500}}
    client.post("/__admin/faults", json=rule)
    assert client.post(COMPLETIONS, json=_chat(first)).status_code == 500
    assert client.post(COMPLETIONS, json=_chat(second)).status_code == 200
    assert client.get("/assistant/v1/get", params={"assistantId": first}).status_code == 500
    client.delete("/__admin/faults")

    client.post("/__admin/faults", json={"match": {"key": other}, "action": {"status": 503}})
    assert client.get(MODELS).status_code == 200
    assert client.get(MODELS, headers={"Authorization": f"Bearer {other}"}).status_code == 503
    client.delete("/__admin/faults")

    client.post("/__admin/faults", json={"match": {"workspace": "acme"}, "action": {"status": 429}})
    assert client.get(MODELS).status_code == 200
    assert client.get(MODELS, headers={"Authorization": f"Bearer {other}"}).status_code == 429


def test_rules_match_agent_ids(client: TestClient) -> None:
    agent = client.post("/agent/v1/create", json=ASSISTANT).json()["agent"]["id"]
    client.post("/__admin/faults", json={"match": {"agentId": agent}, "action": {"status": 502}})
    path, body = STREAMS["agent"]
    stored = {"agentId": agent, "messages": body["messages"]}
    assert client.post(path, json=stored).status_code == 502
    assert client.post(path, json={**body, "stream": False}).status_code == 200  # inline agent
    # The same record through the Assistants API names it assistantId: not this rule's business.
    assert client.post(COMPLETIONS, json=_chat(agent)).status_code == 200


def test_faults_never_touch_admin_unauthenticated_or_unrouted_requests(
    client: TestClient,
) -> None:
    client.post("/__admin/faults", json={"match": {"path": "*"}, "action": {"status": 503}})
    assert client.get("/__admin/health").status_code == 200
    assert client.get("/__admin/faults").status_code == 200
    # Auth comes first, so key and workspace rules can work: a bad key still gets its 401.
    assert client.get(MODELS, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/assistant/v1/nothing").status_code == 404
    assert client.get(MODELS).status_code == 503


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


# The X-Mock-Fault header.
def test_the_header_is_ignored_unless_allowed(http: httpx.Client) -> None:
    response = http.get(MODELS, headers={"X-Mock-Fault": "status=503"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [("status=503", 503), ("status=429; latency_ms=10", 429), ("status=524, empty", 524)],
    ids=["status", "with-latency", "empty"],
)
def test_the_header_applies_to_one_request(
    header_server: MockServer, header: str, status: int
) -> None:
    with httpx.Client(base_url=header_server.url, headers=AUTH) as client:
        assert client.get(MODELS, headers={"X-Mock-Fault": header}).status_code == status
        assert client.get(MODELS).status_code == 200


def test_the_header_resets_and_truncates(header_server: MockServer) -> None:
    with httpx.Client(base_url=header_server.url, headers=AUTH) as client:
        with pytest.raises(httpx.ReadError):
            client.get(MODELS, headers={"X-Mock-Fault": "reset"})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(MODELS, headers={"X-Mock-Fault": "truncate"})


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("status=200", "status: Number must be greater than or equal to 400"),
        ("explode", "explode: Unrecognized key"),
        ("status=50x", "status: Expected integer"),
        ("reset, status=503", "Combine latency_ms"),
        ("status 503", "cannot read 'status 503'"),
        ("status=" + "5" * 5000, "status: Expected integer"),
        ("latency_ms=1-" + "9" * 5000, "latency_ms"),
    ],
    ids=["2xx", "unknown", "not-a-number", "two-actions", "unreadable", "5000-digits", "range"],
)
def test_a_bad_header_is_a_400(header_server: MockServer, header: str, fragment: str) -> None:
    with httpx.Client(base_url=header_server.url, headers=AUTH) as client:
        response = client.get(MODELS, headers={"X-Mock-Fault": header})
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_the_header_vocabulary() -> None:
    assert parse_fault_header("status=503") == {"status": 503}
    assert parse_fault_header(" Latency_MS = 100-400 ; reset ,") == {
        "latency_ms": [100, 400],
        "reset": True,
    }
    assert parse_fault_header("cut_after_events=2,stall_ms=50,malformed_event") == {
        "cut_after_events": 2,
        "stall_ms": 50,
        "malformed_event": True,
    }


def test_the_environment_allows_the_header() -> None:
    assert load_settings(env={"LANGDOCK_MOCK_ALLOW_FAULT_HEADER": "1"}).allow_fault_header
    assert not load_settings(env={}).allow_fault_header


# Determinism.
def test_latency_ranges_are_drawn_from_the_seed() -> None:
    action = FaultAction(latency_ms=(100, 400))
    first = [resolve(action, random.Random(7)).latency for _ in range(3)]
    draws = random.Random(7)
    again = [resolve(action, draws).latency for _ in range(20)]
    assert first == [again[0]] * 3
    assert all(0.1 <= latency <= 0.4 for latency in again)
    assert len(set(again)) > 1


def _statuses(seed: int, rule: dict[str, Any], count: int) -> list[int]:
    with (
        MockServer(seed=seed) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as client,
    ):
        client.post("/__admin/faults", json=rule)
        return [client.get(MODELS).status_code for _ in range(count)]


def test_probability_rules_reproduce_under_the_same_seed() -> None:
    rule = {"action": {"status": 503}, "probability": 0.5}
    first = _statuses(11, rule, 24)
    assert _statuses(11, rule, 24) == first
    assert {200, 503} == set(first)  # both outcomes occur, in the seed's order
    assert _statuses(12, rule, 24) != first


def test_reset_clears_rules_and_isolated_restores_them(live: MockServer) -> None:
    live.add_fault({"action": {"status": 503}})
    with live.isolated():
        live.clear_faults()
        live.fail_next(500, times=2, path=MODELS)
        with httpx.Client(base_url=live.url, headers=AUTH) as client:
            assert [client.get(MODELS).status_code for _ in range(3)] == [500, 500, 200]
    with httpx.Client(base_url=live.url, headers=AUTH) as client:
        assert client.get(MODELS).status_code == 503  # the rule from before isolated()
        live.reset()
        assert client.get(MODELS).status_code == 200
        assert client.get("/__admin/faults").json() == {"faults": []}


def test_fail_next_from_the_handle(live: MockServer, http: httpx.Client) -> None:
    rule_id = live.fail_next()
    assert http.get("/__admin/faults").json()["faults"][0]["id"] == rule_id
    assert http.post(CREATE, json=ASSISTANT).status_code == 503
    assert http.post(CREATE, json=ASSISTANT).status_code == 201
    live.fail_next(429, path=CREATE)
    assert http.get(MODELS).status_code == 200
    assert http.post(CREATE, json=ASSISTANT).status_code == 429


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


def test_the_faults_page_names_every_action_and_header_word() -> None:
    text = page_text("docs/faults.md")
    action = load_bundle().document("admin/fault.json")["$defs"]["action"]["properties"]
    for name in action:
        assert f'"{name}"' in text or f"`{name}" in text, name
