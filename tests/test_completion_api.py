"""The Completion API's shared parts: regions, prefixes, scopes and personal keys, error formats,
and the limiter's windows per profile (the OpenAI routes stand in for every family)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver.config import KeySpec
from mockserver.errors import (
    ERROR_FORMATS,
    ApiError,
    ConfigError,
    FieldError,
    InsufficientScope,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
    render,
)
from mockserver.schemas import expand_path, load_bundle

CHAT = "/openai/{region}/v1/chat/completions"
MODELS = "/openai/eu/v1/models"


def _chat(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize("prefix", ["", "/api/public"], ids=["cloud", "dedicated"])
@pytest.mark.parametrize("region", ["eu", "us", "global"])
def test_every_region_serves_under_both_prefixes(
    client: TestClient, prefix: str, region: str
) -> None:
    response = client.post(prefix + CHAT.format(region=region), json=_chat())
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/openai/asia/v1/chat/completions", 404),
        ("GET", "/api/public/openai/EU/v1/models", 404),
        ("GET", "/openai/eu/v1/nothing", 404),
        ("GET", "/openai/eu/v1/chat/completions", 405),
        ("DELETE", "/api/public/openai/us/v1/models", 405),
    ],
    ids=["unknown-region", "upper-case-region", "unknown-path", "get-on-post", "delete"],
)
def test_unrouted_paths_under_a_family_answer_in_its_shape(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert path.removeprefix("/api/public") in error["message"]
    journaled = client.get("/__admin/requests").json()["requests"][-1]
    assert (journaled["path"], journaled["status"]) == (path, status)


def test_unrouted_paths_elsewhere_keep_the_api_envelope(client: TestClient) -> None:
    assert set(client.get("/assistant/v1/nothing").json()) == {"message"}
    assert set(client.get("/attachment/v1/nothing").json()) == {"message"}


def test_expand_path_fills_enumerated_parameters_and_keeps_free_ones() -> None:
    parameters = {"region": {"enum": ["eu", "us"]}}
    assert expand_path("/x/{region}/m/{model}:go", parameters) == [
        ("/x/eu/m/{model}:go", {"region": "eu"}),
        ("/x/us/m/{model}:go", {"region": "us"}),
    ]
    assert expand_path("/plain", parameters) == [("/plain", {})]


def test_operations_match_concrete_paths_by_their_parameters() -> None:
    op = load_bundle().operation("openai.chat")
    assert op.parameters == ("region",)
    assert op.match("/openai/global/v1/chat/completions") == {"region": "global"}
    assert op.match("/openai/xx/v1/chat/completions") is None
    assert load_bundle().operation("assistant.create").match("/assistant/v1/create") == {}


@pytest.mark.parametrize(
    ("scopes", "path", "status"),
    [
        (["AGENT_API"], MODELS, 403),
        (["COMPLETION_API"], MODELS, 200),
        (["COMPLETION_API"], "/assistant/v1/get?assistantId=x", 403),
    ],
    ids=["agent-key-on-openai", "completion-key-on-openai", "completion-key-on-assistants"],
)
def test_the_completion_api_needs_its_own_scope(
    client: TestClient, scopes: list[str], path: str, status: int
) -> None:
    key = client.post("/__admin/keys", json={"scopes": scopes}).json()["key"]
    response = client.get(path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == status
    if status == 403 and path == MODELS:
        error = response.json()["error"]
        assert error["message"] == "Insufficient permissions - requires COMPLETION_API scope"
        assert error["code"] == "insufficient_permissions"
    elif status == 403:
        assert response.json() == {"message": "Insufficient permissions - requires AGENT_API scope"}


def test_a_personal_key_carries_only_the_completion_scope(client: TestClient) -> None:
    made = client.post("/__admin/keys", json={"key": "sk-me", "kind": "personal"})
    assert made.json()["scopes"] == ["COMPLETION_API"]
    personal = {"Authorization": "Bearer sk-me"}
    assert client.post(CHAT.format(region="eu"), json=_chat(), headers=personal).status_code == 200
    create = client.post("/assistant/v1/create", json={"name": "x"}, headers=personal)
    assert create.status_code == 403
    refused = client.post(
        "/__admin/keys", json={"kind": "personal", "scopes": ["AGENT_API", "COMPLETION_API"]}
    )
    assert refused.status_code == 400
    assert "personal key carries only COMPLETION_API" in refused.json()["message"]


def test_key_specs_of_the_personal_kind() -> None:
    assert KeySpec("k", kind="personal").scopes == ("COMPLETION_API",)
    with pytest.raises(ConfigError, match="only COMPLETION_API"):
        KeySpec("k", kind="personal", scopes=("AGENT_API",))
    with pytest.raises(ConfigError, match="kind 'team'"):
        KeySpec("k", kind="team")


ISSUE = FieldError(("messages", 0, "role"), "invalid_enum_value", "Invalid enum value")


@pytest.mark.parametrize(
    ("error", "fmt", "expected"),
    [
        (
            ValidationFailed((ISSUE,)),
            "openai",
            {
                "error": {
                    "message": "Invalid 'messages[0].role': Invalid enum value",
                    "type": "invalid_request_error",
                    "param": "messages[0].role",
                    "code": None,
                }
            },
        ),
        (
            Unauthenticated(),
            "openai",
            {
                "error": {
                    "message": "Invalid or missing API key",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        ),
        (
            RateLimited("slow down"),
            "openai",
            {
                "error": {
                    "message": "slow down",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
        ),
        (
            InsufficientScope("COMPLETION_API"),
            "anthropic",
            {
                "type": "error",
                "error": {
                    "type": "permission_error",
                    "message": "Insufficient permissions - requires COMPLETION_API scope",
                },
            },
        ),
        (
            ValidationFailed((ISSUE,)),
            "anthropic",
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "messages[0].role: Invalid enum value",
                },
            },
        ),
        (
            NotFound("no such model"),
            "google",
            {"error": {"code": 404, "message": "no such model", "status": "NOT_FOUND"}},
        ),
        (
            RateLimited("slow down"),
            "google",
            {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}},
        ),
        (ValidationFailed((ISSUE,)), "error", {"error": "Invalid enum value"}),
    ],
    ids=[
        "openai-400",
        "openai-401",
        "openai-429",
        "anthropic-403",
        "anthropic-400",
        "google-404",
        "google-429",
        "error-400",
    ],
)
def test_render_in_each_named_format(error: ApiError, fmt: str, expected: dict[str, Any]) -> None:
    assert render(error, fmt) == (error.status, expected)


def test_every_format_renders_every_status() -> None:
    for fmt in ERROR_FORMATS:
        for status in (400, 401, 403, 404, 405, 409, 413, 415, 418, 429, 500, 502, 503, 529):
            error = ApiError("boom")
            error.status = status  # type: ignore[misc]  # Reason: one-off status.
            code, body = render(error, fmt)
            assert code == status
            assert ERROR_FORMATS[fmt].key in body


def _usage(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(CHAT.format(region="eu"), json=_chat(**body))
    assert response.status_code == 200, response.text
    usage: dict[str, Any] = response.json()["usage"]
    return usage


def test_usage_is_what_the_limiter_charged(client: TestClient) -> None:
    first = _usage(client, text="x" * 400)
    second = _usage(client, text="y" * 40, n=3, max_tokens=7)
    assert first["prompt_tokens"] == 100
    assert second["prompt_tokens"] == 10
    assert second["completion_tokens"] <= 3 * 7
    row = next(r for r in client.get("/__admin/limits").json()["limits"] if r["model"] == "gpt-4o")
    assert row["requests"] == 2
    assert row["tokens"] == first["total_tokens"] + second["total_tokens"]


@pytest.mark.parametrize(
    ("profile", "second_key_allowed"), [("seed", False), ("2026", True)], ids=["seed", "2026"]
)
def test_profiles_count_per_key_or_per_workspace(
    make_client: Callable[..., TestClient], profile: str, second_key_allowed: bool
) -> None:
    client = make_client(profile=profile)
    client.put("/__admin/limits", json={"workspace": "default", "model": "gpt-4o", "rpm": 1})
    other = client.post("/__admin/keys", json={"key": "sk-other"}).json()["key"]
    assert client.post(CHAT.format(region="eu"), json=_chat()).status_code == 200
    again = client.post(CHAT.format(region="eu"), json=_chat())
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "rate_limit_exceeded"
    by_other = client.post(
        CHAT.format(region="us"), json=_chat(), headers={"Authorization": f"Bearer {other}"}
    )
    assert (by_other.status_code == 200) is second_key_allowed
    rows = [r for r in client.get("/__admin/limits").json()["limits"] if r["requests"]]
    assert len(rows) == (2 if second_key_allowed else 1)
    assert all(("keyId" in row) is second_key_allowed for row in rows)


def test_families_share_the_window_of_a_model(client: TestClient) -> None:
    client.put("/__admin/limits", json={"workspace": "default", "model": "gpt-4o", "rpm": 2})
    inline = {
        "assistant": {"name": "A", "instructions": "Be brief.", "model": "gpt-4o"},
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert client.post("/assistant/v1/chat/completions", json=inline).status_code == 200
    assert client.post(CHAT.format(region="eu"), json=_chat()).status_code == 200
    assert client.post("/assistant/v1/chat/completions", json=inline).status_code == 429
    assert client.post(CHAT.format(region="eu"), json=_chat()).status_code == 429
