"""MockServer: the mock on a real socket in a background thread, and the handle tests drive."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson
import uvicorn

from mockserver.api.scripted import ABSENT, ReplyMatch, ScriptedReply
from mockserver.asgi.app import create_app
from mockserver.config import ALL_SCOPES, Settings, load_settings
from mockserver.errors import MockServerError
from mockserver.faults import rules as faults
from mockserver.journal import JournalEntry
from mockserver.state import MockState

if TYPE_CHECKING:
    from mockserver.stores.replica import Replica

__all__ = ["MockServer", "ProxyServer", "RecordedRequest"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A journal entry as a test sees it."""

    method: str
    path: str
    operation: str | None
    status: int
    json: Any
    query: dict[str, str]
    key: str | None
    workspace: str | None
    warnings: tuple[str, ...]
    errors: tuple[dict[str, Any], ...]

    @classmethod
    def of_json(cls, item: dict[str, Any]) -> RecordedRequest:
        """From a journal entry's wire form (as a shared store keeps it)."""
        return cls(
            item["method"],
            item["path"],
            item["operation"],
            item["status"],
            item["body"],
            item["query"],
            item["key"],
            item["workspace"],
            tuple(item["warnings"]),
            tuple(item["errors"]),
        )

    @classmethod
    def of(cls, entry: JournalEntry) -> RecordedRequest:
        """From a journal entry."""
        return cls(
            entry.method,
            entry.path,
            entry.operation,
            entry.status,
            entry.body,
            entry.query,
            entry.key,
            entry.workspace,
            tuple(warning.message for warning in entry.warnings),
            tuple(error.as_json() for error in entry.errors),
        )


class _Server(uvicorn.Server):
    replica: Replica | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        finally:  # the shared store's connections belong to this loop: close them on it
            if self.replica is not None:
                await self.replica.store.close()


class MockServer:
    """uvicorn in a daemon thread on 127.0.0.1 and a free port (``with MockServer() as server:``).

    Built from embedded defaults plus keyword overrides of ``Settings`` fields; the clock is frozen
    unless ``freeze_clock=False``, so tests move time with ``advance_clock`` instead of sleeping.
    ``MockServer(store="redis://HOST:PORT/DB")`` shares state with every other server (or
    ``serve`` process) of the same ``store_namespace``.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        overrides.setdefault("freeze_clock", True)
        base = settings or load_settings(env={})
        self.settings = base.replace(**overrides) if overrides else base
        self.app: Any = self._create_app()
        self.state: MockState = self.app.state.mock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._api_key: str | None = None
        self.url = ""

    _lifespan: Literal["on", "off"] = "off"

    def _create_app(self) -> Any:
        if self.settings.replay is not None:
            from mockserver.asgi.replay_app import create_replay_app

            return create_replay_app(self.settings)
        return create_app(self.settings)

    # Life cycle.
    def start(self, timeout: float = 10.0) -> MockServer:
        """Bind, serve in a thread, and return once requests are answered."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port if self.settings.port != 8080 else 0))
        host, port = sock.getsockname()[:2]
        # uvicorn installs no signal handlers outside the main thread, so none to switch off here.
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan=self._lifespan,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        server.replica = self.app.state.replica
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"langdock-mock:{port}", daemon=True
        )
        thread.start()
        started = threading.Event()
        for _ in range(int(timeout / 0.005)):
            if server.started or not thread.is_alive():
                started.set()
                break
            started.wait(0.005)
        if not server.started:
            server.should_exit = True
            raise MockServerError(f"langdock-mock did not start on {host}:{port}")
        self._server, self._thread = server, thread
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Finish in-flight requests and stop the thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # State.
    @property
    def api_key(self) -> str:
        """The test's key: the embedded one (every scope, admin rights) unless one was assigned."""
        return self._api_key or self.settings.api_key

    @api_key.setter
    def api_key(self, key: str) -> None:
        # The pytest marker's scopes= hands the test a narrower key; reset() undoes it.
        self._api_key = key

    def _shared(self, work: Callable[[Replica], Awaitable[T]]) -> T:
        # Under a shared store, from this (the test's) thread: connections of its own on a loop
        # of its own, starting where the serving replica is, so nothing is replayed twice.
        from mockserver.stores.replica import open_replica

        serving: Replica = self.app.state.replica

        async def run() -> T:
            replica = open_replica(self.state)
            replica.epoch, replica.cursor = serving.epoch, serving.cursor
            try:
                return await work(replica)
            finally:
                await replica.store.close()

        return asyncio.run(run())

    @property
    def _store(self) -> bool:
        return self.app.state.replica is not None

    def reset(self) -> None:
        """Back to the start-up configuration (fast: no schema work); a shared store's namespace."""
        if self._store:
            self._shared(lambda replica: replica.reset())
        else:
            self.state.reset()
        self._api_key = None

    @contextlib.contextmanager
    def isolated(self) -> Iterator[MockServer]:
        """Snapshot on entry, restore on exit: one Hypothesis example cannot leak into the next."""
        if self._store:
            raise MockServerError("isolated() needs the memory store; reset() works with both")
        snapshot = self.state.snapshot()
        try:
            yield self
        finally:
            self.state.restore(snapshot)

    def add_key(
        self,
        key: str | None = None,
        *,
        scopes: Sequence[str] = ALL_SCOPES,
        workspace: str = "default",
        admin: bool = False,
        kind: str = "workspace",
    ) -> str:
        """A new key with the given scopes in a workspace (created if new); returns the key.

        ``kind="personal"`` makes a user's key, which carries only COMPLETION_API.
        """

        def add() -> str:
            made = self.state.add_key(
                key, workspace=workspace, scopes=tuple(scopes), admin=admin, kind=kind
            )
            return made.key

        return self._change(add)

    def _change(self, change: Callable[[], T]) -> T:
        # A change to the state: made here, or made and committed for every replica.
        if self._store:
            return self._shared(lambda replica: replica.run(change))
        with self.state.lock:  # its ids: from its place in the order of changes, as in Redis
            self.state.draw_for(-self.state.next_change())
            return change()

    def share(self, key: str, assistant_id: str) -> None:
        """Share an assistant or agent with a key, as the UI's Share dialog does."""
        self._change(lambda: self.state.share(key, assistant_id))

    def add_folder(
        self,
        folder_id: str | None = None,
        *,
        workspace: str = "default",
        name: str | None = None,
        shared_with: Sequence[str] | None = None,
        editors: Sequence[str] | None = None,
    ) -> str:
        """A new knowledge folder (shared with, and editable by, the whole workspace unless keys
        are named); returns its id."""
        return self._change(
            lambda: (
                self.state.add_folder(
                    workspace,
                    folder_id=folder_id,
                    name=name,
                    shared_with=None if shared_with is None else list(shared_with),
                    editors=None if editors is None else list(editors),
                ).id
            )
        )

    def set_limits(
        self,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        workspace: str = "default",
        model: str | None = None,
    ) -> None:
        """Requests and/or tokens per minute for a workspace (one model, or all)."""

        def change() -> None:
            with self.state.lock:
                current = self.state.limiter.limits_for(workspace, model or "")
                self.state.set_limits(
                    workspace,
                    model,
                    rpm if rpm is not None else current[0],
                    tpm if tpm is not None else current[1],
                )

        self._change(change)

    def advance_clock(self, seconds: float) -> float:
        """Move the mock clock forward; returns the new time."""
        return self._change(lambda: self.state.clock.advance(seconds))

    def reply_with(
        self,
        text: str | Sequence[str] | Callable[[dict[str, Any]], str] | None = None,
        *,
        assistant_id: str | None = None,
        agent_id: str | None = None,
        contains: str | None = None,
        times: int | None = None,
        tools: Sequence[dict[str, Any]] = (),
        output: Any = ABSENT,
    ) -> None:
        """Script replies: a text (every match, or ``times``), a sequence (one each), a function."""
        match = ReplyMatch(assistant_id, agent_id, contains)
        state = self.state

        def add() -> None:
            with state.lock:
                if isinstance(text, (list, tuple)):
                    for item in text:
                        state.script.add(
                            ScriptedReply(state.new_id(), item, match, 1, tuple(tools), output)
                        )
                    return
                responder = text if callable(text) else None
                fixed = text if isinstance(text, str) else None
                state.script.add(
                    ScriptedReply(
                        state.new_id(), fixed, match, times, tuple(tools), output, responder
                    )
                )

        self._change(add)  # under a shared store, queued for every replica

    def add_fault(self, rule: Mapping[str, Any]) -> str:
        """Add a fault rule (the JSON POST /__admin/faults takes); returns its id."""
        return self._change(lambda: faults.add_fault(self.state, rule).id)

    def clear_faults(self) -> None:
        """Drop every fault rule."""
        self._change(lambda: faults.clear_faults(self.state))

    def fail_next(self, status: int = 503, *, times: int = 1, path: str | None = None) -> str:
        """Answer the next ``times`` API requests (to ``path``, ``*`` allowed) with ``status``."""
        rule: dict[str, Any] = {"action": {"status": status}, "times": times}
        if path is not None:
            rule["match"] = {"path": path}
        return self.add_fault(rule)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The journal, oldest first."""
        if self._store:

            async def journal(replica: Replica) -> list[tuple[int, bytes]]:
                return await replica.store.journal()

            entries = self._shared(journal)
            return [RecordedRequest.of_json(orjson.loads(raw)) for _, raw in entries]
        with self.state.lock:
            return [RecordedRequest.of(e) for e in self.state.journal.entries()]

    def assert_called(
        self, path: str, *, times: int | None = None, method: str | None = None
    ) -> None:
        """Fail unless ``path`` (with or without /api/public) was requested (``times`` times)."""
        seen = [
            r
            for r in self.requests
            if r.path in (path, "/api/public" + path) and (method is None or r.method == method)
        ]
        if times is None and not seen:
            raise AssertionError(f"{path} was never requested; journal: {self._summary()}")
        if times is not None and len(seen) != times:
            raise AssertionError(
                f"{path} was requested {len(seen)} time(s), expected {times}; "
                f"journal: {self._summary()}"
            )

    def assert_not_called(self, path: str) -> None:
        """Fail if ``path`` was requested."""
        self.assert_called(path, times=0)

    def _summary(self) -> str:
        return (
            ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]) or "empty"
        )

    def check_failures(self) -> None:
        """Raise if the mock itself failed while serving (a bug in the mock, not in the client)."""
        with self.state.lock:
            failures = list(self.state.failures)
            self.state.failures.clear()
        if failures:
            raise MockServerError("langdock-mock failed while serving:\n" + "\n".join(failures))


class ProxyServer(MockServer):
    """The validation proxy in a thread: ``ProxyServer(upstream=url, record=path)``.

    Every API request goes to ``upstream``; the journal, the admin API and ``requests`` work as
    on a ``MockServer``. The clock runs (recordings carry real times) unless told otherwise.
    """

    _lifespan: Literal["on", "off"] = "on"  # the pooled upstream client is closed at shutdown

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        overrides.setdefault("freeze_clock", False)
        super().__init__(settings, **overrides)

    def _create_app(self) -> Any:
        from mockserver.asgi.proxy_app import create_proxy_app

        return create_proxy_app(self.settings)
