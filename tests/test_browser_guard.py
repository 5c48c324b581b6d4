"""Browser-origin requests and CORS preflights are refused, unless --allow-browser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.config import load_settings
from mockserver.schemas import load_bundle

ORIGIN = {"Origin": "http://localhost:3000"}
PREFLIGHT = {**ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
RULE = load_bundle().manifest["browser"]
REFUSAL = (RULE["status"], {"message": RULE["message"]})
CASES = [
    ("GET", "/assistant/v1/models", None),
    ("POST", "/assistant/v1/chat/completions",
     {"assistant": {"name": "a", "instructions": "x"},
      "messages": [{"role": "user", "content": "x"}]}),
    ("POST", "/knowledge/search", {"query": "x"}),
    ("GET", "/knowledge/some-folder/list", None),
    ("POST", "/export/users", {}),
    ("GET", "/api/public/agent/v1/models", None),
]  # fmt: skip


def test_the_refusal_is_recorded_in_the_manifest() -> None:
    assert RULE["status"] == 403
    assert "blocks browser-origin requests" in RULE["message"]
    assert "$comment" in RULE


@pytest.mark.parametrize(("method", "path", "body"), CASES)
def test_a_request_with_an_origin_is_refused(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body, headers=ORIGIN)
    assert (response.status_code, response.json()) == REFUSAL
    assert "access-control-allow-origin" not in response.headers
    assert client.request(method, path, json=body).status_code != RULE["status"]


@pytest.mark.parametrize(("method", "path", "body"), CASES)
def test_a_cors_preflight_is_refused(client: TestClient, method: str, path: str, body: Any) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert (response.status_code, response.json()) == REFUSAL
    assert not any(name.startswith("access-control-") for name in response.headers)


def test_refusals_are_journaled_and_change_nothing(client: TestClient) -> None:
    client.post("/__admin/knowledge-folders", json={"workspace": "default", "id": "f"})
    files = {"file": ("a.txt", b"browser words")}
    assert client.post("/knowledge/f", files=files, headers=ORIGIN).status_code == 403
    assert client.get("/knowledge/f/list").json()["result"] == []
    [entry] = client.get("/__admin/requests", params={"path": "/knowledge/f"}).json()["requests"]
    assert (entry["method"], entry["status"]) == ("POST", 403)


def test_the_admin_api_is_not_a_browser_target(client: TestClient) -> None:
    assert client.get("/__admin/health", headers=ORIGIN).status_code == 200


def test_allow_browser_serves_cors_over_a_real_socket() -> None:
    with MockServer(allow_browser=True) as server, httpx.Client(base_url=server.url) as http:
        preflight = http.options("/knowledge/search", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN["Origin"]
        assert "POST" in preflight.headers["access-control-allow-methods"]
        response = http.post(
            "/knowledge/search",
            json={"query": "x"},
            headers={**ORIGIN, "Authorization": "Bearer sk-ld-mock"},
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN["Origin"]
        server.check_failures()


def test_refused_over_a_real_socket_by_default(live: MockServer, http: httpx.Client) -> None:
    response = http.post("/knowledge/search", json={"query": "x"}, headers=ORIGIN)
    assert (response.status_code, response.json()) == REFUSAL


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"LANGDOCK_MOCK_ALLOW_BROWSER": "true"}, True)],
    ids=["default", "env"],
)
def test_the_setting_comes_from_the_environment(env: dict[str, str], expected: bool) -> None:
    assert load_settings(env=env).allow_browser is expected
