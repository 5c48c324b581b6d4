"""Self-check (--check-responses): a response breaking the contract is a loud 500 and a failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.api.outcome import Call, Reply
from mockserver.asgi import app as app_module
from mockserver.contract.check import Contract, strict_schema
from mockserver.errors import InjectedFault, MockServerError
from mockserver.schemas import load_bundle
from mockserver.state import MockState

AUTH = {"Authorization": "Bearer sk-ld-mock"}
MODELS = "/assistant/v1/models"
GOOD_MODELS = {
    "object": "list",
    "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "system"}],
}


def _serving(monkeypatch: pytest.MonkeyPatch, body: Any, status: int = 200) -> None:
    def handler(state: MockState, call: Call) -> Reply:
        return Reply(status, body)

    monkeypatch.setitem(app_module.HANDLERS, "assistant.models", handler)


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (
            {
                "object": "list",
                "data": [{"id": 1, "object": "model", "created": 1, "owned_by": "system"}],
            },
            200,
            "response: type change at $.data[0].id",
        ),
        ({**GOOD_MODELS, "extra": True}, 200, "response: new field at $.extra"),
        ({"object": "list"}, 200, "response: missing field at $.data"),
        ({"message": "busy"}, 409, "HTTP 409 is not a documented status of assistant.models"),
    ],
    ids=["wrong-type", "unknown-field", "missing-field", "undocumented-status"],
)
def test_a_response_that_breaks_the_contract_becomes_a_loud_500(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    body: Any,
    status: int,
    said: str,
) -> None:
    _serving(monkeypatch, body, status)
    client = make_client()
    response = client.get(MODELS)
    assert response.status_code == 500
    message = response.json()["message"]
    assert message.startswith("mock contract violation: assistant.models HTTP")
    assert said in message
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    [failure] = state.failures
    assert failure.startswith("assistant.models: mock contract violation:")
    assert said in failure
    assert state.journal.entries()[-1].status == 500
    assert state.coverage == {("assistant.models", 500): 1}


def test_a_conforming_response_passes_untouched(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    _serving(monkeypatch, GOOD_MODELS)
    client = make_client()
    assert client.get(MODELS).json() == GOOD_MODELS
    assert not client.app.state.mock.failures  # type: ignore[attr-defined]


def test_injected_faults_may_use_any_status(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    def handler(state: MockState, call: Call) -> Reply:
        raise InjectedFault(418)

    monkeypatch.setitem(app_module.HANDLERS, "assistant.models", handler)
    client = make_client()
    assert client.get(MODELS).status_code == 418
    assert not client.app.state.mock.failures  # type: ignore[attr-defined]


def test_the_check_is_off_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    _serving(monkeypatch, {"object": "list"})
    client = make_client(check_responses=False)
    assert client.get(MODELS).json() == {"object": "list"}
    assert not client.app.state.mock.failures  # type: ignore[attr-defined]


def test_our_fixtures_always_check(client: TestClient, live: MockServer) -> None:
    assert client.app.state.mock.settings.check_responses  # type: ignore[attr-defined]
    assert live.settings.check_responses


def test_a_live_server_hands_the_violation_to_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    _serving(monkeypatch, {**GOOD_MODELS, "extra": 1})
    with MockServer(check_responses=True) as server:
        response = httpx.get(server.url + MODELS, headers=AUTH, timeout=10)
        assert response.status_code == 500
        with pytest.raises(MockServerError, match=r"mock contract violation: .*\$\.extra"):
            server.check_failures()


@pytest.mark.parametrize("profile", ["seed", "2026"])
def test_the_mocks_own_answers_pass_in_every_profile(
    make_client: Callable[..., TestClient], profile: str
) -> None:
    client = make_client(profile=profile)
    created = client.post("/assistant/v1/create", json={"name": "Checked", "actions": []})
    assert created.status_code == 201
    assistant_id = created.json()["assistant"]["id"]
    answers = [
        client.get("/assistant/v1/get", params={"assistantId": assistant_id}),
        client.patch("/assistant/v1/update", json={"assistantId": assistant_id, "name": "N"}),
        client.get(MODELS),
        client.post(
            "/assistant/v1/chat/completions",
            json={"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hi"}]},
        ),
        client.post(
            "/assistant/v1/chat/completions",
            json={
                "assistantId": assistant_id,
                "messages": [{"role": "user", "content": "Hi"}],
                "stream": True,
            },
        ),
        client.get("/assistant/v1/get", params={"assistantId": "nope"}),
        client.get(MODELS, headers={"Authorization": "Bearer wrong"}),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 400, 401]
    assert answers[4].headers["content-type"].startswith("text/event-stream")
    assert not client.app.state.mock.failures  # type: ignore[attr-defined]


def test_check_sent_explains_bodies_it_cannot_read() -> None:
    bundle = load_bundle()
    contract = Contract(bundle)
    op = bundle.operation("assistant.models")
    assert (
        contract.check_sent(op, 200, "application/json", b'{"object": "list", "data": []}') is None
    )
    assert contract.check_sent(op, 200, "text/html", b"<p>") == (
        "HTTP 200 sent as text/html, not application/json"
    )
    assert "HTTP 418 is not a documented status" in str(contract.check_sent(op, 418, None, b""))
    assert str(contract.check_sent(op, 200, "application/json", b"{")).startswith(
        "HTTP 200 body is not JSON"
    )
    assert contract.check_sent(op, 200, "application/json", None) == (
        "HTTP 200 with an unreadable body (application/json)"
    )
    assert contract.check_sent(op, 200, "text/event-stream; charset=utf-8", None) is None


def test_strict_schema_closes_listed_objects_and_keeps_branch_semantics() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "inner": {"type": "object", "properties": {"a": {}}},
            "open": {"type": "object", "properties": {"a": {}}, "additionalProperties": True},
            "free": {"type": "object"},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "x"}}},
                "then": {"properties": {"x": {"type": "integer"}}},
            }
        ],
    }
    closed = strict_schema(schema)
    assert closed["unevaluatedProperties"] is False
    assert closed["properties"]["inner"]["unevaluatedProperties"] is False
    assert "unevaluatedProperties" not in closed["properties"]["open"]
    assert "unevaluatedProperties" not in closed["properties"]["free"]
    branch = closed["allOf"][0]
    assert branch["if"] == schema["allOf"][0]["if"]  # type: ignore[index]
    assert "unevaluatedProperties" not in branch["then"]
    assert schema.get("unevaluatedProperties") is None  # the original is untouched
    validator = jsonschema_rs.Draft202012Validator(closed)
    assert validator.is_valid({"kind": "x", "x": 1, "inner": {"a": 1}, "free": {"b": 2}})
    assert not validator.is_valid({"kind": "y", "x": 1})  # x is known only when kind is x
    assert not validator.is_valid({"inner": {"b": 1}})
