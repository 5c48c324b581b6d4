"""ScriptPipe against a real redis-server: order, batching, NOSCRIPT, handshake, timeouts, loss."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from mockserver.stores.pipe import Script, ScriptPipe
from tests.redis_server import RedisProcess, free_port, require_redis_server

pytestmark = pytest.mark.redis

COUNT = Script("return redis.call('INCR', KEYS[1])")
ECHO = Script("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
FAIL = Script("return redis.error_reply('BROKEN on purpose')")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, with a password: it may be stopped and paused."""
    server = RedisProcess(require_redis_server(), tmp_path, "--requirepass", "s3cret")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.send_signal(18)  # SIGCONT, in case the test paused it
        server.stop()


def test_calls_answer_in_order_many_to_a_write(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    async def scenario() -> tuple[list[Any], int, list[Any]]:
        pipe = ScriptPipe(redis_server.url, 2.0)
        counts = await asyncio.gather(
            *(pipe.evalsha(COUNT, [redis_namespace], []) for _ in range(200))
        )
        echoed = await pipe.evalsha(ECHO, ["key"], [b"bytes", 41])
        await pipe.close()
        return counts, pipe.writes, echoed

    counts, writes, echoed = run(scenario())
    assert counts == list(range(1, 201))
    assert writes < 200
    assert echoed == [b"key", b"bytes", 42]


def test_a_script_redis_forgot_is_sent_again_whole(
    redis_server: RedisProcess, redis_namespace: str
) -> None:
    async def scenario() -> list[Any]:
        pipe = ScriptPipe(redis_server.url, 2.0)
        first = await pipe.evalsha(COUNT, [redis_namespace], [])
        redis_server.command("SCRIPT", "FLUSH")  # what a restarted Redis knows of our scripts
        after = await asyncio.gather(*(pipe.evalsha(COUNT, [redis_namespace], []) for _ in "abc"))
        await pipe.close()
        return [first, *after]

    assert run(scenario()) == [1, 2, 3, 4]


def test_a_script_error_fails_only_its_call(redis_server: RedisProcess) -> None:
    async def scenario() -> None:
        pipe = ScriptPipe(redis_server.url, 2.0)
        failed: Any
        fine: Any
        failed, fine = await asyncio.gather(
            pipe.evalsha(FAIL, [], []), pipe.evalsha(ECHO, ["k"], ["v", 1]), return_exceptions=True
        )
        assert isinstance(failed, ResponseError)
        assert "BROKEN" in str(failed)
        assert fine == [b"k", b"v", 2]
        await pipe.close()

    run(scenario())


def test_password_and_database_of_the_url_are_used(own_redis: RedisProcess) -> None:
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/3"
    where = Script("redis.call('SET', KEYS[1], 'here') return redis.call('DBSIZE')")

    async def scenario() -> None:
        pipe = ScriptPipe(url, 2.0)
        assert await pipe.evalsha(where, ["marker"], []) == 1
        await pipe.close()
        wrong = ScriptPipe(f"redis://:wrong@127.0.0.1:{own_redis.port}/0", 2.0)
        with pytest.raises(ResponseError):
            await wrong.evalsha(COUNT, ["k"], [])
        with pytest.raises(ResponseError):  # a refused handshake leaves no connection behind
            await wrong.evalsha(COUNT, ["k"], [])
        await wrong.close()

    run(scenario())
    # The key went to database 3 and nowhere else.
    client = redis.Redis(port=own_redis.port, password="s3cret", db=3)
    assert client.get("marker") == b"here"
    assert redis.Redis(port=own_redis.port, password="s3cret", db=0).get("marker") is None
    client.close()


def test_no_answer_within_the_timeout_fails_the_calls_then_service_resumes(
    own_redis: RedisProcess,
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0"
    process = own_redis.process
    assert process is not None

    async def scenario() -> None:
        pipe = ScriptPipe(url, 0.3)
        assert await pipe.evalsha(COUNT, ["n"], []) == 1
        process.send_signal(19)  # SIGSTOP: connected, silent
        try:
            results = await asyncio.gather(
                *(pipe.evalsha(COUNT, ["n"], []) for _ in range(5)), return_exceptions=True
            )
            assert all(isinstance(r, RedisTimeout) for r in results), results
        finally:
            process.send_signal(18)  # SIGCONT
        # A fresh connection; the calls that timed out may have run (never sent twice).
        assert await pipe.evalsha(COUNT, ["n"], []) in range(2, 8)
        await pipe.close()

    run(scenario())


def test_a_lost_connection_fails_its_calls_and_the_next_call_connects_again(
    own_redis: RedisProcess,
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0"

    async def scenario() -> None:
        pipe = ScriptPipe(url, 2.0)
        assert await pipe.evalsha(COUNT, ["n"], []) == 1
        own_redis.stop()
        with pytest.raises((ConnectionError, OSError)):
            await pipe.evalsha(COUNT, ["n"], [])
        own_redis.start()  # without its data, as a restart without persistence
        assert await pipe.evalsha(COUNT, ["n"], []) == 1
        await pipe.close()

    run(scenario())


def test_nothing_listening_is_a_connection_error() -> None:
    async def scenario() -> None:
        pipe = ScriptPipe(f"redis://127.0.0.1:{free_port()}/0", 2.0)
        with pytest.raises(ConnectionRefusedError):
            await pipe.evalsha(COUNT, ["n"], [])
        await pipe.close()

    run(scenario())
