"""Fault rules: added, listed and matched through /__admin/faults and the handle, the
X-Mock-Fault header's words, draws from the seed."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.config import load_settings
from mockserver.errors import ConfigError
from mockserver.faults.rules import FaultAction, parse_fault_header, resolve
from mockserver.schemas import load_bundle
from tests.docpages import page_text
from tests.fault_requests import ASSISTANT, AUTH, COMPLETIONS, CREATE, MODELS
from tests.fault_requests import chat as _chat


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
    messages = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}]
    path = "/agent/v1/chat/completions"
    inline = {"agent": {"name": "Streamer", "instructions": "Talk."}, "messages": messages}
    assert client.post(path, json={"agentId": agent, "messages": messages}).status_code == 502
    assert client.post(path, json=inline).status_code == 200  # inline agent
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


def test_the_faults_page_names_every_action_and_header_word() -> None:
    text = page_text("docs/faults.md")
    action = load_bundle().document("admin/fault.json")["$defs"]["action"]["properties"]
    for name in action:
        assert f'"{name}"' in text or f"`{name}" in text, name
