"""The Agents API: create, get, update (the draft), publish, disable, models, completions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.state import MockState

from .aisdk import user
from .responses import Response

CREATE = "/agent/v1/create"
GET = "/agent/v1/get"
UPDATE = "/agent/v1/update"
PUBLISH = "/agent/v1/publish"
DISABLE = "/agent/v1/disable"
MODELS = "/agent/v1/models"
COMPLETIONS = "/agent/v1/chat/completions"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _state(client: TestClient) -> MockState:
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    return state


def _create(client: TestClient | httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post(CREATE, json={"name": "Helper", "instruction": "Be brief.", **fields})
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()["agent"]
    return agent


def _chat(client: TestClient | httpx.Client, **body: Any) -> Response:
    body.setdefault("messages", [user("Hello there")])
    return client.post(COMPLETIONS, json=body)


def _text(client: TestClient | httpx.Client, agent_id: str) -> str:
    response = _chat(client, agentId=agent_id)
    assert response.status_code == 200, response.text
    content: str = response.json()["messages"][0]["content"]
    return content


def test_create_answers_201_with_status_message_and_agent(client: TestClient) -> None:
    response = client.post(CREATE, json={"name": "Helper", "emoji": "🤖", "creativity": 0.5})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Agent created successfully"
    agent = body["agent"]
    assert (agent["name"], agent["emojiIcon"], agent["temperature"]) == ("Helper", "🤖", 0.5)
    assert agent["model"] == "gpt-4o"  # the workspace default


def test_get_returns_the_draft_until_the_first_publish(client: TestClient) -> None:
    agent = _create(client)
    client.patch(UPDATE, json={"agentId": agent["id"], "name": "Draft name"})
    response = client.get(GET, params={"agentId": agent["id"]})
    assert response.status_code == 200
    assert response.json() == {"status": "success", "agent": response.json()["agent"]}
    assert response.json()["agent"]["name"] == "Draft name"


def test_update_changes_the_draft_only_and_publish_makes_it_visible(client: TestClient) -> None:
    agent = _create(client, name="First")
    first = client.post(PUBLISH, json={"agentId": agent["id"], "description": "v1"})
    assert first.status_code == 200
    assert first.json()["status"] == "success"
    assert first.json()["message"] == "Agent published successfully"
    assert first.json()["version"]["version"] == 1
    _state(client).clock.advance(5)

    updated = client.patch(UPDATE, json={"agentId": agent["id"], "name": "Second"})
    assert updated.status_code == 200
    assert updated.json()["message"] == "Agent updated successfully"
    assert updated.json()["agent"]["name"] == "Second"  # the draft it changed
    assert client.get(GET, params={"agentId": agent["id"]}).json()["agent"]["name"] == "First"

    second = client.post(PUBLISH, json={"agentId": agent["id"]})
    assert second.status_code == 200
    version = second.json()["version"]
    assert version["version"] == 2
    assert version["id"] != first.json()["version"]["id"]
    assert version["createdAt"] > first.json()["version"]["createdAt"]
    assert client.get(GET, params={"agentId": agent["id"]}).json()["agent"]["name"] == "Second"


def test_publish_without_changes_is_409(client: TestClient) -> None:
    agent = _create(client, name="Same")
    assert client.post(PUBLISH, json={"agentId": agent["id"]}).status_code == 200
    again = client.post(PUBLISH, json={"agentId": agent["id"]})
    assert again.status_code == 409
    assert again.json() == {"message": "Agent has no draft changes to publish"}
    # An update that puts every value back is no change either.
    client.patch(UPDATE, json={"agentId": agent["id"], "name": "Other"})
    client.patch(UPDATE, json={"agentId": agent["id"], "name": "Same"})
    assert client.post(PUBLISH, json={"agentId": agent["id"]}).status_code == 409


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, ["agentId"]),
        ({"agentId": "not-a-uuid"}, ["agentId"]),
        ({"agentId": UNKNOWN, "description": "x" * 101}, ["description"]),
    ],
    ids=["missing-id", "bad-uuid", "description-over-100"],
)
def test_publish_validates_its_body(
    client: TestClient, body: dict[str, Any], path: list[Any]
) -> None:
    response = client.post(PUBLISH, json=body)
    assert response.status_code == 400
    assert response.json()["message"][0]["path"] == path


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", GET, None),
        ("PATCH", UPDATE, {"name": "x"}),
        ("POST", PUBLISH, {}),
        ("PATCH", DISABLE, {"disabled": True}),
    ],
    ids=["get", "update", "publish", "disable"],
)
def test_unknown_agent_is_404(
    client: TestClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    if body is None:
        response = client.request(method, url, params={"agentId": UNKNOWN})
    else:
        response = client.request(method, url, json={"agentId": UNKNOWN, **body})
    assert response.status_code == 404
    assert response.json() == {"message": "Agent not found"}


def test_an_agent_is_an_assistant_under_another_name(client: TestClient) -> None:
    agent = _create(client, name="Shared record")
    as_assistant = client.get("/assistant/v1/get", params={"assistantId": agent["id"]})
    assert as_assistant.json()["assistant"] == agent
    made = client.post("/assistant/v1/create", json={"name": "Old style"}).json()["assistant"]
    assert client.get(GET, params={"agentId": made["id"]}).json()["agent"] == made


def test_disable_needs_an_admin_key_and_blocks_completions(client: TestClient) -> None:
    agent = _create(client)
    plain = _state(client).add_key(scopes=("AGENT_API",)).key
    _state(client).share(plain, agent["id"])
    refused = client.patch(
        DISABLE,
        json={"agentId": agent["id"], "disabled": True},
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert refused.status_code == 403
    done = client.patch(DISABLE, json={"agentId": agent["id"], "disabled": True})
    assert done.json() == {"status": "success", "message": "Agent disabled successfully"}
    blocked = _chat(client, agentId=agent["id"])
    assert blocked.status_code == 403
    assert blocked.json() == {"message": "Agent is disabled"}
    enabled = client.patch(DISABLE, json={"agentId": agent["id"], "disabled": False})
    assert enabled.json()["message"] == "Agent enabled successfully"
    assert _chat(client, agentId=agent["id"]).status_code == 200


def test_models_is_the_same_catalogue_as_the_assistants(client: TestClient) -> None:
    response = client.get(MODELS)
    assert response.status_code == 200
    assert response.json() == client.get("/assistant/v1/models").json()
    assert response.json()["object"] == "list"


def test_completion_is_the_superset_of_both_documented_shapes(client: TestClient) -> None:
    agent = _create(client)
    response = _chat(client, agentId=agent["id"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "role", "parts", "messages"}
    assert body["role"] == "assistant"
    [text_part] = body["parts"]
    assert text_part["type"] == "text"
    assert text_part["text"]
    [message] = body["messages"]
    assert message == {
        "id": body["id"],
        "role": "assistant",
        "content": text_part["text"],
        "parts": body["parts"],
    }


def test_completions_use_the_published_version(client: TestClient) -> None:
    agent = _create(client, instruction="Version one.")
    draft_reply = _text(client, agent["id"])
    client.post(PUBLISH, json={"agentId": agent["id"]})
    client.patch(UPDATE, json={"agentId": agent["id"], "instruction": "Version two."})
    # The reply depends on the instruction: the published one still answers.
    assert _text(client, agent["id"]) == draft_reply
    client.post(PUBLISH, json={"agentId": agent["id"]})
    assert _text(client, agent["id"]) != draft_reply


def test_the_same_request_gets_the_same_reply(client: TestClient) -> None:
    agent = _create(client)
    assert _text(client, agent["id"]) == _text(client, agent["id"])


def test_inline_agent_completion(client: TestClient) -> None:
    inline = {"name": "Temp", "instructions": "Say hi.", "model": "gpt-4o-mini", "temperature": 1}
    response = _chat(client, agent=inline, maxSteps=3, imageResponseFormat="b64_json")
    assert response.status_code == 200
    assert response.json()["messages"][0]["content"]
    unknown = _chat(client, agent={**inline, "model": "gpt-0"})
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Resource not found (model, action or attachment)"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"messages": [user("x")]}, []),
        ({"agentId": UNKNOWN, "agent": {"name": "a", "instructions": "b"}}, []),
        ({"agent": {"name": "a"}}, ["agent", "instructions"]),
        ({"agent": {"name": "a" * 65, "instructions": "b"}}, ["agent", "name"]),
        ({"agentId": UNKNOWN, "messages": []}, ["messages"]),
        ({"agentId": UNKNOWN, "messages": [{"role": "user", "parts": []}]}, ["messages", 0, "id"]),
        (
            {"agentId": UNKNOWN, "messages": [{"id": "1", "role": "robot", "parts": []}]},
            ["messages", 0, "role"],
        ),
        (
            {
                "agentId": UNKNOWN,
                "messages": [{"id": "1", "role": "user", "parts": [{"type": "text"}]}],
            },
            ["messages", 0, "parts", 0, "text"],
        ),
        (
            {
                "agentId": UNKNOWN,
                "messages": [
                    {"id": "1", "role": "user", "parts": [{"type": "file", "mediaType": "a/b"}]}
                ],
            },
            ["messages", 0, "parts", 0, "url"],
        ),
        (
            {
                "agentId": UNKNOWN,
                "messages": [{**user("x"), "metadata": {"attachments": ["nope"]}}],
            },
            ["messages", 0, "metadata", "attachments", 0],
        ),
        ({"agentId": UNKNOWN, "maxSteps": 0}, ["maxSteps"]),
        ({"agentId": UNKNOWN, "maxSteps": 21}, ["maxSteps"]),
        ({"agentId": UNKNOWN, "imageResponseFormat": "png"}, ["imageResponseFormat"]),
        ({"agentId": UNKNOWN, "output": {"type": "enum"}}, ["output", "enum"]),
        ({"agentId": UNKNOWN, "stream": "yes"}, ["stream"]),
    ],
    ids=[
        "neither-id-nor-agent",
        "both-id-and-agent",
        "inline-without-instructions",
        "inline-name-over-64",
        "no-messages",
        "message-without-id",
        "bad-role",
        "text-part-without-text",
        "file-part-without-url",
        "attachment-not-uuid",
        "max-steps-0",
        "max-steps-21",
        "image-format",
        "enum-without-values",
        "stream-not-boolean",
    ],
)
def test_completion_validation(client: TestClient, body: dict[str, Any], path: list[Any]) -> None:
    body.setdefault("messages", [user("x")])
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"][0]["path"] == path


def test_every_role_and_the_history_of_a_conversation_are_accepted(client: TestClient) -> None:
    agent = _create(client)
    history = [
        {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be terse."}]},
        user("Hi", id="u1"),
        {
            "id": "a1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {"type": "reasoning", "text": "thinking"},
                {"type": "text", "text": "Hello!", "state": "done"},
            ],
        },
        {"id": "t1", "role": "tool", "parts": []},
        {
            "id": "f1",
            "role": "user",
            "parts": [
                {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AAAA"},
                {"type": "file", "mimeType": "text/plain", "url": "https://x.test/a", "name": "a"},
            ],
        },
        user("And now?", id="u2"),
    ]
    assert _chat(client, agentId=agent["id"], messages=history).status_code == 200


def test_assistants_style_messages_get_a_warning_and_a_400(client: TestClient) -> None:
    agent = _create(client)
    response = _chat(
        client, agentId=agent["id"], messages=[{"id": "1", "role": "user", "content": "Hi"}]
    )
    assert response.status_code == 400
    assert response.json()["message"][0]["path"] == ["messages", 0, "parts"]
    assert response.headers["X-Mock-Warnings"] == "unknown field $.messages[0].content"


@pytest.mark.parametrize("kind", ["object", "array", "enum"])
def test_structured_output(client: TestClient, kind: str) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    spec: dict[str, Any] = (
        {"type": kind, "schema": schema}
        if kind != "enum"
        else {"type": "enum", "enum": ["yes", "no"]}
    )
    response = _chat(client, agent={"name": "S", "instructions": "Structure."}, output=spec)
    assert response.status_code == 200
    output = response.json()["output"]
    if kind == "object":
        assert isinstance(output["city"], str)
    elif kind == "array":
        assert output
        assert all(isinstance(item["city"], str) for item in output)
    else:
        assert output in ("yes", "no")


def test_scopes_sharing_and_workspaces(client: TestClient) -> None:
    state = _state(client)
    agent = _create(client)
    no_scope = state.add_key(scopes=("KNOWLEDGE_FOLDER_API",)).key
    old_name = state.add_key(scopes=("ASSISTANT_API",)).key
    stranger = state.add_key(workspace="elsewhere").key

    def get(key: str) -> Response:
        headers = {"Authorization": f"Bearer {key}"}
        response: Response = client.get(GET, params={"agentId": agent["id"]}, headers=headers)
        return response

    assert get(no_scope).status_code == 403
    assert get(no_scope).json() == {
        "message": "Insufficient permissions - requires AGENT_API scope"
    }
    assert get(old_name).status_code == 404  # not shared with it yet
    state.share(old_name, agent["id"])
    assert get(old_name).status_code == 200
    assert get(stranger).status_code == 404
    assert (
        client.get(
            GET, params={"agentId": agent["id"]}, headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )


def test_unshared_status_403_setting_applies(make_client: Callable[..., TestClient]) -> None:
    client = make_client(unshared_status=403)
    agent = _create(client)
    other = _state(client).add_key().key
    response = client.post(
        COMPLETIONS,
        json={"agentId": agent["id"], "messages": [user("x")]},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 403
    assert response.json() == {"message": "API key does not have access to this agent"}


def test_unknown_fields_are_warnings_and_strict_makes_them_400s(
    client: TestClient, make_client: Callable[..., TestClient]
) -> None:
    response = client.post(CREATE, json={"name": "W", "instructions": "typo"})
    assert response.status_code == 201
    assert response.headers["X-Mock-Warnings"] == "unknown field $.instructions"
    assert response.json()["agent"]["instruction"] is None
    strict = make_client(strict=True).post(CREATE, json={"name": "W", "instructions": "typo"})
    assert strict.status_code == 400
    assert strict.json()["message"][0]["code"] == "unrecognized_keys"


def test_profile_2026_limits_apply_to_agents(make_client: Callable[..., TestClient]) -> None:
    client = make_client(profile="2026")
    assert client.post(CREATE, json={"name": "x" * 81}).status_code == 400
    agent = _create(client, extendedThinking=True)
    assert agent["extendedThinking"] is True
    long_name = client.patch(UPDATE, json={"agentId": agent["id"], "name": "x" * 81})
    assert long_name.status_code == 400
    thinking = client.patch(UPDATE, json={"agentId": agent["id"], "extendedThinking": False})
    assert thinking.json()["agent"]["extendedThinking"] is False
    models = client.get(MODELS).json()["data"]
    assert all({"region", "supportsExtendedThinking"} <= set(m) for m in models)


def test_rate_limits_apply_per_model_and_the_clock_frees_them(client: TestClient) -> None:
    state = _state(client)
    state.set_limits("default", "gpt-4o", 1, 60_000)
    agent = _create(client)
    assert _chat(client, agentId=agent["id"]).status_code == 200
    limited = _chat(client, agentId=agent["id"])
    assert limited.status_code == 429
    assert limited.json()["message"].startswith("Rate limit exceeded")
    inline = _chat(client, agent={"name": "m", "instructions": "i", "model": "gpt-4o-mini"})
    assert inline.status_code == 200  # another model, another bucket
    state.clock.advance(61)
    assert _chat(client, agentId=agent["id"]).status_code == 200


def test_the_journal_names_agent_operations(live: MockServer, http: httpx.Client) -> None:
    agent = _create(http)
    assert _chat(http, agentId=agent["id"]).status_code == 200
    assert http.post(f"/api/public{PUBLISH}", json={"agentId": agent["id"]}).status_code == 200
    live.assert_called(PUBLISH, times=1)
    operations = [r.operation for r in live.requests]
    assert operations == ["agent.create", "agent.completions", "agent.publish"]
