"""Rate limits over real sockets: 429s, buckets, headers, the admin clock and concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockserver import MockServer
from mockserver.config import LimitSpec

from .aisdk import user

COMPLETIONS = "/assistant/v1/chat/completions"
AGENT_COMPLETIONS = "/agent/v1/chat/completions"
RATE_HEADERS = (
    "retry-after",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
)


def inline(
    content: str = "Hi", *, model: str | None = None, instructions: str = ""
) -> dict[str, Any]:
    assistant: dict[str, Any] = {"name": "Limits", "instructions": instructions}
    if model is not None:
        assistant["model"] = model
    return {"assistant": assistant, "messages": [{"role": "user", "content": content}]}


def statuses(http: httpx.Client, count: int, body: dict[str, Any] | None = None) -> list[int]:
    return [http.post(COMPLETIONS, json=body or inline()).status_code for _ in range(count)]


def put_limits(http: httpx.Client, **body: Any) -> Any:
    response = http.put("/__admin/limits", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def usage(http: httpx.Client, workspace: str = "default", model: str | None = "gpt-4o") -> Any:
    rows = http.get("/__admin/limits").json()["limits"]
    return next(
        (
            {"requests": r["requests"], "tokens": r["tokens"]}
            for r in rows
            if (r["workspace"], r["model"]) == (workspace, model)
        ),
        None,
    )


def advance(http: httpx.Client, seconds: float) -> None:
    assert http.post("/__admin/clock", json={"advance": seconds}).status_code == 200


def client_of(server: MockServer) -> httpx.Client:
    """A client with the embedded key; plain HTTP on loopback, so no CA bundle to load (~0.2 s)."""
    auth = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.Client(base_url=server.url, headers=auth, timeout=30, verify=False)


@pytest.fixture
def headed() -> Iterator[httpx.Client]:
    """A client of a server started with --rate-limit-headers, 2 requests per minute."""
    with (
        MockServer(rate_limit_headers=True, default_rpm=2, default_tpm=1000) as server,
        client_of(server) as client,
    ):
        yield client
        server.check_failures()


def test_over_the_rpm_limit_answers_429_with_the_vendor_envelope_and_no_headers(http):
    put_limits(http, workspace="default", rpm=3)
    assert statuses(http, 3) == [200, 200, 200]
    refused = http.post(COMPLETIONS, json=inline())
    assert refused.status_code == 429
    assert refused.json() == {
        "message": "Rate limit exceeded: 3 requests per minute for model gpt-4o in this workspace"
    }
    ok = http.post(COMPLETIONS, json=inline(model="gpt-4o-mini"))
    for response in (refused, ok):
        assert not any(name in response.headers for name in RATE_HEADERS)
    assert usage(http)["requests"] == 3


def test_over_the_tpm_limit_answers_429_and_counts_prompt_plus_completion(http, live):
    live.reply_with("ok")  # 2 characters: 1 completion token
    body = inline("x" * 40, instructions="abcd")  # 44 characters: 11 prompt tokens
    put_limits(http, workspace="default", model="gpt-4o", tpm=25)
    assert statuses(http, 2, body) == [200, 200]
    assert usage(http) == {"requests": 2, "tokens": 24}
    refused = http.post(COMPLETIONS, json=body)
    assert refused.status_code == 429
    assert "25 tokens per minute for model gpt-4o" in refused.json()["message"]
    # One token is left: a 4-character prompt still fits, whatever the reply then costs.
    assert http.post(COMPLETIONS, json=inline("abcd")).status_code == 200
    assert usage(http) == {"requests": 3, "tokens": 26}


def test_the_model_is_the_assistants_then_the_inline_ones_then_the_workspace_default(http):
    created = http.post("/assistant/v1/create", json={"name": "Five", "model": "gpt-5"})
    assistant_id = created.json()["assistant"]["id"]
    stored = {"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hi"}]}
    put_limits(http, workspace="default", model="gpt-5", rpm=1)
    assert statuses(http, 2, stored) == [200, 429]
    assert statuses(http, 1, inline(model="gpt-5")) == [429]  # the same bucket
    assert statuses(http, 2, inline()) == [200, 200]  # workspace default: gpt-4o
    assert statuses(http, 1, inline(model="gpt-4o-mini")) == [200]
    assert usage(http, model="gpt-5")["requests"] == 1
    assert usage(http, model="gpt-4o")["requests"] == 2


def test_agents_and_assistants_of_one_model_share_a_bucket_and_streams_count(headed):
    live_agent = {"name": "Agent", "instruction": "Be brief.", "model": "gpt-5"}
    agent_id = headed.post("/agent/v1/create", json=live_agent).json()["agent"]["id"]
    put_limits(headed, workspace="default", model="gpt-5", rpm=3, tpm=1000)
    stored = headed.post(AGENT_COMPLETIONS, json={"agentId": agent_id, "messages": [user("Hi")]})
    assert stored.status_code == 200
    assert stored.headers["x-ratelimit-remaining-requests"] == "2"
    assert statuses(headed, 1, inline(model="gpt-5")) == [200]
    streamed = {"agent": {"name": "A", "instructions": "", "model": "gpt-5"}, "stream": True}
    with headed.stream("POST", AGENT_COMPLETIONS, json={**streamed, "messages": [user("Hi")]}) as r:
        assert r.status_code == 200
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
        r.read()
    refused = headed.post(AGENT_COMPLETIONS, json={"agentId": agent_id, "messages": [user("Hi")]})
    assert refused.status_code == 429
    assert refused.json()["message"].endswith(
        "requests per minute for model gpt-5 in this workspace"
    )
    assert usage(headed, model="gpt-5")["requests"] == 3
    assert statuses(headed, 1) == [200]  # gpt-4o, the workspace default, is untouched


def test_keys_of_one_workspace_share_a_bucket_and_workspaces_never_do(
    http: httpx.Client, live: MockServer
) -> None:
    keys = {
        name: http.post("/__admin/keys", json={"workspace": workspace}).json()["key"]
        for name, workspace in (("a1", "a"), ("a2", "a"), ("b1", "b"))
    }
    for workspace in ("a", "b"):
        put_limits(http, workspace=workspace, rpm=2)

    def status(name: str) -> int:
        auth = {"Authorization": f"Bearer {keys[name]}"}
        return http.post(COMPLETIONS, json=inline(), headers=auth).status_code

    assert [status("a1"), status("a2"), status("a1"), status("a2")] == [200, 200, 429, 429]
    assert [status("b1"), status("b1"), status("b1")] == [200, 200, 429]
    model = live.state.default_model("a")
    assert usage(http, "a", model)["requests"] == 2
    assert usage(http, "b", model)["requests"] == 2
    assert statuses(http, 1) == [200]  # the default workspace has its own bucket


def test_fill_the_window_advance_the_clock_and_succeed_again_without_sleeping(http):
    put_limits(http, workspace="default", model="gpt-4o", rpm=2)
    assert statuses(http, 3) == [200, 200, 429]
    advance(http, 59.5)
    assert statuses(http, 1) == [429]
    advance(http, 0.5)
    assert statuses(http, 3) == [200, 200, 429]


def test_reset_clears_usage(http):
    put_limits(http, workspace="default", rpm=500)
    assert statuses(http, 2) == [200, 200]
    assert usage(http)["requests"] == 2
    assert http.post("/__admin/reset").status_code == 200
    assert usage(http) is None
    assert http.get("/__admin/limits").json() == {
        "default": {"rpm": 500, "tpm": 60_000},
        "limits": [],
    }


def test_headers_setting_reports_limits_on_200_and_retry_after_on_429(headed):
    first = headed.post(COMPLETIONS, json=inline("abcd"))
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 1000
    assert "retry-after" not in first.headers
    advance(headed, 20)
    assert headed.post(COMPLETIONS, json=inline()).headers["x-ratelimit-remaining-requests"] == "0"
    refused = headed.post(COMPLETIONS, json=inline())
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "40"  # the first request leaves at t=60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    advance(headed, 39.25)
    assert headed.post(COMPLETIONS, json=inline()).headers["retry-after"] == "1"
    advance(headed, 0.75)
    assert headed.post(COMPLETIONS, json=inline()).status_code == 200


def test_start_up_limits_apply_and_reset_restores_them_with_no_usage(headed):
    assert statuses(headed, 3) == [200, 200, 429]
    assert headed.post("/__admin/reset").status_code == 200
    assert statuses(headed, 3) == [200, 200, 429]


def test_limits_from_settings_and_switching_the_limiter_off():
    specs = (LimitSpec("default", "gpt-4o", rpm=1),)
    with MockServer(limits=specs) as server, client_of(server) as client:
        assert statuses(client, 2) == [200, 429]
        assert statuses(client, 1, inline(model="gpt-5")) == [200]
    with (
        MockServer(rate_limits=False, rate_limit_headers=True, default_rpm=1) as server,
        client_of(server) as client,
    ):
        responses = [client.post(COMPLETIONS, json=inline()) for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert not any(name in r.headers for r in responses for name in RATE_HEADERS)
        assert client.get("/__admin/limits").json()["limits"] == []


def test_requests_rejected_for_other_reasons_consume_nothing(http):
    put_limits(http, workspace="default", rpm=1)
    assert http.post(COMPLETIONS, json={"messages": []}).status_code == 400
    assert http.post(COMPLETIONS, json=inline(model="no-such-model")).status_code == 404
    unknown = {"assistantId": "missing", "messages": [{"role": "user", "content": "x"}]}
    assert http.post(COMPLETIONS, json=unknown).status_code == 404
    assert (
        http.post(COMPLETIONS, json=inline(), headers={"Authorization": "Bearer no"}).status_code
        == 401
    )
    assert usage(http) is None
    assert statuses(http, 2) == [200, 429]


def test_a_refused_request_does_not_use_up_a_scripted_reply(http, live):
    put_limits(http, workspace="default", rpm=1)
    live.reply_with(["first", "second"])
    assert (
        http.post(COMPLETIONS, json=inline()).json()["result"][0]["content"][0]["text"] == "first"
    )
    assert statuses(http, 1) == [429]
    advance(http, 60)
    assert (
        http.post(COMPLETIONS, json=inline()).json()["result"][0]["content"][0]["text"] == "second"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"workspace": "default"}, "no rpm or tpm"),
        ({"workspace": "default", "rpm": -1}, "negative"),
        ({"workspace": "default", "rpm": 1.5}, "not an integer"),
        ({"workspace": "default", "rpm": 1, "burst": 2}, "unknown field"),
        ({"rpm": 1}, "no workspace"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_limits_are_400_and_change_nothing(http, body, problem):
    before = http.get("/__admin/limits").json()
    response = http.put("/__admin/limits", json=body)
    assert response.status_code == 400, problem
    assert isinstance(response.json()["message"], list | str)
    assert http.get("/__admin/limits").json() == before


def test_put_limits_for_every_model_replaces_per_model_ones_and_keeps_the_other_number(http):
    put_limits(http, workspace="w", model="gpt-4o", rpm=1, tpm=10)
    put_limits(http, workspace="w", model="gpt-5", tpm=20)
    rows = put_limits(http, workspace="w", rpm=7)["limits"]
    assert rows == [
        {"workspace": "w", "model": None, "rpm": 7, "tpm": 60_000, "requests": 0, "tokens": 0}
    ]


@pytest.mark.parametrize("body", [{"advance": -1}, {"advance": 1e300, "freeze": False}, {"x": 1}])
def test_bad_clock_moves_are_400_and_leave_the_clock_alone(http, body):
    before = http.get("/__admin/clock").json()
    assert http.post("/__admin/clock", json=body).status_code == 400
    assert http.get("/__admin/clock").json() == before == {"now": before["now"], "frozen": True}


@pytest.mark.parametrize("unit", ["requests", "tokens"])
def test_exact_under_concurrency_whatever_the_interleaving(http, live, unit):
    n, threads, per_thread = 10, 10, 3  # 30 requests = 3n
    live.reply_with("ok")  # 1 completion token; a 4-character prompt is 1 more: 2 per request
    if unit == "requests":
        put_limits(http, workspace="default", model="gpt-4o", rpm=n)
    else:
        put_limits(http, workspace="default", model="gpt-4o", rpm=10 * n, tpm=2 * n)
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def fire() -> None:
        with client_of(live) as client:
            start.wait()
            for _ in range(per_thread):
                code = client.post(COMPLETIONS, json=inline("abcd")).status_code
                with lock:
                    seen[code] += 1

    workers = [threading.Thread(target=fire) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert seen == {200: n, 429: 2 * n}
    journal = http.get("/__admin/requests", params={"path": COMPLETIONS}).json()["requests"]
    assert Counter(entry["status"] for entry in journal) == {200: n, 429: 2 * n}
    assert usage(http) == {"requests": n, "tokens": 2 * n}
