"""Apps under uvicorn on 127.0.0.1 in a thread: stand-in upstreams for the proxy tests, and more."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@contextlib.contextmanager
def serving(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port for the block (``config``: uvicorn's); its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = {"log_level": "warning", "access_log": False, "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(2000):
        if server.started or not thread.is_alive():
            break
        ready.wait(0.005)
    assert server.started, "the stand-in upstream did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Canned:
    """An upstream that answers every request with one canned response and counts requests."""

    def __init__(self, status: int = 200, body: bytes = b"{}", media: str = "application/json"):
        self.status, self.body, self.media = status, body, media
        self.extra_headers: dict[str, str] = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.app = Starlette(
            routes=[Route("/{path:path}", self.answer, methods=["GET", "POST", "PATCH", "DELETE"])]
        )

    async def answer(self, request: Request) -> Response:
        self.seen.append(
            (request.method, request.url.path, dict(request.headers), await request.body())
        )
        return Response(self.body, self.status, self.extra_headers, media_type=self.media)
