"""Several real server processes on one real Redis behave as one server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockserver import MockServer
from mockserver.errors import MockServerError
from mockserver.ratelimit import estimate_tokens
from tests.redis_server import RedisProcess
from tests.replicas import replicas

pytestmark = pytest.mark.redis

AUTH = {"Authorization": "Bearer sk-ld-mock"}
COMPLETIONS = "/assistant/v1/chat/completions"
BODY = {
    "assistant": {"name": "Limits", "instructions": "Be brief."},
    "messages": [{"role": "user", "content": "Hello there"}],
}


async def _spread(urls: list[str], count: int, body: dict[str, Any]) -> list[int]:
    """``count`` completions at once, round-robin over the replicas, 250 connections open."""
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    clients = [
        httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=30) for url in urls
    ]
    try:
        responses = await asyncio.gather(
            *(clients[i % len(clients)].post(COMPLETIONS, json=body) for i in range(count))
        )
        return [r.status_code for r in responses]
    finally:
        for client in clients:
            await client.aclose()


def spread(urls: list[str], count: int, body: dict[str, Any] = BODY) -> Counter[int]:
    return Counter(asyncio.run(_spread(urls, count, body)))


@pytest.fixture(scope="module")
def pair(redis_server: RedisProcess) -> Iterator[list[str]]:
    """Two replicas of one namespace for the module (each test resets it first)."""
    with replicas(redis_server.url, "replicas-pair", 2, "--journal-size", "5000") as urls:
        yield urls


@pytest.fixture
def urls(pair: list[str]) -> list[str]:
    """The two replicas, reset (through the first: the second sees it too)."""
    assert httpx.post(pair[0] + "/__admin/reset").status_code == 200
    return pair


def set_limits(url: str, **limits: int) -> None:
    body = {"workspace": "default", "model": "gpt-4o", **limits}
    assert httpx.put(url + "/__admin/limits", json=body).status_code == 200


def test_exactly_rpm_succeed_across_two_replicas_and_the_journal_is_one(urls: list[str]) -> None:
    set_limits(urls[1], rpm=60)
    counts = spread(urls, 220)
    assert counts == {200: 60, 429: 160}
    journals = [httpx.get(url + "/__admin/requests").json() for url in urls]
    assert journals[0] == journals[1]
    seqs = [entry["seq"] for entry in journals[0]["requests"]]
    assert seqs == list(range(1, 221))
    assert Counter(e["status"] for e in journals[0]["requests"]) == {200: 60, 429: 160}
    usage = httpx.get(urls[1] + "/__admin/limits").json()["limits"]
    assert [(u["workspace"], u["requests"]) for u in usage] == [("default", 60)]
    # The window is one minute of the one mock clock: moved through A, B's 61st succeeds.
    assert httpx.post(urls[0] + "/__admin/clock", json={"advance": 60}).status_code == 200
    again = httpx.post(urls[1] + COMPLETIONS, json=BODY, headers=AUTH)
    assert again.status_code == 200


def test_exactly_tpm_allows_across_two_replicas(urls: list[str]) -> None:
    # Every request here costs the same: measure one, then allow exactly 25 of them.
    assert httpx.post(urls[0] + COMPLETIONS, json=BODY, headers=AUTH).status_code == 200
    row = httpx.get(urls[0] + "/__admin/limits").json()["limits"][0]
    total = row["tokens"]
    prompt = estimate_tokens(len("Be brief.") + len("Hello there"))
    httpx.post(urls[0] + "/__admin/reset")
    tpm = prompt + 24 * total  # the 25th prompt fits exactly; the 26th does not
    set_limits(urls[1], tpm=tpm)
    counts = spread(urls, 220)
    assert counts == {200: 25, 429: 195}
    usage = httpx.get(urls[0] + "/__admin/limits").json()["limits"]
    assert [(u["requests"], u["tokens"]) for u in usage] == [(25, 25 * total)]


def test_fail_the_next_three_fires_exactly_three_times_across_replicas(urls: list[str]) -> None:
    rule = {"match": {"path": COMPLETIONS}, "action": {"status": 503}, "times": 3}
    added = httpx.post(urls[0] + "/__admin/faults", json=rule)
    assert added.status_code == 201
    assert spread(urls, 120) == {200: 117, 503: 3}
    # Spent everywhere: neither replica lists it, and the journal marks the three.
    for url in urls:
        assert httpx.get(url + "/__admin/faults").json()["faults"] == []
    journal = httpx.get(urls[1] + "/__admin/requests", params={"status": 503}).json()
    assert len(journal["requests"]) == 3


def test_seeded_fault_probabilities_repeat_across_replicas(urls: list[str]) -> None:
    def statuses() -> list[int]:
        httpx.post(urls[0] + "/__admin/reset")
        rule = {"match": {"path": COMPLETIONS}, "action": {"status": 500}, "probability": 0.5}
        assert httpx.post(urls[1] + "/__admin/faults", json=rule).status_code == 201
        return [
            httpx.post(urls[i % 2] + COMPLETIONS, json=BODY, headers=AUTH).status_code
            for i in range(16)
        ]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_resources_keys_and_shares_made_through_one_replica_are_seen_through_another(
    urls: list[str],
) -> None:
    a, b = urls
    created = httpx.post(a + "/assistant/v1/create", json={"name": "Shared"}, headers=AUTH)
    assert created.status_code == 201
    assistant_id = created.json()["assistant"]["id"]
    got = httpx.get(b + "/assistant/v1/get", params={"assistantId": assistant_id}, headers=AUTH)
    assert got.json()["assistant"]["name"] == "Shared"
    updated = httpx.patch(
        b + "/assistant/v1/update",
        json={"assistantId": assistant_id, "name": "Renamed"},
        headers=AUTH,
    )
    assert updated.status_code == 200
    got = httpx.get(a + "/assistant/v1/get", params={"assistantId": assistant_id}, headers=AUTH)
    assert got.json()["assistant"]["name"] == "Renamed"
    # A key added through B, shared with through A, reads through B.
    key = httpx.post(b + "/__admin/keys", json={"key": "sk-ld-second"}).json()["key"]
    other = {"Authorization": f"Bearer {key}"}
    params = {"assistantId": assistant_id}
    assert httpx.get(a + "/assistant/v1/get", params=params, headers=other).status_code == 404
    share = httpx.post(a + "/__admin/share", json={"key": key, "assistantId": assistant_id})
    assert share.status_code == 200
    assert httpx.get(b + "/assistant/v1/get", params=params, headers=other).status_code == 200
    # Ids come from the one order of requests: two creates through two replicas never clash.
    ids = {
        httpx.post(url + "/assistant/v1/create", json={"name": "x"}, headers=AUTH).json()[
            "assistant"
        ]["id"]
        for url in (a, b, a, b)
    }
    assert len(ids) == 4
    # Reset through B empties the namespace for A too.
    assert httpx.post(b + "/__admin/reset").status_code == 200
    assert httpx.get(a + "/assistant/v1/get", params=params, headers=AUTH).status_code == 404
    journal = httpx.get(a + "/__admin/requests").json()["requests"]
    assert [(e["seq"], e["path"], e["status"]) for e in journal] == [(1, "/assistant/v1/get", 404)]


def test_same_seed_and_request_order_give_the_same_ids(urls: list[str]) -> None:
    def ids(urls: list[str]) -> list[str]:
        httpx.post(urls[0] + "/__admin/reset")
        made = []
        for i in range(4):
            response = httpx.post(
                urls[i % 2] + "/assistant/v1/create", json={"name": f"n{i}"}, headers=AUTH
            )
            made.append(response.json()["assistant"]["id"])
        return made

    first = ids(urls)
    assert ids(urls) == first
    assert ids(urls[::-1]) == first


def test_store_down_is_a_bounded_503_and_service_resumes(
    redis_server: RedisProcess, urls: list[str]
) -> None:
    url = urls[0]
    created = httpx.post(url + "/assistant/v1/create", json={"name": "Kept"}, headers=AUTH)
    assistant_id = created.json()["assistant"]["id"]
    params = {"assistantId": assistant_id}
    assert redis_server.process is not None
    # Unreachable (the process paused): a 503 in the vendor's shape within the timeout.
    redis_server.process.send_signal(19)  # SIGSTOP
    try:
        began = time.monotonic()
        down = httpx.post(url + COMPLETIONS, json=BODY, headers=AUTH, timeout=10)
        assert time.monotonic() - began < 5
        assert down.status_code == 503
        assert "unavailable" in down.json()["message"]
        health = httpx.get(url + "/__admin/health", timeout=10)
        assert (health.status_code, health.json()["store"]["status"]) == (503, "down")
        cli = subprocess.run(
            [sys.executable, "-m", "mockserver", "health", "--url", url],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert cli.returncode != 0
        assert "store down" in cli.stderr
    finally:
        redis_server.process.send_signal(18)  # SIGCONT
    # Back by itself, and what was answered 2xx is still there.
    got = httpx.get(url + "/assistant/v1/get", params=params, headers=AUTH, timeout=10)
    assert got.status_code == 200
    # Restarted (its data gone: no persistence): answers resume without a restart of ours.
    redis_server.stop()
    down = httpx.post(url + COMPLETIONS, json=BODY, headers=AUTH, timeout=10)
    assert down.status_code == 503
    redis_server.start()
    assert httpx.post(url + COMPLETIONS, json=BODY, headers=AUTH).status_code == 200
    assert httpx.get(url + "/__admin/health").json()["store"]["status"] == "up"


@pytest.mark.parametrize("workers", [2])
def test_workers_share_one_redis(
    redis_server: RedisProcess, redis_namespace: str, workers: int
) -> None:
    flags = ("--workers", str(workers), "--limit", "default/gpt-4o:rpm=30")
    with replicas(redis_server.url, redis_namespace, 1, *flags) as (url,):
        counts = spread([url], 220)
        assert counts == {200: 30, 429: 190}, counts


def test_mock_servers_in_one_process_share_a_namespace(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    shared: dict[str, Any] = {"store": redis_server.url, "store_namespace": redis_namespace}
    with MockServer(**shared) as a, MockServer(**shared) as b:
        a.reset()
        key = a.add_key(workspace="team", scopes=["AGENT_API"])
        a.set_limits(rpm=3, workspace="team")
        statuses = [
            httpx.post(
                (a, b)[i % 2].url + COMPLETIONS,
                json=BODY,
                headers={"Authorization": f"Bearer {key}"},
            ).status_code
            for i in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        assert [r.status for r in b.requests] == statuses
        before = httpx.get(b.url + "/__admin/clock").json()["now"]
        assert a.advance_clock(60) == before + 60
        assert httpx.get(b.url + "/__admin/clock").json()["now"] == before + 60
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(b.url + COMPLETIONS, json=BODY, headers=headers).status_code == 200
        owner = {"Authorization": f"Bearer {a.add_key(workspace='team')}"}
        created = httpx.post(b.url + "/assistant/v1/create", json={"name": "S"}, headers=owner)
        assistant_id = created.json()["assistant"]["id"]
        a.share(key, assistant_id)
        got = httpx.get(
            a.url + "/assistant/v1/get", params={"assistantId": assistant_id}, headers=headers
        )
        assert got.status_code == 200
        b.reset()
        assert a.requests == []
        assert httpx.post(a.url + COMPLETIONS, json=BODY, headers=headers).status_code == 401
        with pytest.raises(MockServerError, match="memory store"), a.isolated():
            pass
