"""Robustness of the admin API (who may use it) and of the journal (it never keeps a key)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from mockserver import MockServer, create_app
from mockserver.config import Settings
from tests.robustness import AUTH, COMPLETIONS, KEY, TIMEOUT, Asgi, inline

# ---------------------------------------------------------------------------------------------
# Who may use the admin API, and what the journal keeps of keys.

ADMIN_CALLS = [
    ("GET", "/__admin/health"),
    ("POST", "/__admin/reset"),
    ("GET", "/__admin/requests"),
    ("DELETE", "/__admin/requests"),
    ("GET", "/__admin/limits"),
    ("GET", "/__admin/clock"),
    ("POST", "/__admin/keys"),
    ("GET", "/__admin/replies"),
    ("GET", "/__admin/coverage"),
]


def _admin_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        # The inspector's routes (a page, a live feed, CSRF-guarded POSTs) have the same
        # matrix in test_inspector.py.
        if path.startswith("/__admin") and not path.startswith("/__admin/ui"):
            for method in sorted(set(route.methods) - {"HEAD"}):
                found.append((method, path.replace("{fault_id}", "nope")))
    return found


@pytest.mark.parametrize(
    ("overrides", "client", "token", "expected"),
    [
        ({}, "127.0.0.1", None, "open"),
        ({}, "::1", None, "open"),
        ({}, "203.0.113.7", None, 403),
        ({"admin_open": True}, "203.0.113.7", None, "open"),
        ({"admin_token": "s3cret-admin"}, "127.0.0.1", None, 401),
        ({"admin_token": "s3cret-admin"}, "203.0.113.7", "wrong", 401),
        ({"admin_token": "s3cret-admin"}, "203.0.113.7", "s3cret-admin", "open"),
    ],
    ids=["loopback", "loopback-v6", "remote", "open", "token-missing", "token-wrong", "token"],
)
def test_admin_api_exposure(
    overrides: dict[str, Any], client: str, token: str | None, expected: int | str
) -> None:
    app = create_app(Settings(freeze_clock=True, **overrides))
    driver = Asgi(app)
    try:
        routes = _admin_routes(app)
        assert len(routes) >= len(ADMIN_CALLS)
        headers = {"authorization": f"Bearer {token}"} if token else {"authorization": ""}
        for method, path in routes:
            status, content = driver(method, path, b"", headers=headers, client=client)
            if expected == "open":
                assert status not in (401, 403), (method, path, content)
            else:
                assert status == expected, (method, path, content)
                assert "message" in orjson.loads(content)
    finally:
        driver.close()


def test_admin_token_on_a_live_server(server_factory: Callable[..., MockServer]) -> None:
    server = server_factory(admin_token="live-admin-token")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        for method, path in ADMIN_CALLS:
            assert http.request(method, path).status_code == 401
            bearer = {"Authorization": "Bearer live-admin-token"}
            assert http.request(method, path, headers=bearer).status_code not in (401, 403)
        assert http.post(COMPLETIONS, json=inline(), headers=AUTH).status_code == 200


def test_journal_never_stores_a_key_in_clear(http: httpx.Client, live: MockServer) -> None:
    other = live.add_key("sk-ld-second-key-0123456789")
    unknown = "sk-ld-unknown-9876543210abcdef"
    for key in (KEY, other, unknown):
        bearer = {"Authorization": f"Bearer {key}"}
        http.post(COMPLETIONS, json=inline(), headers=bearer)
        http.post(COMPLETIONS, json={"messages": "bad"}, headers=bearer)
        http.get("/assistant/v1/get", params={"assistantId": "x"}, headers=bearer)
        http.post("/nowhere", headers=bearer)
        http.post(COMPLETIONS, content=b"{", headers={**bearer, "Authorization": f"bearer  {key}"})
    raw = http.get("/__admin/requests").text
    assert json.loads(raw)["requests"]
    for key in (KEY, other, unknown):
        assert key not in raw
        filtered = http.get("/__admin/requests", params={"key": key}).json()["requests"]
        assert filtered  # still findable by key, through its fingerprint
        assert key not in json.dumps(filtered)
