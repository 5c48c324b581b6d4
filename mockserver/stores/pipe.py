"""ScriptPipe: one Redis connection pipelining the hot path's script calls, hiredis both ways."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import RedisSSLContext, parse_url
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

__all__ = ["Script", "ScriptPipe"]

Arg = str | int | float | bytes

# A call waiting for its reply: its future, and the script to send again as EVAL if the
# server answers NOSCRIPT (a restarted Redis forgot it); None for a plain command.
_Waiting = tuple["asyncio.Future[Any]", "Script | None", Sequence[Arg], Sequence[Arg]]


class Script:
    """A Lua script and its SHA1, as EVALSHA names it."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text.encode()
        self.sha = hashlib.sha1(self.text).hexdigest().encode()


class ScriptPipe(asyncio.Protocol):
    """Script calls of one process on one connection, in order, many to a write.

    redis-py's pipeline cost a serving replica more CPU than its HTTP handling (a pipeline
    object, a coroutine and a timeout context per reply, Python packing per argument): here a
    call is one C packing step and a future; the calls made in one turn of the event loop leave
    in one write, and every reply that arrives in one read is handed out in that read's turn.
    Redis runs them in the order written, each script atomic.

    A reply not back within ``timeout`` seconds drops the connection and fails every call
    waiting on it (bounded, never a hang); the next call connects afresh. A call is never sent
    twice after a lost connection: it may have run.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.writes = 0  # writes to Redis: the network round trips of the hot path
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._reader = hiredis.Reader()
        self._waiting: deque[_Waiting] = deque()
        self._out: list[bytes] = []
        self._sent = self._answered = 0
        self._deadlines: deque[tuple[float, int]] = deque()  # (deadline, calls sent by then)
        self._timer: asyncio.TimerHandle | None = None

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run ``script`` (loaded by its first NOSCRIPT answer) and return its reply."""
        if self._transport is None:
            await self._connect()
        return await self._queue(
            (b"EVALSHA", script.sha, len(keys), *keys, *args), script, keys, args
        )

    # The connection.
    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = dict(parse_url(self.url))
        path = options.get("path")
        if path is not None:
            made = loop.create_unix_connection(lambda: self, path)
        else:
            ssl = _ssl_context(options) if self.url.startswith("rediss://") else None
            host, port = options.get("host", "localhost"), options.get("port", 6379)
            made = loop.create_connection(lambda: self, host, port, ssl=ssl)
        try:
            await asyncio.wait_for(made, self.timeout)
        except TimeoutError:
            raise RedisTimeout(f"no connection to {self.url} within {self.timeout} s") from None
        handshake = []
        if options.get("password") is not None:
            user = options.get("username")
            auth = (b"AUTH", user, options["password"]) if user else (b"AUTH", options["password"])
            handshake.append(self._queue(auth))
        if options.get("db"):
            handshake.append(self._queue((b"SELECT", options["db"])))
        try:
            await asyncio.gather(*handshake)
        except BaseException:
            await self.close()  # never serve calls on a connection that refused the handshake
            raise

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Connected: calls queued from now on go out on this transport."""
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self._reader = hiredis.Reader()

    def connection_lost(self, exc: Exception | None) -> None:
        """Every call still waiting fails; the next one connects again."""
        self._transport = None
        self._fail(ConnectionError(f"connection to {self.url} lost"))

    def _fail(self, error: Exception) -> None:
        waiting, self._waiting = self._waiting, deque()
        self._out.clear()
        self._deadlines.clear()
        self._sent = self._answered = 0
        for future, *_ in waiting:
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        """Close the connection (calls still waiting fail)."""
        transport, self._transport = self._transport, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if transport is not None:
            transport.close()
        self._fail(ConnectionError(f"connection to {self.url} closed"))

    # Sending.
    def _queue(
        self,
        command: tuple[Arg | None, ...],
        script: Script | None = None,
        keys: Sequence[Arg] = (),
        args: Sequence[Arg] = (),
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._transport is None:
            future.set_exception(ConnectionError(f"not connected to {self.url}"))
            return future
        if not self._out:
            loop.call_soon(self._flush)
        self._out.append(hiredis.pack_command(command))  # type: ignore[arg-type]  # Reason: the stub types a 1-tuple
        self._waiting.append((future, script, keys, args))
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not out or self._transport is None:
            return
        self.writes += 1
        self._transport.write(b"".join(out))
        self._sent += len(out)
        self._deadlines.append((time.monotonic() + self.timeout, self._sent))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.timeout, self._check)

    def _check(self) -> None:
        # One timer for all writes: the oldest write still unanswered sets when it fires next.
        self._timer = None
        deadlines = self._deadlines
        while deadlines and deadlines[0][1] <= self._answered:
            deadlines.popleft()
        if not deadlines:
            return
        deadline, _ = deadlines[0]
        now = time.monotonic()
        if now < deadline:
            self._timer = asyncio.get_running_loop().call_later(deadline - now, self._check)
            return
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()
        self._fail(RedisTimeout(f"no answer from {self.url} within {self.timeout} s"))

    # Receiving.
    def data_received(self, data: bytes) -> None:
        """Hand out every reply complete in ``data``, in the order the calls were sent."""
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        while (reply := reader.gets()) is not False:
            future, script, keys, args = waiting.popleft()
            self._answered += 1
            if isinstance(reply, hiredis.ReplyError):
                if script is not None and str(reply).startswith("NOSCRIPT"):
                    again = self._queue((b"EVAL", script.text, len(keys), *keys, *args))
                    again.add_done_callback(functools.partial(_pass_on, future))
                    continue
                if not future.done():
                    future.set_exception(ResponseError(str(reply)))
            elif not future.done():
                future.set_result(reply)


def _pass_on(future: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    if future.done():
        return
    error = done.exception()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(done.result())


def _ssl_context(options: dict[str, Any]) -> Any:
    # rediss://: the TLS settings of the URL's query, with redis-py's defaults (verify the
    # certificate and the host name unless told otherwise).
    settings: dict[str, Any] = {"cert_reqs": "required", "check_hostname": True}
    for name, value in options.items():
        if name.startswith("ssl_"):
            settings[name.removeprefix("ssl_")] = value
    return RedisSSLContext(**settings).get()
