"""State from create to completion: defaults, updates, resources, reset, concurrency."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.config import ModelSpec
from mockserver.faults.rules import FaultPlan
from mockserver.schemas import load_bundle
from mockserver.state import MockState

CREATE = "/assistant/v1/create"
GET = "/assistant/v1/get"
UPDATE = "/assistant/v1/update"
COMPLETIONS = "/assistant/v1/chat/completions"
ACTION = "00000000-0000-4000-8000-00000000a001"
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ff"
RESOURCE_NOT_FOUND = {"message": "Resource not found (model, action or attachment)"}
MESSAGES = [{"role": "user", "content": "Summarise the report"}]
INLINE_COMPLETION = {"assistant": {"name": "A", "instructions": "x"}, "messages": MESSAGES}


def conforms(profile: str, schema: str, body: Any) -> None:
    """Assert that a response body validates against its schema file."""
    load_bundle(None, profile).validator(schema).validate(body)


def state_of(client: TestClient) -> MockState:
    """The MockState behind an in-process client."""
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    return state


def observe(state: MockState) -> tuple[Any, ...]:
    """What a rejected request must not change: stored assistants, limits' usage and replies.

    Not the ids to come: those follow the request's place in the order of requests, which a
    rejected request takes as it takes its place in the journal (on Redis too, where requests
    are numbered before they are read).
    """
    with state.lock:
        return (
            copy.deepcopy(state.store.records),
            state.limiter.usage(),
            [reply.as_json() for reply in state.script.pending()],
        )


def assert_not_found_and_unchanged(
    client: TestClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """The request is a 404 for an unknown resource, and nothing in the state moved."""
    state = state_of(client)
    before = observe(state)
    response = client.request(method, path, json=body)
    assert (response.status_code, response.json()) == (404, RESOURCE_NOT_FOUND)
    assert observe(state) == before


@pytest.mark.parametrize("profile", ["seed", "2026"])
def test_create_get_update_complete_see_the_same_assistant(
    make_client: Callable[..., TestClient], profile: str
) -> None:
    client = make_client(profile=profile)
    created = client.post(CREATE, json={"name": "Analyst", "instruction": "Be brief."})
    assert created.status_code == 201
    conforms(profile, "responses/assistant-saved.json", created.json())
    assert created.json()["message"] == "Assistant created successfully"
    assistant = created.json()["assistant"]
    got = client.get(GET, params={"assistantId": assistant["id"]})
    conforms(profile, "responses/assistant-get.json", got.json())
    assert got.json() == {"status": "success", "assistant": assistant}

    state_of(client).clock.advance(90)
    changes = {
        "assistantId": assistant["id"],
        "name": "Analyst 2",
        "description": "Reads reports",
        "conversationStarters": ["Start here"],
        "creativity": 0.9,
        "webSearch": True,
    }
    updated = client.patch(UPDATE, json=changes)
    assert updated.status_code == 200
    conforms(profile, "responses/assistant-saved.json", updated.json())
    assert updated.json()["message"] == "Assistant updated successfully"
    after = updated.json()["assistant"]
    assert after["name"] == "Analyst 2"
    assert after["description"] == "Reads reports"
    assert after["temperature"] == 0.9
    assert after["webSearchEnabled"] is True
    assert after["conversationStarters"] == ["Start here"]
    assert after["instruction"] == "Be brief."  # untouched fields stay
    assert after["createdAt"] == assistant["createdAt"] == "2025-01-01T00:00:00.000Z"
    assert after["updatedAt"] == "2025-01-01T00:01:30.000Z"
    assert client.get(GET, params={"assistantId": assistant["id"]}).json()["assistant"] == after

    reply = client.post(COMPLETIONS, json={"assistantId": assistant["id"], "messages": MESSAGES})
    assert reply.status_code == 200
    conforms(profile, "responses/assistant-completion.json", reply.json())
    [message] = reply.json()["result"]
    assert message["role"] == "assistant"
    assert message["content"][0]["type"] == "text"
    assert message["content"][0]["text"]


def test_completions_use_the_stored_instruction(client: TestClient) -> None:
    assistant_id = client.post(CREATE, json={"name": "A", "instruction": "One."}).json()[
        "assistant"
    ]["id"]
    body = {"assistantId": assistant_id, "messages": MESSAGES}
    first = client.post(COMPLETIONS, json=body).json()["result"][0]["content"][0]["text"]
    assert client.post(COMPLETIONS, json=body).json()["result"][0]["content"][0]["text"] == first
    client.patch(UPDATE, json={"assistantId": assistant_id, "instruction": "Two."})
    second = client.post(COMPLETIONS, json=body).json()["result"][0]["content"][0]["text"]
    assert second != first  # the reply follows the assistant as it now is


def test_update_replaces_arrays_and_null_clears(client: TestClient) -> None:
    created = client.post(
        CREATE,
        json={
            "name": "A",
            "description": "d",
            "emoji": "🤖",
            "instruction": "i",
            "conversationStarters": ["a", "b"],
            "actions": [{"actionId": ACTION}],
        },
    ).json()["assistant"]
    changes = {
        "assistantId": created["id"],
        "description": None,
        "emoji": None,
        "instruction": None,
        "conversationStarters": ["c"],
        "actions": [],
    }
    after = client.patch(UPDATE, json=changes).json()["assistant"]
    assert (after["description"], after["emojiIcon"], after["instruction"]) == (None, None, None)
    assert after["conversationStarters"] == ["c"]
    assert after["actions"] == []


@pytest.mark.parametrize(
    ("profile", "confirmation", "thinking"), [("seed", False, None), ("2026", True, False)]
)
def test_defaults_come_from_the_profiles_schemas(
    make_client: Callable[..., TestClient],
    profile: str,
    confirmation: bool,
    thinking: bool | None,
) -> None:
    client = make_client(profile=profile)
    body = {
        "name": "D",
        "actions": [{"actionId": ACTION}],
        "inputFields": [{"slug": "s", "type": "TEXT", "label": "L", "order": 0}],
    }
    assistant = client.post(CREATE, json=body).json()["assistant"]
    assert assistant["actions"] == [
        {"actionId": ACTION, "requiresConfirmation": confirmation, "connectionId": None}
    ]
    assert assistant["inputFields"][0]["required"] is False
    assert assistant["temperature"] == 0.3
    assert assistant["inputType"] == "PROMPT"
    assert assistant["model"] == "gpt-4o"
    assert assistant["conversationStarters"] == []
    assert assistant.get("extendedThinking") == thinking
    explicit = {"name": "E", "actions": [{"actionId": ACTION, "requiresConfirmation": False}]}
    stored = client.post(CREATE, json=explicit).json()["assistant"]["actions"][0]
    assert stored["requiresConfirmation"] is False


def test_extended_thinking_is_stored_in_2026_and_dropped_in_seed(
    make_client: Callable[..., TestClient],
) -> None:
    newer = make_client(profile="2026").post(CREATE, json={"name": "T", "extendedThinking": True})
    assert newer.json()["assistant"]["extendedThinking"] is True
    assert "x-mock-warnings" not in newer.headers
    older = make_client().post(CREATE, json={"name": "T", "extendedThinking": True})
    assert older.status_code == 201
    assert "extendedThinking" not in older.json()["assistant"]
    assert older.headers["x-mock-warnings"] == "unknown field $.extendedThinking"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "M", "model": "gpt-0"},
        {"name": "A", "actions": [{"actionId": UNKNOWN_UUID}]},
        {"name": "F", "attachments": [UNKNOWN_UUID]},
    ],
    ids=["model", "action", "attachment"],
)
def test_unknown_resources_are_404_and_create_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    assert_not_found_and_unchanged(client, "POST", CREATE, body)
    existing = client.post(CREATE, json={"name": "Keep"}).json()["assistant"]
    changes = {**body, "assistantId": existing["id"], "name": "Lost"}
    assert_not_found_and_unchanged(client, "PATCH", UPDATE, changes)  # the name stays too


@pytest.mark.parametrize(
    "body",
    [
        {"assistant": {"name": "T", "instructions": "I", "model": "gpt-0"}, "messages": MESSAGES},
        {
            "assistant": {"name": "T", "instructions": "I", "attachmentIds": [UNKNOWN_UUID]},
            "messages": MESSAGES,
        },
        {
            "assistant": {"name": "T", "instructions": "I"},
            "messages": [{"role": "user", "content": "x", "attachmentIds": [UNKNOWN_UUID]}],
        },
    ],
    ids=["model", "inline-attachment", "message-attachment"],
)
def test_completions_with_unknown_resources_are_404(
    client: TestClient, body: dict[str, Any]
) -> None:
    assert_not_found_and_unchanged(client, "POST", COMPLETIONS, body)


def test_an_inline_assistant_may_name_a_catalogue_model(client: TestClient) -> None:
    body = {"assistant": {"name": "T", "instructions": "I", "model": "gpt-5"}, "messages": MESSAGES}
    assert client.post(COMPLETIONS, json=body).status_code == 200


@pytest.mark.parametrize("profile", ["seed", "2026"])
def test_the_default_catalogue(make_client: Callable[..., TestClient], profile: str) -> None:
    body = make_client(profile=profile).get("/assistant/v1/models").json()
    conforms(profile, "responses/models.json", body)
    ids = [m["id"] for m in body["data"]]
    assert ids[:2] == ["gpt-4o", "gpt-4o-mini"]
    assert len(ids) >= 4
    assert all(m["object"] == "model" and m["owned_by"] == "system" for m in body["data"])
    assert all(("region" in m) == (profile == "2026") for m in body["data"])
    assert all(("supportsExtendedThinking" in m) == (profile == "2026") for m in body["data"])


def test_the_catalogue_is_configurable(make_client: Callable[..., TestClient]) -> None:
    client = make_client(models=(ModelSpec("house-model", 1_700_000_000_000, "eu", True),))
    body = client.get("/assistant/v1/models").json()
    assert body == {
        "object": "list",
        "data": [
            {
                "id": "house-model",
                "object": "model",
                "created": 1_700_000_000_000,
                "owned_by": "system",
            }
        ],
    }
    created = client.post(CREATE, json={"name": "H"}).json()["assistant"]
    assert created["model"] == "house-model"  # the workspace default is not in this catalogue
    assert client.post(CREATE, json={"name": "G", "model": "gpt-4o"}).status_code == 404


def test_reset_returns_to_the_start_up_configuration(client: TestClient) -> None:
    first = client.post(CREATE, json={"name": "A"}).json()["assistant"]["id"]
    client.post("/__admin/keys", json={"key": "sk-temp"})
    state_of(client).clock.advance(30)
    assert client.post("/__admin/reset").json() == {"status": "reset"}
    assert not state_of(client).store.records
    # The first request after a reset is numbered 1 again: the seeded ids start over.
    again = client.post(CREATE, json={"name": "A"}).json()["assistant"]
    assert again["id"] == first
    assert again["createdAt"] == "2025-01-01T00:00:00.000Z"
    auth = {"Authorization": "Bearer sk-temp"}
    assert client.get("/assistant/v1/models", headers=auth).status_code == 401
    journal = client.get("/__admin/requests").json()["requests"]
    assert [(e["seq"], e["path"]) for e in journal] == [(1, CREATE), (2, "/assistant/v1/models")]


def test_reset_keeps_configured_keys(make_client: Callable[..., TestClient]) -> None:
    from mockserver.config import KeySpec

    client = make_client(keys=(KeySpec("sk-configured", scopes=("AGENT_API",)),))
    client.post("/__admin/reset")
    auth = {"Authorization": "Bearer sk-configured"}
    assert client.post(CREATE, json={"name": "K"}, headers=auth).status_code == 201


def test_admin_health(client: TestClient) -> None:
    body = client.get("/__admin/health").json()
    assert body["status"] == "ok"
    assert body["profile"] == "seed"
    assert body["operations"] >= 6


def test_fifty_concurrent_creates_lose_nothing(live: MockServer) -> None:
    auth = {"Authorization": f"Bearer {live.api_key}"}
    with httpx.Client(base_url=live.url, headers=auth, timeout=10) as http:

        def create(index: int) -> str:
            response = http.post(CREATE, json={"name": f"Concurrent {index}"})
            assert response.status_code == 201, response.text
            assistant_id: str = response.json()["assistant"]["id"]
            return assistant_id

        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = list(pool.map(create, range(50)))
        assert len(set(ids)) == 50
        assert len(live.state.store.records) == 50
        names = {
            http.get(GET, params={"assistantId": assistant_id}).json()["assistant"]["name"]
            for assistant_id in ids
        }
        assert names == {f"Concurrent {index}" for index in range(50)}
        assert len(live.requests) == 100


def test_concurrent_updates_and_completions_keep_one_consistent_assistant(
    live: MockServer,
) -> None:
    auth = {"Authorization": f"Bearer {live.api_key}"}
    with httpx.Client(base_url=live.url, headers=auth, timeout=10) as http:
        assistant_id = http.post(CREATE, json={"name": "Shared"}).json()["assistant"]["id"]

        def work(index: int) -> int:
            if index % 2:
                body = {"assistantId": assistant_id, "conversationStarters": [str(index)]}
                return http.patch(UPDATE, json=body).status_code
            body = {"assistantId": assistant_id, "messages": MESSAGES}
            return http.post(COMPLETIONS, json=body).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(work, range(40)))
        assert statuses == [200] * 40
        final = http.get(GET, params={"assistantId": assistant_id}).json()["assistant"]
        assert final["conversationStarters"][0] in {str(i) for i in range(1, 40, 2)}
    live.check_failures()


class _CountingLock:
    """The state's RLock, counting acquisitions (re-entries included)."""

    def __init__(self) -> None:
        self.inner = threading.RLock()
        self.acquired = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.acquired += 1
        return self.inner.acquire(blocking, timeout)

    def release(self) -> None:
        self.inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/assistant/v1/create", {"name": "Locked"}, 201),
        ("POST", "/assistant/v1/chat/completions", INLINE_COMPLETION, 200),
        ("GET", "/assistant/v1/models", None, 200),
        ("POST", "/assistant/v1/create", {"name": 1}, 400),
        ("GET", "/assistant/v1/get?assistantId=nope", None, 400),
    ],
    ids=["create", "completion", "models", "invalid", "refused-query"],
)
def test_a_request_takes_the_state_lock_once(
    client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    # The operation and its journal entry under one acquisition: no reader sees one without
    # the other, and no request pays for the lock twice.
    lock = _CountingLock()
    state_of(client).lock = lock  # type: ignore[assignment]  # Reason: counting, same protocol.
    assert client.request(method, path, json=body).status_code == status
    assert lock.acquired == 1
    assert not lock.inner._is_owned()  # type: ignore[attr-defined]  # Reason: RLock's own check.


def test_the_fault_plan_is_a_typed_part_of_the_state(client: TestClient) -> None:
    state = state_of(client)
    assert isinstance(state.faults, FaultPlan)
    client.post("/__admin/faults", json={"match": {"path": "/nope"}, "action": {"status": 503}})
    snapshot = state.snapshot()
    assert len(state.faults) == 1
    state.reset()
    assert len(state.faults) == 0
    state.restore(snapshot)
    assert [rule.match.path for rule in state.faults.rules()] == ["/nope"]
