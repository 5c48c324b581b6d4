"""The 401/403/404 matrix: keys, scopes, admin rights, workspaces, sharing, disabled assistants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer

from .responses import Response

UNAUTHENTICATED = {"message": "Invalid or missing API key"}
NEEDS_AGENT_API = {"message": "Insufficient permissions - requires AGENT_API scope"}
NEEDS_ADMIN = {"message": "Insufficient permissions - this action requires an admin API key"}
NOT_FOUND = {"message": "Assistant not found"}
UNKNOWN_ID = "00000000-0000-4000-8000-0000000000ff"
MESSAGES = [{"role": "user", "content": "Hi"}]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def requests_for(assistant_id: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """One valid request per operation, against ``assistant_id``."""
    return {
        "create": ("POST", "/assistant/v1/create", {"json": {"name": "A"}}),
        "get": ("GET", "/assistant/v1/get", {"params": {"assistantId": assistant_id}}),
        "update": ("PATCH", "/assistant/v1/update", {"json": {"assistantId": assistant_id}}),
        "disable": (
            "PATCH",
            "/assistant/v1/disable",
            {"json": {"assistantId": assistant_id, "disabled": False}},
        ),
        "models": ("GET", "/assistant/v1/models", {}),
        "completions": (
            "POST",
            "/assistant/v1/chat/completions",
            {"json": {"assistantId": assistant_id, "messages": MESSAGES}},
        ),
    }


OPERATIONS = list(requests_for(UNKNOWN_ID))
SUCCESS = {"create": 201, "get": 200, "update": 200, "disable": 200, "models": 200}
SUCCESS["completions"] = 200


def call(
    client: TestClient | httpx.Client,
    op: str,
    assistant_id: str,
    headers: dict[str, str] | None,
) -> Response:
    method, path, kwargs = requests_for(assistant_id)[op]
    return client.request(method, path, headers=headers, **kwargs)


def create(client: TestClient | httpx.Client, key: str = "sk-ld-mock") -> str:
    response = client.post("/assistant/v1/create", json={"name": "Mine"}, headers=bearer(key))
    assert response.status_code == 201, response.text
    assistant_id: str = response.json()["assistant"]["id"]
    return assistant_id


@pytest.fixture
def app(make_client: Callable[..., TestClient]) -> TestClient:
    """A fresh app with extra keys: no scope, knowledge only, alias, non-admin, other workspace."""
    client = make_client()
    state = client.app.state.mock  # type: ignore[attr-defined]
    state.add_key("sk-none", scopes=())
    state.add_key("sk-knowledge", scopes=("KNOWLEDGE_FOLDER_API",))
    state.add_key("sk-alias", scopes=("ASSISTANT_API",))
    state.add_key("sk-member", scopes=("AGENT_API",))
    state.add_key("sk-admin-2", scopes=("AGENT_API",), admin=True)
    state.add_key("sk-admin-3", scopes=("AGENT_API",), admin=True)
    state.add_key("sk-other", workspace="other", scopes=("AGENT_API",), admin=True)
    return client


HEADERS_401 = [
    pytest.param(None, id="missing"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-no-key"),
    pytest.param({"Authorization": "Bearer "}, id="bearer-blank"),
    pytest.param({"Authorization": "sk-ld-mock"}, id="no-scheme"),
    pytest.param({"Authorization": "Basic c2stbGQtbW9jaw=="}, id="basic"),
    pytest.param({"Authorization": "Token sk-ld-mock"}, id="token-scheme"),
    pytest.param({"Authorization": "Bearer sk-ld-mock-nope"}, id="unknown"),
    pytest.param({"Authorization": "Bearer SK-LD-MOCK"}, id="wrong-case-key"),
    pytest.param({"X-API-Key": "sk-ld-mock"}, id="other-header"),
]


@pytest.mark.parametrize("headers", HEADERS_401)
@pytest.mark.parametrize("op", OPERATIONS)
def test_missing_malformed_or_unknown_keys_are_401(
    make_client: Callable[..., TestClient], op: str, headers: dict[str, str] | None
) -> None:
    client = TestClient(make_client().app)  # no default Authorization header
    response = call(client, op, UNKNOWN_ID, headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert client.app.state.mock.store.records == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "header", ["Bearer sk-ld-mock", "bearer sk-ld-mock", "BEARER  sk-ld-mock "], ids=str
)
def test_the_bearer_scheme_is_case_insensitive(client: TestClient, header: str) -> None:
    response = client.get("/assistant/v1/models", headers={"Authorization": header})
    assert response.status_code == 200


@pytest.mark.parametrize("key", ["sk-none", "sk-knowledge"])
@pytest.mark.parametrize("op", [op for op in OPERATIONS if op != "models"])
def test_a_key_without_agent_api_is_403_naming_the_scope(
    app: TestClient, op: str, key: str
) -> None:
    assistant_id = create(app)
    response = call(app, op, assistant_id, bearer(key))
    assert response.status_code == 403
    assert response.json() == NEEDS_AGENT_API


@pytest.mark.parametrize("key", ["sk-none", "sk-knowledge", "sk-member", "sk-other"])
def test_models_need_a_key_but_no_scope(app: TestClient, key: str) -> None:
    assert app.get("/assistant/v1/models", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op != "disable"])
def test_the_old_scope_name_assistant_api_is_accepted(app: TestClient, op: str) -> None:
    assistant_id = create(app, "sk-alias")
    response = call(app, op, assistant_id, bearer("sk-alias"))
    assert response.status_code == SUCCESS[op], response.text


def test_disable_needs_an_admin_key(app: TestClient) -> None:
    assistant_id = create(app, "sk-member")
    body = {"assistantId": assistant_id, "disabled": True}
    response = app.patch("/assistant/v1/disable", json=body, headers=bearer("sk-member"))
    assert response.status_code == 403
    assert response.json() == NEEDS_ADMIN
    app.post("/__admin/share", json={"key": "sk-admin-2", "assistantId": assistant_id})
    response = app.patch("/assistant/v1/disable", json=body, headers=bearer("sk-admin-2"))
    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "Assistant disabled successfully"}


@pytest.mark.parametrize(
    ("key", "exists"),
    [("sk-other", True), ("sk-ld-mock", False), ("sk-admin-2", True)],
    ids=["another-workspaces", "unknown-id", "unshared"],
)
@pytest.mark.parametrize("op", ["get", "update", "disable", "completions"])
def test_what_a_key_cannot_see_is_404(app: TestClient, op: str, key: str, exists: bool) -> None:
    assistant_id = create(app) if exists else UNKNOWN_ID
    response = call(app, op, assistant_id, bearer(key))
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("op", ["get", "update", "disable", "completions"])
def test_unshared_status_403_switches_only_unshared_to_403(
    make_client: Callable[..., TestClient], op: str
) -> None:
    client = make_client(unshared_status=403)
    state = client.app.state.mock  # type: ignore[attr-defined]
    state.add_key("sk-admin-2", admin=True)
    state.add_key("sk-other", workspace="other", admin=True)
    assistant_id = create(client)
    response = call(client, op, assistant_id, bearer("sk-admin-2"))
    assert response.status_code == 403
    assert response.json() == {"message": "API key does not have access to this assistant"}
    # Another workspace's assistant still does not exist for the key.
    assert call(client, op, assistant_id, bearer("sk-other")).status_code == 404
    assert call(client, op, UNKNOWN_ID, bearer("sk-admin-2")).status_code == 404


@pytest.mark.parametrize("op", ["get", "update", "disable", "completions"])
def test_sharing_through_the_admin_api_grants_access(app: TestClient, op: str) -> None:
    assistant_id = create(app)
    assert call(app, op, assistant_id, bearer("sk-admin-2")).status_code == 404
    shared = app.post("/__admin/share", json={"key": "sk-admin-2", "assistantId": assistant_id})
    assert shared.status_code == 200
    assert shared.json() == {"status": "shared", "key": "sk-admin-2", "id": assistant_id}
    assert call(app, op, assistant_id, bearer("sk-admin-2")).status_code == 200
    # Sharing is per key: the owner keeps access, others still do not see it.
    assert call(app, op, assistant_id, bearer("sk-ld-mock")).status_code == 200
    assert call(app, op, assistant_id, bearer("sk-admin-3")).status_code == 404


def test_the_creating_key_sees_its_assistant_and_others_do_not(app: TestClient) -> None:
    mine = create(app, "sk-member")
    assert call(app, "get", mine, bearer("sk-member")).status_code == 200
    assert call(app, "get", mine, bearer("sk-ld-mock")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"key": "sk-nobody", "assistantId": UNKNOWN_ID}, 404),
        ({"key": "sk-other", "assistantId": "CREATED"}, 404),  # other workspace
        ({"key": "sk-member", "assistantId": UNKNOWN_ID}, 404),
        ({"key": "sk-member"}, 400),
        ({"key": "sk-member", "assistantId": "CREATED", "agentId": "CREATED"}, 400),
        ({"key": "sk-member", "assistantId": "CREATED", "extra": 1}, 400),
    ],
    ids=["unknown-key", "other-workspace", "unknown-assistant", "no-id", "both-ids", "extra"],
)
def test_share_refuses_what_it_cannot_do(
    app: TestClient, body: dict[str, Any], status: int
) -> None:
    assistant_id = create(app)
    body = {k: assistant_id if v == "CREATED" else v for k, v in body.items()}
    response = app.post("/__admin/share", json=body)
    assert response.status_code == status, response.text
    assert "message" in response.json()
    assert call(app, "get", assistant_id, bearer("sk-member")).status_code == 404


def test_a_disabled_assistant_answers_completions_with_403(app: TestClient) -> None:
    assistant_id = create(app)
    disable = {"assistantId": assistant_id, "disabled": True}
    assert app.patch("/assistant/v1/disable", json=disable).status_code == 200
    response = call(app, "completions", assistant_id, bearer("sk-ld-mock"))
    assert response.status_code == 403
    assert response.json() == {"message": "Assistant is disabled"}
    assert call(app, "get", assistant_id, bearer("sk-ld-mock")).status_code == 200
    enable = {"assistantId": assistant_id, "disabled": False}
    response = app.patch("/assistant/v1/disable", json=enable)
    assert response.json() == {"status": "success", "message": "Assistant enabled successfully"}
    assert call(app, "completions", assistant_id, bearer("sk-ld-mock")).status_code == 200


def test_checks_run_in_order_401_403_400_404(app: TestClient) -> None:
    """One request that fails every check, sent with more and more rights."""
    body = {"assistantId": UNKNOWN_ID, "name": ""}  # invalid (name) and unknown (id)
    steps = [(None, 401), ("sk-knowledge", 403), ("sk-member", 400)]
    for key, status in steps:
        headers = bearer(key) if key else {"Authorization": ""}
        response = app.patch("/assistant/v1/update", json=body, headers=headers)
        assert response.status_code == status, key
    body["name"] = "ok"
    response = app.patch("/assistant/v1/update", json=body, headers=bearer("sk-member"))
    assert response.status_code == 404


def test_a_non_admin_disable_is_403_before_the_body_is_judged(app: TestClient) -> None:
    response = app.patch("/assistant/v1/disable", json={}, headers=bearer("sk-member"))
    assert response.status_code == 403
    assert response.json() == NEEDS_ADMIN


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"key": "sk-new", "workspace": "acme", "scopes": ["AGENT_API"], "admin": True},
            {
                "key": "sk-new",
                "workspace": "acme",
                "scopes": ["AGENT_API"],
                "admin": True,
                "kind": "workspace",
            },
        ),
        (
            {"key": "sk-plain"},
            {
                "key": "sk-plain",
                "workspace": "default",
                "scopes": [
                    "AGENT_API",
                    "COMPLETION_API",
                    "KNOWLEDGE_FOLDER_API",
                    "USAGE_EXPORT_API",
                ],
                "admin": False,
                "kind": "workspace",
            },
        ),
        (
            {"key": "sk-mine", "kind": "personal"},
            {
                "key": "sk-mine",
                "workspace": "default",
                "scopes": ["COMPLETION_API"],
                "admin": False,
                "kind": "personal",
            },
        ),
    ],
    ids=["explicit", "defaults", "personal"],
)
def test_admin_keys_registers_a_key(
    client: TestClient, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = client.post("/__admin/keys", json=body)
    assert response.status_code == 201
    assert response.json() == expected
    models = client.get("/assistant/v1/models", headers=bearer(body["key"]))
    assert models.status_code == 200


def test_admin_keys_makes_one_up(client: TestClient) -> None:
    first = client.post("/__admin/keys", json={"workspace": "w"}).json()["key"]
    second = client.post("/__admin/keys", json={"workspace": "w"}).json()["key"]
    assert first != second
    assert (
        client.post("/assistant/v1/create", json={"name": "x"}, headers=bearer(first)).status_code
        == 201
    )


@pytest.mark.parametrize(
    "body",
    [{"key": ""}, {"scopes": "AGENT_API"}, {"admin": "yes"}, {"workspace": ""}, {"role": "x"}],
    ids=["empty-key", "scopes-string", "admin-string", "empty-workspace", "unknown-field"],
)
def test_admin_keys_validates_its_body(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/__admin/keys", json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], list)


def test_the_matrix_over_a_real_socket(live: MockServer) -> None:
    live.add_key("sk-live-none", scopes=())
    live.add_key("sk-live-alias", scopes=("ASSISTANT_API",))
    live.add_key("sk-live-peer", scopes=("AGENT_API",))
    live.add_key("sk-live-other", workspace="elsewhere", admin=True)
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assistant_id = create(http)
        assert call(http, "get", assistant_id, None).json() == UNAUTHENTICATED
        assert call(http, "get", assistant_id, bearer("sk-nope")).status_code == 401
        response = call(http, "completions", assistant_id, bearer("sk-live-none"))
        assert (response.status_code, response.json()) == (403, NEEDS_AGENT_API)
        assert call(http, "get", assistant_id, bearer("sk-live-other")).status_code == 404
        assert call(http, "get", assistant_id, bearer("sk-live-peer")).status_code == 404
        share = {"key": "sk-live-peer", "assistantId": assistant_id}
        assert http.post("/__admin/share", json=share).status_code == 200
        assert call(http, "get", assistant_id, bearer("sk-live-peer")).status_code == 200
        response = call(http, "disable", assistant_id, bearer("sk-live-peer"))
        assert (response.status_code, response.json()) == (403, NEEDS_ADMIN)
        alias_id = create(http, "sk-live-alias")
        assert call(http, "completions", alias_id, bearer("sk-live-alias")).status_code == 200
        disable = {"assistantId": assistant_id, "disabled": True}
        assert (
            http.patch(
                "/assistant/v1/disable", json=disable, headers=bearer("sk-ld-mock")
            ).status_code
            == 200
        )
        response = call(http, "completions", assistant_id, bearer("sk-live-peer"))
        assert (response.status_code, response.json()) == (
            403,
            {"message": "Assistant is disabled"},
        )


# The admin API: no API key needed, loopback only by default, or a token.
REMOTE = ("203.0.113.7", 40000)


@pytest.mark.parametrize(
    ("settings", "client_address", "headers", "status"),
    [
        ({}, ("127.0.0.1", 40000), {}, 200),
        ({}, ("::1", 40000), {}, 200),
        ({}, REMOTE, {}, 403),
        ({"admin_open": True}, REMOTE, {}, 200),
        ({"admin_token": "t0k"}, ("127.0.0.1", 40000), {}, 401),
        ({"admin_token": "t0k"}, REMOTE, {"Authorization": "Bearer t0k"}, 200),
        ({"admin_token": "t0k"}, REMOTE, {"X-Admin-Token": "t0k"}, 200),
        ({"admin_token": "t0k"}, REMOTE, {"Authorization": "Bearer nope"}, 401),
        ({"admin_token": "t0k"}, REMOTE, {"Authorization": "Bearer sk-ld-mock"}, 401),
    ],
    ids=[
        "loopback-v4",
        "loopback-v6",
        "remote-refused",
        "remote-open",
        "token-missing",
        "token-bearer",
        "token-header",
        "token-wrong",
        "api-key-is-not-the-token",
    ],
)
def test_the_admin_api_guard(
    make_client: Callable[..., TestClient],
    settings: dict[str, Any],
    client_address: tuple[str, int],
    headers: dict[str, str],
    status: int,
) -> None:
    app = make_client(**settings).app
    with TestClient(app, client=client_address) as admin:
        response = admin.get("/__admin/health", headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        if status != 200:
            assert response.json()["message"].startswith("Admin API ")
            assert admin.post("/__admin/reset", headers=headers).status_code == status
