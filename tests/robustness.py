"""Shared by the robustness tests: bounded timeouts, request bodies, bursts, the raw ASGI driver."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from mockserver import MockServer

KEY = "sk-ld-mock"
AUTH = {"Authorization": f"Bearer {KEY}"}
COMPLETIONS = "/assistant/v1/chat/completions"
CREATE = "/assistant/v1/create"
HUGE: dict[str, Any] = {"default_rpm": 100_000_000, "default_tpm": 10_000_000_000}
TIMEOUT = 30.0  # per request; every wait below is bounded, so a deadlock fails instead of hanging


def inline(text: str = "hello", **extra: Any) -> dict[str, Any]:
    """An Assistants completion body with an inline assistant."""
    return {
        "assistant": {"name": "Robust", "instructions": "Be brief."},
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def burst(
    url: str, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[int, bytes, str]]:
    """Send every request at once, each on its own connection; (status, body, content type)."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=url, headers=AUTH, timeout=TIMEOUT, limits=limits
    ) as http:

        async def one(method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
            async with http.stream(method, path, json=body) as response:
                content = await response.aread()
                return response.status_code, content, response.headers.get("content-type", "")

        jobs = [one(*request) for request in requests]
        return await asyncio.wait_for(asyncio.gather(*jobs), TIMEOUT * 2)


def connections(server: MockServer) -> int:
    # uvicorn's own count of open connections: the only way to see a leaked one from outside.
    assert server._server is not None
    return len(server._server.server_state.connections)


def drained(server: MockServer, *, keep: int = 0) -> bool:
    """Wait (bounded) until the server holds at most ``keep`` connections."""
    done = threading.Event()
    for _ in range(500):
        if connections(server) <= keep:
            return True
        done.wait(0.02)
    return False


class Asgi:
    """Call the app directly on one event loop: the fast way to send thousands of requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.sent = 0
        self.statuses: dict[int, int] = {}

    def close(self) -> None:
        """Cancel what the app left running (sse-starlette's shutdown watcher), close the loop."""
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def __call__(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        query: str = "",
        client: str = "127.0.0.1",
    ) -> tuple[int, bytes]:
        """(status, body) of one request."""
        merged = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        raw = [(k.encode(), v.encode("latin-1")) for k, v in merged.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        status, content = self.loop.run_until_complete(
            asyncio.wait_for(self._call(method, path, body, raw, query, client), TIMEOUT)
        )
        self.sent += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status, content

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        query: str,
        client: str,
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": (client, 40000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        delivered = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected until the answer ends
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)
