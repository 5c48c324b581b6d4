"""The shared-store interface, one suite for both stores; the Redis one against a real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from mockserver.cli import cli
from mockserver.config import Settings, load_settings
from mockserver.errors import ConfigError
from mockserver.stores.base import Charge, Commit, SharedStore, StoreUnavailable, Tally
from mockserver.stores.memory import MemoryStore
from mockserver.stores.scripts import JOURNAL_SLACK
from tests.redis_server import RedisProcess, free_port

NOW = 1_000_000.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, redis_namespace: str) -> Iterator[SharedStore]:
    """Each store, fresh: MemoryStore, and RedisStore on the session's redis-server."""
    if request.param == "memory":
        yield MemoryStore(100, [b"start"])
        return
    server: RedisProcess = request.getfixturevalue("redis_server")
    from mockserver.stores.redis import RedisStore

    made = RedisStore(server.url, redis_namespace, 100, [b"start"])
    yield made
    asyncio.run(made.close())


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]  # Reason: any coroutine.


def test_begin_numbers_requests_and_hands_over_ops_once(store: SharedStore) -> None:
    async def scenario() -> None:
        first = await store.begin(0, 0)
        assert first.ops == (b"start",)
        assert first.cursor == 1
        await store.commit(Commit(first.epoch, NOW, ops=[b"a", b"b"]))
        second = await store.begin(first.epoch, first.cursor)
        assert second.number == first.number + 1
        assert second.ops == (b"a", b"b")
        third = await store.begin(second.epoch, second.cursor)
        assert third.ops == ()
        # A reset starts a new epoch: a replica that knew the old one replays from the start.
        epoch = await store.reset([b"fresh"])
        after = await store.begin(third.epoch, third.cursor)
        assert (after.epoch, after.ops, after.number) == (epoch, (b"fresh",), 1)
        await store.close()

    run(scenario())


def test_usage_is_summed_by_key_and_handed_over_only_when_asked(store: SharedStore) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        for key, tokens in (("a b", 1), ("c", 10), ("a b", 100)):
            await store.commit(Commit(sync.epoch, NOW, entry=b"e", tally=Tally(key, tokens, 2)))
        plain = await store.begin(sync.epoch, sync.cursor)
        assert (plain.ops, plain.usage) == ((), None)  # a completion's sync reads none
        asked = await store.begin(sync.epoch, sync.cursor, "request", usage=True)
        assert (asked.ops, asked.usage) == ((), {"a b": (2, 101, 4), "c": (1, 10, 2)})
        # Refused, a tally sums nothing; with ops, the ops come too.
        full = Charge("w", "m", None, 0, 100, 1, 1)
        await store.commit(Commit(sync.epoch, NOW, charge=full, tally=Tally("c", 5, 5)))
        await store.commit(Commit(sync.epoch, NOW, ops=[b"op"], tally=Tally("d", 0, 0)))
        both = await store.begin(sync.epoch, asked.cursor, "read", usage=True)
        assert (both.number, both.ops) == (0, (b"op",))
        assert both.usage == {"a b": (2, 101, 4), "c": (1, 10, 2), "d": (1, 0, 0)}
        # A reset starts the sums afresh.
        epoch = await store.reset([b"fresh"])
        await store.commit(Commit(epoch, NOW, tally=Tally("new", 3, 4)))
        after = await store.begin(sync.epoch, both.cursor, "read", usage=True)
        assert (after.epoch, after.ops, after.usage) == (epoch, (b"fresh",), {"new": (1, 3, 4)})
        await store.close()

    run(scenario())


def test_exactly_rpm_requests_succeed_under_250_concurrent_commits(store: SharedStore) -> None:
    charge = Charge("default", "gpt-4o", None, 100, 1_000_000, 5, 10)

    async def scenario() -> list[bool]:
        sync = await store.begin(0, 0)
        outcomes = await asyncio.gather(
            *(
                store.commit(Commit(sync.epoch, NOW, charge=charge, entry=b"{}", coverage="op 200"))
                for _ in range(250)
            )
        )
        assert len(await store.journal()) == 100
        await store.close()
        return [o.allowed for o in outcomes]

    allowed = run(scenario())
    assert isinstance(allowed, list)
    assert allowed.count(True) == 100
    assert allowed.count(False) == 150


def test_a_refusal_consumes_nothing_and_tokens_are_exact(store: SharedStore) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        tokens = Charge("w", "m", None, 1000, 100, 10, 30)
        outcomes = [
            await store.commit(Commit(sync.epoch, NOW, charge=tokens, entry=b"{}"))
            for _ in range(5)
        ]
        # 30 + 30 + 30 = 90 used; the fourth's prompt of 10 fits (100 - 90), the fifth's does not.
        assert [o.allowed for o in outcomes] == [True, True, True, True, False]
        assert outcomes[-1].reason == "tokens"
        assert outcomes[-1].retry_after == 60.0
        assert (await store.usage(NOW))[("w", "m", None)] == (4, 120)
        # A refused commit appended neither its journal entry nor its ops.
        assert [seq for seq, _ in await store.journal()] == [1, 2, 3, 4]
        # The window slides: 60 s after, every entry has left.
        later = await store.commit(Commit(sync.epoch, NOW + 60, charge=tokens))
        assert later.allowed
        assert later.used_requests == 1
        requests = Charge("w", "n", None, 1, 100, 1, 1)
        assert (await store.commit(Commit(sync.epoch, NOW, charge=requests))).allowed
        refused = await store.commit(Commit(sync.epoch, NOW + 20, charge=requests))
        assert (refused.allowed, refused.reason, refused.retry_after) == (False, "requests", 40.0)
        await store.close()

    run(scenario())


def test_journal_is_bounded_and_coverage_counts(store: SharedStore) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        for i in range(130):
            await store.commit(
                Commit(sync.epoch, NOW, entry=b"%d" % i, coverage="createAssistant 201")
            )
        journal = await store.journal()
        assert len(journal) == 100
        assert journal[0] == (31, b"30")
        assert await store.last_seq() == 130
        assert (await store.coverage(True)) == {"createAssistant 201": 130}
        await store.reset([])
        assert await store.journal() == []
        assert await store.coverage(True) == {}
        assert await store.coverage(False) == {"createAssistant 201": 130}
        await store.clear_run_coverage()
        assert await store.coverage(False) == {}
        assert await store.ping()
        await store.close()

    run(scenario())


def test_a_commit_begun_before_a_reset_changes_nothing(store: SharedStore) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        await store.reset([])
        await store.commit(Commit(sync.epoch, NOW, ops=[b"stale"], entry=b"stale"))
        assert (await store.begin(sync.epoch, 0)).ops == ()
        assert await store.journal() == []
        await store.close()

    run(scenario())


@pytest.mark.redis
def test_reset_clears_exactly_its_namespace(redis_server: RedisProcess) -> None:
    from mockserver.stores.redis import RedisStore

    async def scenario() -> None:
        one = RedisStore(redis_server.url, "ns-one", 10, [])
        two = RedisStore(redis_server.url, "ns-two", 10, [])
        for store in (one, two):
            sync = await store.begin(0, 0)
            charge = Charge("w", "m", None, 10, 100, 1, 1)
            await store.commit(
                Commit(
                    sync.epoch, NOW, charge=charge, ops=[b"op"], entry=b"entry", coverage="op 200"
                )
            )
        await one.reset([])
        assert await one.journal() == []
        assert await one.usage(NOW) == {}
        assert await two.journal() == [(1, b"entry")]
        assert await two.usage(NOW) == {("w", "m", None): (1, 1)}
        assert (await two.begin(0, 0)).ops == (b"op",)
        await one.close()
        await two.close()

    run(scenario())


@pytest.mark.redis
def test_redis_keeps_usage_as_big_as_its_keys_not_its_requests(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    """A long load test must not grow Redis by a record per completion: the journal is trimmed
    to its size, the usage is three counters per usage key (a second, a key, a model...)."""
    import redis

    from mockserver.stores.redis import RedisStore

    async def scenario() -> None:
        store = RedisStore(redis_server.url, redis_namespace, 10, [])
        sync = await store.begin(0, 0)
        for n in range(300):
            tally = Tally(f"second {n // 100}", 1, 2)
            await store.commit(Commit(sync.epoch, NOW, entry=b"e", tally=tally))
        usage = (await store.begin(sync.epoch, sync.cursor, "read", usage=True)).usage
        assert usage == {f"second {s}": (100, 100, 200) for s in range(3)}
        await store.close()

    run(scenario())
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.hlen(f"{redis_namespace}:usage") == 9
        assert client.llen(f"{redis_namespace}:journal") <= 10 + JOURNAL_SLACK
        assert client.llen(f"{redis_namespace}:ops") == 0
    finally:
        client.close()


def test_unreachable_redis_is_a_503_within_the_timeout() -> None:
    from mockserver.stores.redis import RedisStore

    async def scenario() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "ns", 10, [])
        with pytest.raises(StoreUnavailable, match="unavailable") as raised:
            await asyncio.wait_for(store.begin(0, 0), 5)
        assert raised.value.status == 503
        assert not await store.ping()
        await store.close()

    run(scenario())


def test_store_settings_come_from_option_variable_and_file(tmp_path: Path) -> None:
    file = tmp_path / "mock.toml"
    file.write_text('store = "redis://127.0.0.1:6379/2"\nstore_namespace = "suite-a"\n')
    assert load_settings(file, env={}).store == "redis://127.0.0.1:6379/2"
    assert load_settings(file, env={}).store_namespace == "suite-a"
    env = {"LANGDOCK_MOCK_STORE": "redis://h:1/0", "LANGDOCK_MOCK_STORE_NAMESPACE": "b"}
    assert (load_settings(file, env=env).store, load_settings(file, env=env).store_namespace) == (
        "redis://h:1/0",
        "b",
    )
    assert load_settings(file, env=env, overrides={"store": "memory"}).store == "memory"
    assert Settings().store_namespace == "langdock-mock"
    with pytest.raises(ConfigError, match="not memory or redis://"):
        Settings(store="mysql://x")


def test_several_workers_with_the_memory_store_are_refused_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.count("\n") == 0
    assert "--store redis://HOST:PORT/DB" in message
    with pytest.raises(ConfigError, match="--store redis://"):
        Settings(workers=3)


def test_the_memory_store_never_imports_redis() -> None:
    code = (
        "import sys; from mockserver import create_app; from mockserver.config import Settings;"
        "from starlette.testclient import TestClient;"
        "c = TestClient(create_app(Settings())); "
        "r = c.post('/assistant/v1/chat/completions',"
        " headers={'Authorization': 'Bearer sk-ld-mock'},"
        " json={'assistant': {'name': 'a', 'instructions': ''},"
        " 'messages': [{'role': 'user', 'content': 'hi'}]});"
        "assert r.status_code == 200, r.text;"
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')]"
    )
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, timeout=60)


def test_claims_are_exact_under_concurrency_and_reset_with_the_epoch(store: SharedStore) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        won = await asyncio.gather(*(store.claim(sync.epoch, "rule", 3) for _ in range(50)))
        assert won.count(True) == 3
        assert await store.claims() == {"rule": 3}
        epoch = await store.reset([])
        assert not await store.claim(sync.epoch, "rule", 3)  # begun before the reset
        assert await store.claim(epoch, "rule", 3)
        assert await store.claims() == {"rule": 1}
        await store.close()

    run(scenario())


def test_a_scripted_reply_is_claimed_at_most_times_and_only_with_its_charge(
    store: SharedStore,
) -> None:
    async def scenario() -> None:
        sync = await store.begin(0, 0)
        refused = Charge("w", "m", None, 0, 100, 1, 1)  # rpm 0: every charge refused
        first = await store.commit(Commit(sync.epoch, NOW, charge=refused, reply=("r1", 2)))
        assert (first.allowed, first.reason) == (False, "requests")
        claims = [await store.commit(Commit(sync.epoch, NOW, reply=("r1", 2))) for _ in range(3)]
        assert [(c.allowed, c.reason) for c in claims] == [(True, ""), (True, ""), (False, "reply")]
        # Every replica learns each use, in commit order, from the ops.
        ops = (await store.begin(sync.epoch, sync.cursor)).ops
        assert [orjson.loads(op) for op in ops] == [
            {"op": "reply-used", "id": "r1", "used": 1},
            {"op": "reply-used", "id": "r1", "used": 2},
        ]
        # A reset starts the count again.
        epoch = await store.reset([])
        again = await store.commit(Commit(epoch, NOW, reply=("r1", 2)))
        assert again.allowed
        await store.close()

    run(scenario())


def test_serve_numbers_and_commits_unless_a_change_came_after_the_answer(
    store: SharedStore,
) -> None:
    charge = Charge("w", "m", None, 100, 1_000_000, 5, 10)

    async def scenario() -> None:
        sync = await store.begin(0, 0)
        read_at = sync.cursor
        # A tally changes no answer: a request answered before it still commits, and no
        # replica is handed tallies but a usage export, which asks for them.
        await store.commit(Commit(sync.epoch, NOW, tally=Tally("k", 1, 1)))
        mine = Tally("k", 2, 2)
        served, outcome = await store.serve(
            Commit(sync.epoch, NOW, charge=charge, entry=b"a", tally=mine), read_at, read_at
        )
        assert outcome is not None
        assert outcome.allowed
        assert (served.number, served.ops, served.usage) == (sync.number + 1, (), None)
        assert served.cursor == read_at
        # Without fetch, a commit hands over no ops (another call in flight fetches them).
        quiet, outcome = await store.serve(
            Commit(sync.epoch, NOW, entry=b"b"), served.cursor, served.cursor, fetch=False
        )
        assert outcome is not None
        assert (quiet.number, quiet.ops, quiet.cursor) == (served.number + 1, (), served.cursor)
        # Any other op past the cursor the answer was read at: numbered, not committed.
        await store.commit(Commit(sync.epoch, NOW, ops=[b"key added"]))
        stale, refused = await store.serve(
            Commit(sync.epoch, NOW, charge=charge, entry=b"c"), served.cursor, served.cursor, False
        )
        assert refused is None
        assert stale.number == quiet.number + 1
        assert stale.ops == (b"key added",)  # handed over even without fetch: to answer again
        assert [entry for _, entry in await store.journal()] == [b"a", b"b"]
        assert (await store.usage(NOW))[("w", "m", None)] == (1, 10)
        # Read at the new cursor, it commits; after a reset, the old epoch's answers do not.
        again, outcome = await store.serve(
            Commit(sync.epoch, NOW, charge=charge, entry=b"c"), stale.cursor, stale.cursor
        )
        assert outcome is not None
        assert outcome.allowed
        assert again.number == stale.number + 1
        # A refused charge hands the ops over whatever the flag: the replica answers with them.
        await store.commit(Commit(sync.epoch, NOW, tally=Tally("k", 3, 3)))
        full = Charge("w", "m", None, 0, 100, 1, 1)
        refusal, outcome = await store.serve(
            Commit(sync.epoch, NOW, charge=full), again.cursor, again.cursor, fetch=False
        )
        assert outcome is not None
        assert (outcome.allowed, refusal.ops) == (False, ())
        epoch = await store.reset([b"fresh"])
        late, refused = await store.serve(Commit(sync.epoch, NOW, entry=b"d"), 0, 99)
        assert refused is None
        assert (late.epoch, late.number, late.ops) == (epoch, 1, (b"fresh",))
        await store.close()

    run(scenario())
