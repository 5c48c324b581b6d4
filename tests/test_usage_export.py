"""Usage export: CSVs of the completions really served, on the mock clock, admin keys only."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.ratelimit import estimate_tokens
from mockserver.state import MockState
from tests.redis_server import RedisProcess

JAN = {"from": {"date": "2025-01-01T00:00:00.000Z", "timezone": "UTC"},
       "to": {"date": "2025-01-31T23:59:59.999Z", "timezone": "UTC"}}  # fmt: skip
DAY = 86_400
AUTH = {"Authorization": "Bearer sk-ld-mock"}
COMPLETIONS = "/assistant/v1/chat/completions"


def _state(client: TestClient) -> MockState:
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    return state


def _complete(
    client: TestClient | httpx.Client, text: str, key: str | None = None, **target: Any
) -> str:
    body = {**target, "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {key}"} if key else None
    response = client.post("/assistant/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    reply: str = response.json()["result"][-1]["content"][0]["text"]
    return reply


def _export(client: TestClient | httpx.Client, kind: str, **body: Any) -> list[dict[str, str]]:
    response = client.post(f"/export/{kind}", json={**JAN, **body})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    download = client.get(data["downloadUrl"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert data["recordCount"] == len(rows)
    return rows


def _assistant(client: TestClient) -> str:
    response = client.post("/assistant/v1/create", json={"name": "Bot", "instruction": "Be brief."})
    assert response.status_code == 201, response.text
    assistant_id: str = response.json()["assistant"]["id"]
    return assistant_id


def test_every_export_counts_what_was_served(client: TestClient) -> None:
    state = _state(client)
    other = state.add_key("sk-other").key
    assistant_id = _assistant(client)
    replies = [_complete(client, "hello", assistantId=assistant_id) for _ in range(2)]
    inline = {"name": "Inline", "instructions": "x", "model": "gpt-4o-mini"}
    reply_b = _complete(client, "hi there", key=other, assistant=inline)

    models = {r["model"]: r for r in _export(client, "models")}
    assert set(models) == {"gpt-4o", "gpt-4o-mini"}
    assert models["gpt-4o"]["requests"] == "2"
    assert models["gpt-4o"]["active_users"] == "1"
    prompt = estimate_tokens(len("hello") + len("Be brief."))
    assert int(models["gpt-4o"]["input_tokens"]) == 2 * prompt
    assert int(models["gpt-4o"]["output_tokens"]) == sum(estimate_tokens(len(r)) for r in replies)
    assert int(models["gpt-4o-mini"]["input_tokens"]) == estimate_tokens(len("hi there") + 1)
    assert int(models["gpt-4o-mini"]["output_tokens"]) == estimate_tokens(len(reply_b))
    assert {(r["period_start"], r["period_end"], r["org_id"]) for r in models.values()} == {
        ("2025-01-01", "2025-01-31", "default")
    }

    keys = _export(client, "api-keys")
    assert sorted(r["requests"] for r in keys) == ["1", "2"]
    assert all("sk-ld-mock" not in r["api_key_name"] for r in keys)  # masked, never the key
    users = _export(client, "users")
    assert sorted((r["messages_total"], r["assistants_messaged"]) for r in users) == [
        ("1", "0"),
        ("2", "1"),
    ]
    # Only stored assistants are assistants; agents is an alias of the same export.
    assert [(r["assistant_id"], r["messages"]) for r in _export(client, "assistants")] == [
        (assistant_id, "2")
    ]
    aliased = client.post("/export/agents", json=JAN).json()["data"]
    assert aliased["dataType"] == "assistants"
    assert aliased["filePath"].startswith("assistants-usage/default/assistants-usage-2025-01-01")


def test_group_by_model_splits_rows(client: TestClient) -> None:
    _complete(client, "a", assistant={"name": "A", "instructions": "x", "model": "gpt-4o"})
    _complete(client, "b", assistant={"name": "A", "instructions": "x", "model": "gpt-5"})
    rows = _export(client, "users", group_by="model")
    assert [r["model"] for r in rows] == ["gpt-4o", "gpt-5"]
    assert list(rows[0])[:6] == ["period_start", "period_end", "org_id", "user_id", "name", "model"]


def test_the_range_is_read_on_the_mock_clock(client: TestClient) -> None:
    state = _state(client)
    _complete(client, "day one", assistant={"name": "A", "instructions": "x"})
    state.clock.advance(2 * DAY)
    _complete(client, "day three", assistant={"name": "A", "instructions": "x"})
    _complete(client, "day three", assistant={"name": "A", "instructions": "x"})
    third = {"from": {"date": "2025-01-03T00:00:00Z", "timezone": "UTC"},
             "to": {"date": "2025-01-03T23:59:59Z", "timezone": "UTC"}}  # fmt: skip
    [row] = _export(client, "models", **third)
    assert row["requests"] == "2"
    # The dates' offsets place the range; the time zone gives the period's calendar dates.
    berlin = {"from": {"date": "2024-12-31T23:30:00Z", "timezone": "Europe/Berlin"},
              "to": {"date": "2025-01-01T00:00:30+00:00", "timezone": "Europe/Berlin"}}  # fmt: skip
    [row] = _export(client, "models", **berlin)
    assert (row["requests"], row["period_start"], row["period_end"]) == (
        "1",
        "2025-01-01",
        "2025-01-01",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"to": {"date": "2026-02-01T00:00:00Z", "timezone": "UTC"}},
         "Date range cannot exceed 12 months"),
        ({"from": {"date": "2025-02-01T00:00:00Z", "timezone": "UTC"}},
         "The from date must be before the to date"),
        ({"from": {"date": "2025-01-01T00:00:00Z", "timezone": "Mars/Olympus"}},
         "Invalid timezone: Mars/Olympus"),
    ],
    ids=["over-12-months", "backwards", "timezone"],
)  # fmt: skip
def test_bad_ranges_are_400(client: TestClient, body: dict[str, Any], message: str) -> None:
    _complete(client, "x", assistant={"name": "A", "instructions": "x"})
    response = client.post("/export/users", json={**JAN, **body})
    assert (response.status_code, response.json()) == (400, {"message": message})


def test_exactly_12_months_is_allowed(client: TestClient) -> None:
    _complete(client, "x", assistant={"name": "A", "instructions": "x"})
    year = {"from": {"date": "2024-06-01T00:00:00Z", "timezone": "UTC"},
            "to": {"date": "2025-06-01T00:00:00Z", "timezone": "UTC"}}  # fmt: skip
    assert client.post("/export/models", json=year).status_code == 200


@pytest.mark.parametrize("kind", ["projects", "models"])
def test_group_by_is_refused_where_the_docs_say(client: TestClient, kind: str) -> None:
    response = client.post(f"/export/{kind}", json={**JAN, "group_by": "model"})
    assert response.status_code == 400
    assert response.json() == {"message": f"group_by is not supported for {kind} exports"}


def test_an_empty_range_is_404_no_data_found(client: TestClient) -> None:
    for kind in ("users", "models", "projects"):
        response = client.post(f"/export/{kind}", json=JAN)
        assert (response.status_code, response.json()) == (404, {"message": "No data found"})
    _complete(client, "x", assistant={"name": "A", "instructions": "x"})
    assert client.post("/export/projects", json=JAN).status_code == 404  # the mock has none
    refused = client.post(
        "/assistant/v1/chat/completions",
        json={"assistantId": "00000000-0000-4000-8000-000000000000",
              "messages": [{"role": "user", "content": "x"}]},
    )  # fmt: skip
    assert refused.status_code == 404
    [row] = _export(client, "models")
    assert row["requests"] == "1"  # the refused completion was not served, so not counted


def test_admin_keys_with_the_scope_only(client: TestClient) -> None:
    state = _state(client)
    state.add_key("sk-member", scopes=["USAGE_EXPORT_API"])
    state.add_key("sk-admin-no-scope", scopes=["AGENT_API"], admin=True)
    member = client.post("/export/users", json=JAN, headers={"Authorization": "Bearer sk-member"})
    assert member.status_code == 403
    assert "admin" in member.json()["message"]
    unscoped = client.post(
        "/export/users", json=JAN, headers={"Authorization": "Bearer sk-admin-no-scope"}
    )
    assert unscoped.json() == {
        "message": "Insufficient permissions - requires USAGE_EXPORT_API scope"
    }


def test_exports_see_only_their_workspace(client: TestClient) -> None:
    state = _state(client)
    state.add_key("sk-b-admin", workspace="team-b", scopes=["USAGE_EXPORT_API"], admin=True)
    _complete(client, "x", assistant={"name": "A", "instructions": "x"})
    other = client.post("/export/models", json=JAN, headers={"Authorization": "Bearer sk-b-admin"})
    assert other.status_code == 404


def test_reset_forgets_usage_and_exports(client: TestClient) -> None:
    _complete(client, "x", assistant={"name": "A", "instructions": "x"})
    url = client.post("/export/models", json=JAN).json()["data"]["downloadUrl"]
    client.post("/__admin/reset")
    assert client.get(url).status_code == 404
    assert client.post("/export/models", json=JAN).status_code == 404


def test_export_over_a_real_socket(live: MockServer, http: httpx.Client) -> None:
    _complete(http, "socket", assistant={"name": "A", "instructions": "x"})
    response = http.post("/export/models", json={
        "from": {"date": "2024-12-01T00:00:00Z", "timezone": "UTC"},
        "to": {"date": "2030-01-01T00:00:00Z", "timezone": "UTC"},
    })  # fmt: skip
    assert response.status_code == 400  # five years
    body = {"from": {"date": "2024-06-01T00:00:00Z", "timezone": "UTC"},
            "to": {"date": "2025-06-01T00:00:00Z", "timezone": "UTC"}}  # fmt: skip
    data = http.post("/export/models", json=body).json()["data"]
    assert data["downloadUrl"].startswith(live.url + "/__admin/exports/models-usage/default/")
    text = http.get(data["downloadUrl"]).text
    assert text.splitlines()[0] == (
        "period_start,period_end,org_id,model,requests,active_users,input_tokens,output_tokens"
    )
    assert [r.operation for r in live.requests][-2:] == ["export.models", "export.models"]


# The journal is the export's one source: the same range, the same requests and tokens.
YEAR = {"from": {"date": "2024-06-01T00:00:00Z", "timezone": "UTC"},
        "to": {"date": "2025-06-01T00:00:00Z", "timezone": "UTC"}}  # fmt: skip
INLINE = {"name": "A", "instructions": "Be brief."}


def _traffic(urls: list[str]) -> Counter[int]:
    """Served completions of every kind, and refusals (429, 404, 400), spread over ``urls``."""
    with httpx.Client(base_url=urls[0], headers=AUTH, timeout=10) as http:
        made = http.post("/assistant/v1/create", json={"name": "S", "model": "gpt-5"})
        stored = {"assistantId": made.json()["assistant"]["id"], "messages": MESSAGES}
        limits = {"workspace": "default", "model": "gpt-5", "rpm": 3}  # then 429s
        assert http.put("/__admin/limits", json=limits).status_code == 200
    calls = [
        *[("/assistant/v1/chat/completions", stored)] * 5,
        *[("/assistant/v1/chat/completions", {"assistant": INLINE, "messages": MESSAGES})] * 2,
        *[("/agent/v1/chat/completions", {"agent": INLINE, "messages": AGENT_MESSAGES})] * 2,
        *[("/openai/eu/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})] * 2,
        ("/assistant/v1/chat/completions", {"assistantId": UNKNOWN, "messages": MESSAGES}),
        ("/assistant/v1/chat/completions", {"assistant": INLINE, "messages": "none"}),
    ]
    statuses: Counter[int] = Counter()
    for i, (path, body) in enumerate(calls):
        with httpx.Client(base_url=urls[i % len(urls)], headers=AUTH, timeout=10) as http:
            statuses[http.post(path, json=body).status_code] += 1
    assert statuses == {200: 9, 429: 2, 404: 1, 400: 1}, statuses
    return statuses


MESSAGES = [{"role": "user", "content": "How many tokens is this?"}]
AGENT_MESSAGES = [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Hi agent"}]}]
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _journal_usage(url: str) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Served requests and tokens in YEAR as GET /__admin/requests shows them."""
    low = datetime.fromisoformat(YEAR["from"]["date"]).timestamp()
    high = datetime.fromisoformat(YEAR["to"]["date"]).timestamp()
    entries = httpx.get(url + "/__admin/requests").json()["requests"]
    served = [e for e in entries if e["usage"] is not None and low <= e["time"] <= high]
    return (
        len(served),
        sum(e["usage"]["inputTokens"] for e in served),
        sum(e["usage"]["outputTokens"] for e in served),
        entries,
    )


def _export_totals(url: str, kind: str, **extra: Any) -> tuple[int, int, int, list[dict[str, str]]]:
    """An export's JSON answer checked against its CSV, and the CSV's totals."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        response = http.post(f"/export/{kind}", json={**YEAR, **extra})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        rows = list(csv.DictReader(io.StringIO(http.get(data["downloadUrl"]).text)))
    # The JSON and the CSV agree: one record per row, the same range, the same workspace.
    assert data["recordCount"] == len(rows) > 0
    assert data["dateRange"] == {"from": "2024-06-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"}
    assert {(r["period_start"], r["period_end"], r["org_id"]) for r in rows} == {
        ("2024-06-01", "2025-06-01", "default")
    }
    count = {"users": "messages_total", "assistants": "messages"}.get(kind, "requests")
    return (
        sum(int(r[count]) for r in rows),
        sum(int(r["input_tokens"]) for r in rows),
        sum(int(r["output_tokens"]) for r in rows),
        rows,
    )


def _check_agreement(urls: list[str]) -> None:
    statuses = _traffic(urls)
    requests, input_tokens, output_tokens, entries = _journal_usage(urls[-1])
    assert requests == statuses[200]  # every 200 served, nothing refused
    # Rejected requests are journaled without usage: the export counts served completions.
    refused = [e for e in entries if e["status"] >= 400]
    assert len(refused) == statuses[429] + statuses[404] + statuses[400]
    assert all(e["usage"] is None for e in refused)
    for kind, extra in [("models", {}), ("api-keys", {}), ("users", {"group_by": "model"})]:
        exported = _export_totals(urls[0], kind, **extra)[:3]
        assert exported == (requests, input_tokens, output_tokens), kind
    models = {r["model"]: r for r in _export_totals(urls[0], "models")[3]}
    assert set(models) == {"gpt-4o", "gpt-5"}
    # group_by splits a user's row by model, totals unchanged.
    users = _export_totals(urls[0], "users", group_by="model")[3]
    assert sorted(r["model"] for r in users) == ["gpt-4o", "gpt-5"]
    [stored] = _export_totals(urls[0], "assistants")[3]
    assert int(stored["messages"]) == int(models["gpt-5"]["requests"]) == 3
    with httpx.Client(base_url=urls[0], headers=AUTH, timeout=10) as http:
        over = {**YEAR, "to": {"date": "2025-06-01T00:00:01Z", "timezone": "UTC"}}
        assert http.post("/export/models", json=over).status_code == 400
        empty = {"from": {"date": "2020-01-01T00:00:00Z", "timezone": "UTC"},
                 "to": {"date": "2020-02-01T00:00:00Z", "timezone": "UTC"}}  # fmt: skip
        answer = http.post("/export/models", json=empty)
        assert (answer.status_code, answer.json()) == (404, {"message": "No data found"})


def test_an_export_counts_what_the_journal_shows(live: MockServer) -> None:
    """Over a real socket: export totals equal the journal's served entries for the range."""
    _check_agreement([live.url])


def test_the_tally_outlives_the_journal_bound_and_clear() -> None:
    """The journal keeps 4 entries; the export still counts every served completion."""
    with MockServer(journal_size=4) as server:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
            for _ in range(6):
                body = {"assistant": INLINE, "messages": MESSAGES}
                assert http.post("/assistant/v1/chat/completions", json=body).status_code == 200
            assert len(server.requests) == 4
            assert http.delete("/__admin/requests").status_code == 200
        assert _export_totals(server.url, "models")[0] == 6


@pytest.mark.redis
def test_replicas_on_redis_export_what_their_shared_journal_shows(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    """Two servers on one Redis: either one's export counts both one's served completions.

    The handle's own calls (``add_key``) sync the same ops as the serving replica: the tally
    must take each once. A third server with a journal of 4 still counts them all.
    """
    shared: dict[str, Any] = {"store": redis_server.url, "store_namespace": redis_namespace}
    with MockServer(**shared) as a, MockServer(**shared) as b:
        a.reset()
        _check_agreement([a.url, b.url])
        body = {"assistant": INLINE, "messages": MESSAGES}
        assert httpx.post(b.url + COMPLETIONS, json=body, headers=AUTH).status_code == 200
        b.add_key(workspace="other")  # the handle syncs b's own usage op before b's server does
        totals = _export_totals(b.url, "models")[:3]
        assert totals == _journal_usage(a.url)[:3] == _export_totals(a.url, "models")[:3]
        with MockServer(**shared, journal_size=4) as c:
            body = {"assistant": INLINE, "messages": MESSAGES}
            with httpx.Client(base_url=c.url, headers=AUTH, timeout=10) as http:
                for _ in range(5):
                    assert http.post(COMPLETIONS, json=body).status_code == 200
            assert _export_totals(a.url, "models")[0] == totals[0] + 5
            assert _export_totals(c.url, "models")[0] == totals[0] + 5
