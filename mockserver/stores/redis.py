"""RedisStore: the shared state in one Redis namespace, one Lua script per API request."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError

from mockserver.ratelimit import Where
from mockserver.stores import scripts
from mockserver.stores.base import Commit, Numbered, Outcome, StoreUnavailable, Sync
from mockserver.stores.pipe import Script, ScriptPipe

__all__ = ["RedisStore"]

# Seconds a command may take before the request gets a 503: bounded, never a hang (and long
# enough that a busy machine's slow event loop is not mistaken for a Redis that is down).
TIMEOUT = 2.0
# Connections per process: enough to keep Redis busy, few enough for many replicas.
CONNECTIONS = 64
# Seconds a request may queue for a free connection under load (then a 503, never a hang).
QUEUE_TIMEOUT = 5.0


class RedisStore:
    """One namespace of one Redis; every method one round trip (an EVALSHA where it counts)."""

    def __init__(self, url: str, namespace: str, journal_size: int, initial: list[bytes]) -> None:
        self.name = url
        self._url = url
        self._journal_size = str(journal_size)
        self._initial = initial
        self._client: aioredis.Redis | None = None
        ns = self._namespace = namespace
        self._epoch = f"{ns}:epoch"
        self._number = f"{ns}:number"
        self._changes = f"{ns}:changes"
        self._ops = f"{ns}:ops"
        self._journal = f"{ns}:journal"
        self._seq = f"{ns}:journal-seq"
        self._coverage = f"{ns}:coverage"
        self._run_coverage = f"{ns}:run-coverage"
        self._windows = f"{ns}:windows"
        self._charges = f"{ns}:charges"
        self._window_prefix = f"{ns}:window:"
        self._claims = f"{ns}:claims"
        self._usage_sums = f"{ns}:usage"
        self._opened = False
        # The hot path's scripts (BEGIN, COMMIT) share one connection; the rest use the pool.
        self._pipe = ScriptPipe(url, TIMEOUT)
        self._begin_script = Script(scripts.BEGIN)
        self._commit_script = Script(scripts.COMMIT)
        self._serve_script = Script(scripts.SERVE)

    @property
    def writes(self) -> int:
        """Writes of the hot path's scripts to Redis: its network round trips."""
        return self._pipe.writes

    def _redis(self) -> aioredis.Redis:
        # Made on first use, so on the event loop that serves the requests.
        if self._client is None:
            # A bounded pool that makes a request wait (at most TIMEOUT) for a free connection.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=CONNECTIONS,
                timeout=QUEUE_TIMEOUT,
                socket_timeout=TIMEOUT,
                socket_connect_timeout=TIMEOUT,
                # One retry on a fresh connection, as a pooled one is dead after a Redis restart;
                # none after a timeout, which a retry would only double.
                retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
                health_check_interval=0,
            )
            self._client = aioredis.Redis(connection_pool=pool)
            client = self._client
            self._reset = client.register_script(scripts.RESET)
            self._open = client.register_script(scripts.OPEN)
            self._usage = client.register_script(scripts.USAGE)
            self._claim = client.register_script(scripts.CLAIM)
        return self._client

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            if not self._opened:
                self._redis()
                await self._open(keys=[self._epoch, self._number, self._ops], args=self._initial)
                self._opened = True
            if not isinstance(script, Script):
                return await script(keys, args)
            reply = await self._pipe.evalsha(script, keys, args)
            gone = reply[0] == b"0" if script is self._begin_script else reply[0] == -2
            if gone:
                # The namespace is gone (a Redis restarted without its data): start it again.
                await self._open(keys=[self._epoch, self._number, self._ops], args=self._initial)
                reply = await self._pipe.evalsha(script, keys, args)
            return reply
        except (RedisError, OSError) as error:
            raise StoreUnavailable(
                f"langdock-mock: the shared store at {self._url} is unavailable "
                f"({type(error).__name__}); retry when it is back"
            ) from None

    def _window(self, workspace: str, model: str, key: str | None) -> str:
        return self._window_prefix + orjson.dumps([workspace, model, key]).decode()

    async def begin(
        self, epoch: int, cursor: int, numbered: Numbered = "request", usage: bool = False
    ) -> Sync:
        """Number this request (or admin change) and hand over the state changes not yet seen."""
        args: list[Any] = [epoch, cursor, numbered]
        if usage:
            args.append("usage")
        reply = await self._call(self._begin_script, [self._namespace], args)
        count = 4 + int(reply[3])
        sums = _usage_sums(reply[count:]) if usage else None
        return Sync(int(reply[0]), int(reply[1]), int(reply[2]), tuple(reply[4:count]), sums)

    async def commit(self, commit: Commit) -> Outcome:
        """Commit one request's changes atomically (see ``Commit``)."""
        keys, args = self._commit_arguments(commit, "")
        return _outcome(await self._call(self._commit_script, keys, args))

    async def serve(
        self, commit: Commit, read_at: int, since: int, fetch: bool = True
    ) -> tuple[Sync, Outcome | None]:
        """``begin`` and ``commit`` at once: a request answered from the state at ``read_at``."""
        keys, args = self._commit_arguments(commit, f" {read_at} {since} {int(fetch)}")
        answer = await self._call(self._serve_script, keys, args)
        sync = Sync(int(answer[6]), int(answer[7]), int(answer[8]), tuple(answer[9:]))
        return sync, None if answer[0] == -1 else _outcome(answer)

    def _commit_arguments(self, commit: Commit, more: str) -> tuple[list[str], list[Any]]:
        epoch, now, charge, ops, entry, coverage, reply, tally = commit
        if charge is None:
            window = self._windows + ":none"
            numbers = f"{epoch} 0 {now!r} 0 0 0 0"
        else:
            window = self._window(charge.workspace, charge.model, charge.key)
            numbers = f"{epoch} 1 {now!r} {charge.rpm} {charge.tpm} {charge.prompt} {charge.total}"
        reply_id, times = reply if reply is not None else ("", 0)
        return [self._namespace, window], [
            f"{numbers} {self._journal_size} {times}{more}",
            coverage or "",
            entry or b"",
            reply_id,
            f"{tally.input_tokens} {tally.output_tokens} {tally.key}" if tally else "",
            *ops,
        ]

    async def journal(self) -> list[tuple[int, bytes]]:
        """The journal, oldest first, as (seq, entry)."""
        # The newest journal-size entries: commits trim the list only a little past its size.
        raw = await self._plain("lrange", self._journal, -int(self._journal_size), -1)
        entries = []
        for item in raw:
            seq, _, entry = item.partition(b" ")
            entries.append((int(seq), entry))
        return entries

    async def last_seq(self) -> int:
        """The newest journal sequence number handed out."""
        return int(await self._plain("get", self._seq) or 0)

    async def clear_journal(self) -> None:
        """Forget every journal entry (the sequence goes on)."""
        await self._plain("delete", self._journal)

    async def usage(self, now: float) -> dict[Where, tuple[int, int]]:
        """Requests and tokens in every live window."""
        self._redis()
        reply = await self._call(self._usage, [self._windows], [repr(now)])
        usage: dict[Where, tuple[int, int]] = {}
        for i in range(0, len(reply), 3):
            workspace, model, key = orjson.loads(reply[i][len(self._window_prefix) :])
            usage[(workspace, model, key)] = (int(reply[i + 1]), int(reply[i + 2]))
        return usage

    async def coverage(self, since_reset: bool) -> dict[str, int]:
        """Counts by ``operation status`` since the last reset, or of the whole run."""
        raw = await self._plain("hgetall", self._coverage if since_reset else self._run_coverage)
        return {key.decode(): int(count) for key, count in raw.items()}

    async def clear_run_coverage(self) -> None:
        """Start the run's coverage afresh."""
        await self._plain("delete", self._run_coverage)

    async def reset(self, ops: list[bytes]) -> int:
        """Clear the namespace (not the run's coverage), start a new epoch with ``ops``."""
        self._redis()
        keys = [
            self._epoch,
            self._number,
            self._ops,
            self._journal,
            self._seq,
            self._coverage,
            self._windows,
            self._charges,
            self._claims,
            self._changes,
            self._usage_sums,
        ]
        return int(await self._call(self._reset, keys, ops))

    async def claim(self, epoch: int, name: str, limit: int) -> bool:
        """One of the first ``limit`` claims of ``name`` this epoch (a refusal counts nothing)."""
        self._redis()
        reply = await self._call(self._claim, [self._epoch, self._claims], [epoch, name, limit])
        return bool(reply)

    async def claims(self) -> dict[str, int]:
        """How often each name was claimed this epoch."""
        raw = await self._plain("hgetall", self._claims)
        return {name.decode(): int(count) for name, count in raw.items()}

    async def ping(self) -> bool:
        """Whether the store answers."""
        try:
            return bool(await self._redis().ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Release connections."""
        await self._pipe.close()
        if self._client is not None:
            client, self._client = self._client, None
            self._opened = False
            await client.aclose()
            await client.connection_pool.disconnect()

    async def _plain(self, command: str, *args: Any) -> Any:
        client = self._redis()
        try:
            return await getattr(client, command)(*args)
        except (RedisError, OSError) as error:
            raise StoreUnavailable(
                f"langdock-mock: the shared store at {self._url} is unavailable "
                f"({type(error).__name__}); retry when it is back"
            ) from None


def _usage_sums(flat: list[bytes]) -> dict[str, tuple[int, int, int]]:
    # HGETALL of the usage hash: r<key>, i<key>, o<key> fields, each with its count.
    counts: dict[str, list[int]] = {}
    for i in range(0, len(flat), 2):
        name = flat[i].decode()
        counts.setdefault(name[1:], [0, 0, 0])["rio".index(name[0])] = int(flat[i + 1])
    return {key: (r, i, o) for key, (r, i, o) in counts.items()}


def _outcome(answer: list[Any]) -> Outcome:
    allowed, reason, used_r, used_t, retry, seq = answer[:6]
    return Outcome(allowed == 1, reason.decode(), int(used_r), int(used_t), float(retry), int(seq))
