"""Several real server processes on one real Redis behave as one server."""

from __future__ import annotations

import asyncio
import re
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


async def _spread(
    urls: list[str], count: int, body: dict[str, Any], keys: tuple[str, ...] = ("sk-ld-mock",)
) -> list[httpx.Response]:
    """``count`` completions at once, round-robin over the replicas, 250 connections open.

    Request ``i`` goes to replica ``i % len(urls)`` with key ``i // len(urls) % len(keys)``, so
    every key's requests are spread over every replica.
    """
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=30) for url in urls]
    try:
        return await asyncio.gather(
            *(
                clients[i % len(urls)].post(
                    COMPLETIONS,
                    json=body,
                    headers={"Authorization": f"Bearer {keys[i // len(urls) % len(keys)]}"},
                )
                for i in range(count)
            )
        )
    finally:
        for client in clients:
            await client.aclose()


def spread(urls: list[str], count: int, body: dict[str, Any] = BODY) -> Counter[int]:
    return Counter(r.status_code for r in asyncio.run(_spread(urls, count, body)))


def text_of(response: httpx.Response) -> str:
    """The reply text of an assistant completion."""
    text: str = response.json()["result"][-1]["content"][0]["text"]
    return text


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


def test_each_scripted_reply_is_served_exactly_once_across_replicas(urls: list[str]) -> None:
    # Five replies scripted through A: four used once each, one twice (six uses in all).
    texts = [f"Scripted reply {i}." for i in range(5)]
    for i, text in enumerate(texts):
        reply = {"text": text, "times": 2 if i == 4 else 1}
        assert httpx.post(urls[0] + "/__admin/replies", json=reply).status_code == 201
    listed = httpx.get(urls[1] + "/__admin/replies").json()["replies"]
    assert [r["text"] for r in listed] == texts
    # Eight completions at once over A and B: exactly the six uses, then default replies.
    responses = asyncio.run(_spread(urls, 8, BODY))
    assert [r.status_code for r in responses] == [200] * 8
    served = Counter(text_of(r) for r in responses)
    assert {text: served[text] for text in texts} == {**dict.fromkeys(texts[:4], 1), texts[4]: 2}
    defaults = [text for text in served.elements() if text not in texts]
    assert len(defaults) == 2
    for url in urls:
        assert httpx.get(url + "/__admin/replies").json()["replies"] == []
    # Used up everywhere: the next completion through either replica is a default one.
    for url in urls:
        again = httpx.post(url + COMPLETIONS, json=BODY, headers=AUTH)
        assert text_of(again) not in texts
    journal = httpx.get(urls[0] + "/__admin/requests", params={"path": COMPLETIONS}).json()
    assert len(journal["requests"]) == 10  # each request journaled once, retried or not


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


def _scenario(urls: list[str]) -> list[tuple[int, Any]]:
    """One request sequence (API and admin, ids used as they come), round-robin over ``urls``."""
    answers: list[tuple[int, Any]] = []

    def send(method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        url = urls[len(answers) % len(urls)]
        headers = {} if path.startswith("/__admin") else AUTH
        response = httpx.request(method, url + path, json=body, params=params, headers=headers)
        answers.append((response.status_code, response.json()))
        return response.json()

    first = send("POST", "/assistant/v1/create", {"name": "First"})["assistant"]["id"]
    send("POST", "/assistant/v1/create", {"name": "Second", "instructions": "Be kind."})
    send("GET", "/assistant/v1/get", assistantId=first)
    send("POST", COMPLETIONS, {"assistantId": first, "messages": BODY["messages"]})
    send("POST", "/__admin/replies", {"text": "Scripted once."})
    for _ in range(2):
        send("POST", COMPLETIONS, BODY)
    rule = {"match": {"path": COMPLETIONS}, "action": {"status": 500}, "probability": 0.5}
    send("POST", "/__admin/faults", rule)
    for _ in range(6):
        send("POST", COMPLETIONS, BODY)
    send("GET", "/assistant/v1/list")
    return answers


def test_the_memory_and_the_redis_store_answer_the_same_requests_alike(urls: list[str]) -> None:
    # Same seed and the same request order: the same ids, replies, fault draws, on either store.
    with MockServer(freeze_clock=True) as server:  # the memory store, over a real socket
        memory = [server.url]
        expected = _scenario(memory)
        assert _scenario(memory) != expected  # a second run sees the first's state
        httpx.post(memory[0] + "/__admin/reset")
        assert _scenario(memory) == expected  # ...and a reset returns to the baseline
    answered = _scenario(urls)
    assert answered == expected
    statuses = Counter(status for status, _ in answered)
    assert statuses[500] > 0  # the seeded fault fired for some requests...
    assert statuses[200] > 0  # ...not for all


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
    # Both replicas start over with the new Redis: what one makes, the other sees.
    made = httpx.post(url + "/assistant/v1/create", json={"name": "After"}, headers=AUTH)
    params = {"assistantId": made.json()["assistant"]["id"]}
    assert httpx.get(urls[1] + "/assistant/v1/get", params=params, headers=AUTH).status_code == 200


def test_profile_2026_counts_each_key_of_a_workspace_in_its_own_window(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    flags = ("--profile", "2026", "--limit", "default/gpt-4o:rpm=20")
    with replicas(redis_server.url, redis_namespace, 2, *flags) as urls:
        second = httpx.post(urls[1] + "/__admin/keys", json={"key": "sk-ld-second"})
        assert second.status_code in (200, 201)
        keys = ("sk-ld-mock", "sk-ld-second")
        responses = asyncio.run(_spread(urls, 120, BODY, keys))
        by_key = Counter((keys[i // 2 % 2], r.status_code) for i, r in enumerate(responses))
        assert by_key == {
            ("sk-ld-mock", 200): 20,
            ("sk-ld-mock", 429): 40,
            ("sk-ld-second", 200): 20,
            ("sk-ld-second", 429): 40,
        }
        rows = httpx.get(urls[0] + "/__admin/limits").json()["limits"]
        used = sorted((row.get("keyId"), row["requests"]) for row in rows if row["requests"])
        assert [count for _, count in used] == [20, 20]
        assert all(key_id is not None for key_id, _ in used)
        assert len({key_id for key_id, _ in used}) == 2


FOLDERS = "/__admin/knowledge-folders"


def search(url: str, query: str) -> list[dict[str, Any]]:
    response = httpx.post(url + "/knowledge/search", json={"query": query}, headers=AUTH)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["result"]
    return result


def files_of(url: str, folder_id: str) -> list[tuple[str, str, int, str | None]]:
    response = httpx.get(url + f"/knowledge/{folder_id}/list", headers=AUTH)
    assert response.status_code == 200, response.text
    return [(f["id"], f["name"], f["sizeInBytes"], f["url"]) for f in response.json()["result"]]


def test_knowledge_folders_and_files_made_through_one_replica_are_seen_through_another(
    urls: list[str],
) -> None:
    a, b = urls
    made = httpx.post(a + FOLDERS, json={"workspace": "default", "name": "Handbook"})
    assert made.status_code == 201
    folder_id = made.json()["id"]
    assert httpx.get(b + FOLDERS).json() == httpx.get(a + FOLDERS).json()
    assert [f["name"] for f in httpx.get(b + FOLDERS).json()["folders"]] == ["Handbook"]
    # A file uploaded through B: listed, fetched and found through A, with B's answers.
    text = b"Cats purr.\n\nThe cat sat on the mat."
    uploaded = httpx.post(
        b + f"/knowledge/{folder_id}",
        files={"file": ("cats.txt", text)},
        data={"url": "https://wiki/cats"},
        headers=AUTH,
    )
    assert uploaded.status_code == 200, uploaded.text
    file_id = uploaded.json()["result"]["id"]
    assert files_of(a, folder_id) == [(file_id, "cats.txt", len(text), "https://wiki/cats")]
    got = httpx.get(a + f"/knowledge/{folder_id}/{file_id}", headers=AUTH)
    assert got.json()["result"] == uploaded.json()["result"]
    [hit] = search(a, "mat")
    assert (hit["id"], hit["text"]) == (file_id, text.decode())
    assert search(b, "mat") == [hit]
    # New contents through A: B's search index is rebuilt, the old words are gone.
    updated = httpx.patch(
        a + f"/knowledge/{folder_id}",
        files={"file": ("dogs.txt", b"Dogs bark at the mailman.")},
        data={"attachmentId": file_id},
        headers=AUTH,
    )
    assert updated.status_code == 200, updated.text
    assert search(b, "mat") == []
    assert [h["subname"] for h in search(b, "mailman")] == ["dogs.txt"]
    assert search(a, "mailman") == search(b, "mailman")
    # A rejected upload changes nothing anywhere.
    refused = httpx.post(b + f"/knowledge/{folder_id}", data={"url": "https://x"}, headers=AUTH)
    assert refused.status_code == 400
    assert files_of(a, folder_id) == files_of(b, folder_id)
    assert len(files_of(a, folder_id)) == 1
    # Deleted through A: gone for B, from list and search.
    deleted = httpx.delete(a + f"/knowledge/{folder_id}/{file_id}", headers=AUTH)
    assert deleted.status_code == 200
    assert files_of(b, folder_id) == []
    assert search(b, "mailman") == []
    # A folder deleted through B is a 404 through A.
    assert httpx.delete(b + f"{FOLDERS}/{folder_id}").status_code == 200
    listed = httpx.get(a + f"/knowledge/{folder_id}/list", headers=AUTH)
    assert listed.status_code == 404
    assert httpx.get(a + FOLDERS).json() == {"folders": []}
    # Reset through A clears folders and files for B.
    again = httpx.post(a + FOLDERS, json={"workspace": "default", "id": "kept"}).json()["id"]
    files = {"file": ("a.txt", b"alpha words")}
    assert httpx.post(b + f"/knowledge/{again}", files=files, headers=AUTH).status_code == 200
    assert [h["subsource"] for h in search(a, "alpha")] == ["kept"]
    assert httpx.post(a + "/__admin/reset").status_code == 200
    assert httpx.get(b + FOLDERS).json() == {"folders": []}
    assert search(b, "alpha") == []


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
        # A knowledge folder made through A's handle takes files through B, listed through A.
        folder_id = a.add_folder(name="Docs")
        files = {"file": ("notes.txt", b"Quokkas smile.")}
        upload = httpx.post(b.url + f"/knowledge/{folder_id}", files=files, headers=AUTH)
        assert upload.status_code == 200, upload.text
        assert [f[1] for f in files_of(a.url, folder_id)] == ["notes.txt"]
        assert [h["subname"] for h in search(a.url, "quokkas")] == ["notes.txt"]
        # A reply scripted through A's handle is served once, through B.
        a.reply_with(["From the handle."])
        first, second = (httpx.post(b.url + COMPLETIONS, json=BODY, headers=AUTH) for _ in "ab")
        assert (text_of(first), text_of(second) != "From the handle.") == ("From the handle.", True)
        # A fault rule made through A's handle acts through B, once per use in all.
        a.fail_next(503, times=2, path=COMPLETIONS)
        failed = [
            httpx.post(b.url + COMPLETIONS, json=BODY, headers=AUTH).status_code for _ in "abc"
        ]
        assert failed == [503, 503, 200]
        a.fail_next(503, path=COMPLETIONS)
        a.clear_faults()
        assert httpx.post(b.url + COMPLETIONS, json=BODY, headers=AUTH).status_code == 200
        b.reset()
        assert a.requests == []
        assert httpx.get(a.url + f"/knowledge/{folder_id}/list", headers=AUTH).status_code == 404
        assert httpx.post(a.url + COMPLETIONS, json=BODY, headers=headers).status_code == 401
        with pytest.raises(MockServerError, match="memory store"), a.isolated():
            pass


def test_a_redis_restarted_without_its_data_starts_replicas_never_reset_afresh(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    # Never reset, both replicas know the namespace's first epoch; a Redis that lost its data
    # starts the namespace again, and they must notice it though no reset ever numbered one.
    with replicas(redis_server.url, redis_namespace, 2) as urls:
        made = [
            httpx.post(urls[0] + "/assistant/v1/create", json={"name": f"Old {i}"}, headers=AUTH)
            for i in range(3)
        ]
        old = {"assistantId": made[0].json()["assistant"]["id"]}
        assert httpx.get(urls[1] + "/assistant/v1/get", params=old, headers=AUTH).status_code == 200
        redis_server.stop()
        redis_server.start()
        assert httpx.post(urls[0] + COMPLETIONS, json=BODY, headers=AUTH).status_code == 200
        new = httpx.post(urls[0] + "/assistant/v1/create", json={"name": "New"}, headers=AUTH)
        params = {"assistantId": new.json()["assistant"]["id"]}
        for url in urls:  # the new one is shared; the old ones went with Redis's data
            get = url + "/assistant/v1/get"
            assert httpx.get(get, params=params, headers=AUTH).status_code == 200
            assert httpx.get(get, params=old, headers=AUTH).status_code == 404


_OPENAI_CHAT = "/openai/eu/v1/chat/completions"
_CHAT_BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize(
    ("path", "body", "warning"),
    [
        (COMPLETIONS, BODY, "unknown field $.unknownField"),
        (_OPENAI_CHAT, _CHAT_BODY, None),  # OpenAI's request takes fields it does not know
    ],
    ids=["assistant", "openai-chat"],  # a provider's message id is a UUID's hex digits
)
def test_completions_answered_under_a_wrong_guess_are_the_memory_stores_answers(
    redis_server: RedisProcess,
    redis_namespace: str,
    path: str,
    body: dict[str, Any],
    warning: str | None,
) -> None:
    """Alternating replicas guess every number wrong; each answer is rendered once numbered,
    with the ids, warnings header and response check the memory store gives the same requests."""
    body = {**body, "unknownField": 1}  # a warning, answered in the header where there is one
    settings: dict[str, Any] = {"freeze_clock": True, "check_responses": True}

    def answers(urls: list[str]) -> list[tuple[int, str | None, Any]]:
        sent = [httpx.post(urls[i % len(urls)] + path, json=body, headers=AUTH) for i in range(6)]
        return [(r.status_code, r.headers.get("X-Mock-Warnings"), r.json()) for r in sent]

    with MockServer(**settings) as memory:
        expected = answers([memory.url])
    shared = {**settings, "store": redis_server.url, "store_namespace": redis_namespace}
    with MockServer(**shared) as a, MockServer(**shared) as b:
        a.reset()
        answered = answers([a.url, b.url])
    assert answered == expected
    assert {status for status, _, _ in answered} == {200}
    assert all(warned == warning for _, warned, _ in answered)
    ids = {a["id"] if path == _OPENAI_CHAT else a["result"][-1]["id"] for _, _, a in answered}
    assert len(ids) == 6


def _script_calls(redis_server: RedisProcess) -> int:
    stats = redis_server.command("INFO", "commandstats").decode()
    found = re.findall(r"cmdstat_(?:evalsha|eval):calls=(\d+)", stats)
    return sum(int(calls) for calls in found)


@pytest.mark.parametrize(
    ("path", "body"), [(COMPLETIONS, BODY), (_OPENAI_CHAT, _CHAT_BODY)], ids=["assistant", "openai"]
)
def test_a_completion_on_one_replica_is_one_script(
    redis_server: RedisProcess, redis_namespace: str, path: str, body: dict[str, Any]
) -> None:
    # Its guessed number right and its ids the guess's (a provider's as hex digits): served
    # by SERVE alone, never answered again.
    with MockServer(store=redis_server.url, store_namespace=redis_namespace) as server:
        assert httpx.post(server.url + path, json=body, headers=AUTH).status_code == 200
        redis_server.command("CONFIG", "RESETSTAT")
        sent = [httpx.post(server.url + path, json=body, headers=AUTH) for _ in range(5)]
        assert [r.status_code for r in sent] == [200] * 5
        assert _script_calls(redis_server) == 5
