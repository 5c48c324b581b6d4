"""Property tests of the server with its own strategies: valid bodies pass, invalid ones say why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import MockServer
from mockserver.api.providers.openai_embeddings import EMBEDDING_MODELS
from mockserver.config import DEFAULT_MODELS, provider_of
from mockserver.errors import json_path
from mockserver.schemas import load_bundle
from mockserver.strategies import (
    InvalidPayload,
    boundary_payloads,
    invalid_payloads,
    payload_operations,
    payloads,
)

AUTH = {"Authorization": "Bearer sk-ld-mock"}
# The Completion API's families answer in their own error shapes under path parameters: they
# have tests of their own below (PROVIDER_OPERATIONS).
_PROVIDERS = ("openai", "anthropic", "google")


def _langdock(operations: tuple[str, ...]) -> list[str]:
    return [op for op in operations if op.split(".")[0] not in _PROVIDERS]


OPERATIONS = _langdock(payload_operations())
PROVIDER_OPERATIONS = [op for op in payload_operations() if op.split(".")[0] in _PROVIDERS]
# The models each Completion API operation serves, for the body's model (and Google's path).
_MODELS = {
    family: [model.id for model in DEFAULT_MODELS if provider_of(model) == family]
    for family in _PROVIDERS
}
_PATH_MODELS = {"google": _MODELS["google"][0]}
PROVIDER_EXAMPLES = 15  # per operation and test: 6 operations x 3 tests x 15 examples
# A usage export's schema-valid body can still span more than 12 months, end before it starts,
# name a time zone that does not exist, or cover a range with nothing served (400 or 404 by
# contract): only the invalid ones are held to the schema here (test_usage_export.py does the rest).
ACCEPTING = [op for op in OPERATIONS if not op.startswith("export.")]
# Examples per operation and strategy: 3 x 70 = 210 per operation on the session's live server.
EXAMPLES = 70
# The 2026 profile gets its own live server and a lighter run: its schemas differ in limits only.
EXAMPLES_2026 = 25


def _send(http: httpx.Client, profile: str, operation: str, body: dict[str, Any]) -> httpx.Response:
    op = load_bundle(None, profile).operation(operation)
    path = op.path.format(region="eu", model=_PATH_MODELS.get(op.family, ""))
    if op.request is None:
        return http.request(op.method, path, params=body)
    return http.request(op.method, path, json=body)


def _resources(http: httpx.Client) -> dict[str, list[str]]:
    """Two of every resource the strategies refer to, created over the API."""
    pools: dict[str, list[str]] = {
        "assistants": [],
        "agents": [],
        "attachments": [],
        "knowledgeFolders": [],
    }
    for n in range(2):
        made = http.post("/__admin/knowledge-folders", json={"workspace": "default"})
        pools["knowledgeFolders"].append(made.json()["id"])
        created = http.post("/assistant/v1/create", json={"name": f"Pool assistant {n}"})
        pools["assistants"].append(created.json()["assistant"]["id"])
        created = http.post("/agent/v1/create", json={"name": f"Pool agent {n}"})
        pools["agents"].append(created.json()["agent"]["id"])
        files = {"file": (f"notes-{n}.txt", b"pool attachment", "text/plain")}
        uploaded = http.post("/attachment/v1/upload", files=files)
        pools["attachments"].append(uploaded.json()["attachmentId"])
    return pools


class World:
    """A live server, a client of it and the resources that exist on it."""

    def __init__(self, server: MockServer, http: httpx.Client, profile: str) -> None:
        self.server = server
        self.http = http
        self.profile = profile
        self.resources = _resources(http)

    def send(self, operation: str, body: dict[str, Any]) -> httpx.Response:
        """One request, in a snapshot the server returns to afterwards."""
        with self.server.isolated():
            return _send(self.http, self.profile, operation, body)


@pytest.fixture(scope="module")
def world(live_server: MockServer) -> Iterator[World]:
    """The session's live server, reset, with pools of assistants, agents, attachments and
    knowledge folders."""
    live_server.reset()
    with httpx.Client(base_url=live_server.url, headers=AUTH, timeout=10) as http:
        yield World(live_server, http, "seed")
    live_server.check_failures()
    live_server.reset()


@pytest.fixture(scope="module")
def world_2026() -> Iterator[World]:
    """A live server of the 2026 profile, with its own pools."""
    with (
        MockServer(profile="2026", check_responses=True) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http,
    ):
        yield World(server, http, "2026")
        server.check_failures()


def _accepted(world: World, operation: str, body: dict[str, Any]) -> None:
    response = world.send(operation, body)
    assert 200 <= response.status_code < 300, (response.status_code, response.text, body)


def _rejected(world: World, operation: str, case: InvalidPayload) -> None:
    response = world.send(operation, case.body)
    assert response.status_code == case.status, (response.status_code, response.text, case)
    issues = response.json()["message"]
    assert {"path": list(case.path), "code": case.code} in [
        {"path": issue["path"], "code": issue["code"]} for issue in issues
    ], (issues, case)
    assert all(issue["path"] == list(case.path) for issue in issues), (issues, case)


@pytest.mark.parametrize("operation", ACCEPTING)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_every_valid_payload_is_accepted(world: World, operation: str, data: st.DataObject) -> None:
    _accepted(world, operation, data.draw(payloads(operation, resources=world.resources)))


@pytest.mark.parametrize("operation", ACCEPTING)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_every_boundary_payload_is_accepted(
    world: World, operation: str, data: st.DataObject
) -> None:
    body = data.draw(boundary_payloads(operation, resources=world.resources))
    _accepted(world, operation, body)


@pytest.mark.parametrize("operation", OPERATIONS)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_every_invalid_payload_is_rejected_at_its_path(
    world: World, operation: str, data: st.DataObject
) -> None:
    _rejected(world, operation, data.draw(invalid_payloads(operation)))


@pytest.mark.parametrize(
    "operation",
    [op for op in _langdock(payload_operations(profile="2026")) if not op.startswith("export.")],
)
@settings(max_examples=EXAMPLES_2026)
@given(data=st.data())
def test_2026_profile_payloads_fit_a_2026_server(
    world_2026: World, operation: str, data: st.DataObject
) -> None:
    resources = world_2026.resources
    valid = st.one_of(
        payloads(operation, profile="2026", resources=resources),
        boundary_payloads(operation, profile="2026", resources=resources),
    )
    choice = data.draw(st.one_of(valid, invalid_payloads(operation, profile="2026")))
    if isinstance(choice, InvalidPayload):
        _rejected(world_2026, operation, choice)
    else:
        _accepted(world_2026, operation, choice)


# -- the Completion API: its families' error shapes, models by family ---------------------------


def _provider_resources(world: World, operation: str) -> dict[str, list[str]]:
    family = operation.split(".")[0]
    models = list(EMBEDDING_MODELS) if operation == "openai.embeddings" else _MODELS[family]
    return {**world.resources, "models": models}


def _coherent(operation: str, body: dict[str, Any]) -> bool | None:
    """Whether a schema-valid body also keeps the rules no JSON Schema states: a tool choice
    names a declared tool (or needs one), Google's allowed functions are declared, and
    text-embedding-ada-002 has only its 1536 dimensions. None: it may go either way."""
    if operation == "openai.embeddings":
        return body.get("dimensions") in (None, EMBEDDING_MODELS[body["model"]])
    if operation == "google.generate" or operation == "google.stream":
        declared = {
            declaration["name"]
            for tool in body.get("tools", [])
            for declaration in tool.get("functionDeclarations", [])
        }
        calling = body.get("toolConfig", {}).get("functionCallingConfig", {})
        allowed = calling.get("allowedFunctionNames") or []
        if not set(allowed) <= declared:
            return False
        # A schema the answer must follow (Google's own Schema objects or a JSON Schema, free
        # form: {"anyOf": []} and false admit no value) may be refused: None, a 2xx or a 400.
        config = body.get("generationConfig", {})
        schemas = config.get("responseMimeType") == "application/json" and (
            "responseSchema" in config or "responseJsonSchema" in config
        )
        return None if schemas or calling.get("mode") == "ANY" else True
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto"):
        return True
    tools = body.get("tools") or []
    if operation == "anthropic.messages":
        if choice["type"] in ("auto", "none"):
            return True
        names = [tool.get("name") for tool in tools]
        return bool(tools) and (choice["type"] != "tool" or choice["name"] in names)
    if operation == "openai.chat":
        names = [tool["function"]["name"] for tool in tools]
        if choice == "required":
            return bool(tools) and _object_parameters(tools[0]["function"].get("parameters"))
        name = choice["function"]["name"]
        return name in names and _object_parameters(
            tools[names.index(name)]["function"].get("parameters")
        )
    functions = [tool for tool in tools if tool.get("type") == "function"]
    named = [tool.get("name") for tool in functions]
    if choice == "required":
        return bool(functions) and _object_parameters(functions[0].get("parameters"))
    if choice.get("type") != "function":
        return True
    return choice.get("name") in named and _object_parameters(
        functions[named.index(choice.get("name"))].get("parameters")
    )


def _object_parameters(parameters: Any) -> bool:
    """A forced call's parameters describe an object (no type: held to one); else a 400."""
    if not parameters:
        return True
    kind = parameters.get("type")
    return kind is None or kind == "object" or (isinstance(kind, list) and "object" in kind)


def _answered(world: World, operation: str, body: dict[str, Any]) -> httpx.Response:
    """Never a 5xx; a 2xx when the body is coherent, else a 400 in the family's shape."""
    response = world.send(operation, body)
    assert response.status_code < 500, (response.status_code, response.text, body)
    coherent = _coherent(operation, body)
    if coherent is None:
        assert response.status_code < 300 or response.status_code == 400, response.text
        assert response.status_code < 300 or "error" in response.json(), response.text
    elif coherent:
        assert 200 <= response.status_code < 300, (response.status_code, response.text, body)
    else:
        assert response.status_code == 400, (response.status_code, response.text, body)
        assert "error" in response.json(), response.text
    return response


def _said_at(operation: str, payload: dict[str, Any], path: tuple[str | int, ...]) -> None:
    """The family's 400 body names the first issue's path the way the family does."""
    param = json_path(path).removeprefix("$").lstrip(".")
    family = operation.split(".")[0]
    if family == "openai":
        assert payload["error"]["type"] == "invalid_request_error", payload
        assert payload["error"]["param"] == param, (payload, path)
    elif family == "anthropic":
        assert payload["type"] == "error", payload
        assert payload["error"]["type"] == "invalid_request_error", payload
        assert not param or payload["error"]["message"].startswith(f"{param}: "), (payload, path)
    else:
        assert payload["error"]["status"] == "INVALID_ARGUMENT", payload
        prefix = f"Invalid value at '{param}': "
        assert not param or payload["error"]["message"].startswith(prefix), (payload, path)


@pytest.mark.parametrize("strategy", [payloads, boundary_payloads], ids=["valid", "boundary"])
@pytest.mark.parametrize("operation", PROVIDER_OPERATIONS)
@settings(max_examples=PROVIDER_EXAMPLES)
@given(data=st.data())
def test_every_completion_api_payload_is_answered(
    world: World, operation: str, strategy: Any, data: st.DataObject
) -> None:
    resources = _provider_resources(world, operation)
    _answered(world, operation, data.draw(strategy(operation, resources=resources)))


@pytest.mark.parametrize("operation", PROVIDER_OPERATIONS)
@settings(max_examples=PROVIDER_EXAMPLES)
@given(data=st.data())
def test_every_invalid_completion_api_payload_is_a_400_in_its_family_shape(
    world: World, operation: str, data: st.DataObject
) -> None:
    case = data.draw(invalid_payloads(operation))
    response = world.send(operation, case.body)
    assert response.status_code == case.status, (response.status_code, response.text, case)
    _said_at(operation, response.json(), case.path)
