"""The inspector's server side: guard, cookie, CSP, CSRF, the JSON it reads and its live feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.testclient import TestClient

from mockserver import MockServer, create_app
from mockserver.config import Settings
from mockserver.inspector.routes import COOKIE, CSP, UI_PATH
from mockserver.inspector.views import PAGE_SIZE

KEY = "sk-ld-mock"
OTHER = "sk-ld-other-secret-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
COMPLETIONS = "/assistant/v1/chat/completions"
INLINE = {"assistant": {"name": "Helper", "instructions": "Be brief."}}
GOOD = {**INLINE, "messages": [{"role": "user", "content": "hi"}]}
API = UI_PATH + "/api"
GETS = [
    UI_PATH,
    UI_PATH + "/static/inspector.js",
    API + "/entries",
    API + "/entries/1",
    API + "/limits",
    API + "/state",
    API + "/coverage",
]
POSTS = [API + "/clock", API + "/reset"]


def _client(**overrides: Any) -> TestClient:
    app = create_app(Settings(freeze_clock=True).replace(**overrides))
    return TestClient(app, headers=AUTH, base_url="http://127.0.0.1:8080")


def _csrf(client: TestClient) -> str:
    page: str = client.get(UI_PATH).text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


@pytest.fixture
def client() -> Iterator[TestClient]:
    """An in-process app with a frozen clock, as a loopback client sees it."""
    with _client() as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("overrides", "host", "headers", "expected"),
    [
        ({}, "127.0.0.1", {}, 200),
        ({}, "203.0.113.7", {}, 403),
        ({"admin_open": True}, "203.0.113.7", {}, 200),
        ({"admin_token": "s3cret"}, "127.0.0.1", {}, 401),
        ({"admin_token": "s3cret"}, "203.0.113.7", {"Authorization": "Bearer wrong"}, 401),
        ({"admin_token": "s3cret"}, "203.0.113.7", {"Authorization": "Bearer s3cret"}, 200),
    ],
    ids=["loopback", "remote", "open", "token-missing", "token-wrong", "token"],
)
def test_the_admin_guard_covers_every_inspector_route(
    overrides: dict[str, Any], host: str, headers: dict[str, str], expected: int
) -> None:
    app = create_app(Settings(freeze_clock=True).replace(**overrides))
    with TestClient(app, client=(host, 50000)) as remote:
        remote.post(COMPLETIONS, json=GOOD, headers=AUTH)  # journal entry 1 exists
        for path in GETS:
            response = remote.get(path, headers=headers)
            assert response.status_code == expected, (path, response.text)
            assert response.headers["content-security-policy"] == CSP
        for path in POSTS:  # refused by the guard, or (let in) by the missing CSRF token
            response = remote.post(path, json={}, headers=headers)
            assert response.status_code == (expected if expected != 200 else 403), path
        if expected != 200:  # an open feed streams: test_the_live_feed reads one
            events = remote.get(UI_PATH + "/events", headers=headers)
            assert events.status_code == expected


def test_a_token_in_the_url_becomes_a_cookie_and_is_redirected_away() -> None:
    with _client(admin_token="s3cret") as guarded:
        assert guarded.get(UI_PATH + "?token=wrong", follow_redirects=False).status_code == 401
        response = guarded.get(UI_PATH + "?token=s3cret", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == UI_PATH
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "s3cret" not in cookie
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/__admin"):
            assert attribute in cookie
        # The cookie opens the inspector's routes, not the rest of the admin API.
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        guarded.cookies.set(COOKIE, value)
        assert guarded.get(UI_PATH).status_code == 200
        assert guarded.get(API + "/state").status_code == 200
        assert guarded.get("/__admin/requests").status_code == 401
        guarded.cookies.set(COOKIE, "forged")
        assert guarded.get(API + "/state").status_code == 401


def test_state_changing_calls_need_the_csrf_token_and_this_origin(client: TestClient) -> None:
    client.post(COMPLETIONS, json=GOOD)
    csrf = _csrf(client)
    assert len(csrf) >= 24
    missing = client.post(API + "/reset")
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["message"]
    assert client.post(API + "/reset", headers={"X-Inspector-CSRF": "guess"}).status_code == 403
    foreign = {"X-Inspector-CSRF": csrf, "Origin": "http://evil.example"}
    assert client.post(API + "/reset", headers=foreign).status_code == 403
    assert len(client.get("/__admin/requests").json()["requests"]) == 1  # nothing happened
    own = {"X-Inspector-CSRF": csrf, "Origin": "http://127.0.0.1:8080"}
    advanced = client.post(API + "/clock", json={"advance": 90}, headers=own)
    assert advanced.status_code == 200
    assert advanced.json()["now"] == client.get("/__admin/clock").json()["now"]
    for bad in ({"advance": -1}, {"advance": "soon"}, {"advance": True}, [1]):
        refused = client.post(API + "/clock", json=bad, headers=own)
        assert refused.status_code == 400, bad
    assert client.post(API + "/reset", headers=own).json() == {"status": "reset"}
    assert client.get("/__admin/requests").json()["requests"] == []


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in [*GETS, UI_PATH + "/static/nope.js", API + "/entries/999", API + "/entries/x"]:
        response = client.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in CSP
    assert client.get(UI_PATH + "/static/nope.js").status_code == 404
    assert client.get(API + "/entries/999").status_code == 404
    page = client.get(UI_PATH)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "{{csrf}}" not in page.text
    assert "<script>" not in page.text  # every script is a file of this origin
    for name, media in [
        ("inspector.js", "text/javascript"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("inspector.css", "text/css"),
        ("uPlot.min.css", "text/css"),
    ]:
        asset = client.get(f"{UI_PATH}/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media)
    script = client.get(UI_PATH + "/static/inspector.js").text
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script


def test_no_full_api_key_reaches_the_page(client: TestClient) -> None:
    added = client.post("/__admin/keys", json={"key": OTHER, "workspace": "team"}).json()
    client.post("/__admin/faults", json={"match": {"key": OTHER}, "action": {"status": 503}})
    for key in (KEY, OTHER, "sk-ld-never-registered-0123456789"):
        bearer = {"Authorization": f"Bearer {key}"}
        client.post(COMPLETIONS, json=GOOD, headers=bearer)
        client.post(COMPLETIONS, json={"messages": "bad"}, headers=bearer)
    pages = [client.get(API + path).text for path in ("/entries", "/state", "/limits")]
    pages += [client.get(f"{API}/entries/{seq}").text for seq in range(1, 7)]
    for text in pages:
        for key in (OTHER, "sk-ld-never-registered-0123456789"):
            assert key not in text
        assert f"Bearer {KEY}" not in text
    state = client.get(API + "/state").json()
    team = next(w for w in state["workspaces"] if w["id"] == "team")
    assert team["keys"] == [{"key": "sk-…6789", "scopes": added["scopes"], "admin": False}]
    assert state["faults"][0]["match"] == {"key": "sk-…6789"}


def test_entries_page_newest_first_with_filters(client: TestClient) -> None:
    client.post("/__admin/keys", json={"key": OTHER, "workspace": "team"})
    for number in range(120):
        client.post(COMPLETIONS, json=GOOD if number % 3 else {"messages": f"bad {number}"})
    client.post(COMPLETIONS, json=GOOD, headers={"Authorization": f"Bearer {OTHER}"})
    first = client.get(API + "/entries").json()
    assert first["last"] == 121  # admin calls are not journaled
    assert [row["seq"] for row in first["rows"]] == list(range(121, 121 - PAGE_SIZE, -1))
    assert first["more"] is True
    older = client.get(API + "/entries", params={"before": first["rows"][-1]["seq"]}).json()
    assert [row["seq"] for row in older["rows"]] == list(range(21, 0, -1))
    assert older["more"] is False
    top = first["rows"][0]
    assert (top["workspace"], top["key"], top["model"], top["status"]) == (
        "team",
        "sk-…6789",
        "gpt-4o",
        200,
    )
    assert top["ms"] > 0
    bad = client.get(API + "/entries", params={"status": "4xx", "limit": 500}).json()["rows"]
    assert len(bad) == 40
    assert all(row["issues"] == 2 for row in bad)  # no assistant, and messages not a list
    assert client.get(API + "/entries", params={"q": "BAD 117"}).json()["rows"][0]["seq"] == 118
    team = client.get(API + "/entries", params={"workspace": "team"}).json()["rows"]
    assert [row["seq"] for row in team] == [121]
    none = client.get(API + "/entries", params={"operation": "agent.create"}).json()
    assert none["rows"] == []
    assert client.get(API + "/entries", params={"before": "x"}).status_code == 400


def test_one_exchange_in_full(client: TestClient) -> None:
    body = {**INLINE, "messages": [{"role": "user", "content": "hi"}], "extra": {"deep": 1}}
    answered = client.post(COMPLETIONS + "?trace=1", json=body)
    seq = client.get(API + "/entries").json()["last"]
    detail = client.get(f"{API}/entries/{seq}").json()
    assert detail["request"]["body"] == body
    assert detail["query"] == {"trace": "1"}
    assert detail["dropped"] == [
        {"code": "unrecognized_keys", "path": ["extra"], "message": detail["dropped"][0]["message"]}
    ]
    assert detail["response"]["kind"] == "json"
    assert detail["response"]["body"] == answered.json()  # the bytes the client got
    sent = {name.lower(): value for name, value in answered.headers.items()}
    assert dict(detail["response"]["headers"]) == sent
    assert ["authorization", "Bearer sk-…"] in detail["request"]["headers"]
    assert detail["curl"]["masked"].startswith("curl -X POST 'http://127.0.0.1:8080/assistant")
    assert "-H 'authorization: Bearer sk-…'" in detail["curl"]["masked"]
    assert '"Authorization: Bearer $LANGDOCK_API_KEY"' in detail["curl"]["variable"]
    assert "--data-raw" in detail["curl"]["variable"]
    unrouted = client.get("/nowhere")
    assert unrouted.status_code == 404
    missing = client.get(f"{API}/entries/{seq + 1}").json()
    assert missing["response"]["body"] == unrouted.json()


def test_limits_view_counts_the_window_and_marks_429s() -> None:
    with _client(default_rpm=2) as client:
        for _ in range(3):
            client.post(COMPLETIONS, json=GOOD)
            client.post("/__admin/clock", json={"advance": 10})
        [row] = client.get(API + "/limits").json()["limits"]
        assert (row["workspace"], row["model"], row["rpm"], row["requests"], row["refused"]) == (
            "default",
            "gpt-4o",
            2,
            2,
            1,
        )
        series = row["series"]
        assert series["x"] == [-60.0, -30.0, -20.0, -10.0, 0.0]
        assert series["requests"] == [0, 1, 2, 2, 2]
        assert series["refused"] == [None, None, None, 2, None]
        client.post("/__admin/clock", json={"advance": 60})
        [row] = client.get(API + "/limits").json()["limits"]  # still shown, at zero
        assert (row["requests"], row["tokens"], row["refused"]) == (0, 0, 0)


def test_state_and_coverage_views(client: TestClient) -> None:
    created = client.post("/assistant/v1/create", json={"name": "Alpha", "instructions": "x"})
    client.post("/__admin/replies", json={"text": "Scripted!", "times": 2})
    client.post("/__admin/faults", json={"action": {"status": 500}, "times": 3})
    state = client.get(API + "/state").json()
    [default] = state["workspaces"]
    assert default["records"][0]["name"] == "Alpha"
    assert default["records"][0]["id"] == created.json()["assistant"]["id"]
    assert state["replies"][0]["text"] == "Scripted!"
    assert state["faults"][0]["times"] == 3
    assert state["clock"] == {"now": "2025-01-01T00:00:00.000Z", "frozen": True}
    coverage = client.get(API + "/coverage").json()
    create = next(op for op in coverage["operations"] if op["operation"] == "assistant.create")
    assert create["statuses"]["201"] == 1
    assert "400" in create["missing"]
    assert client.get(API + "/coverage", params={"since": "later"}).status_code == 400


def test_the_live_feed() -> None:
    with (
        MockServer(freeze_clock=True) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http,
    ):
        http.post(COMPLETIONS, json=GOOD)  # before the page: the feed starts after it
        with connect_sse(http, "GET", UI_PATH + "/events", params={"since": 1}) as source:
            http.post(COMPLETIONS, json={"messages": "bad"})
            events = source.iter_sse()
            first = next(events)
            assert first.event == "rows"
            assert first.id == "2"
            [row] = json.loads(first.data)
            assert (row["seq"], row["status"], row["issues"]) == (2, 400, 2)
            assert next(events).event == "state"
            http.post("/__admin/reset")
            assert next(events).event == "reset"
        filtered = {"since": 0, "status": "2xx"}
        with connect_sse(http, "GET", UI_PATH + "/events", params=filtered) as source:
            http.post(COMPLETIONS, json={"messages": "bad"})
            http.post(COMPLETIONS, json=GOOD)
            rows = next(event for event in source.iter_sse() if event.event == "rows")
            assert [row["status"] for row in json.loads(rows.data)] == [200]
