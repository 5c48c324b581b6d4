"""The proxy's ceiling: bare Starlette + uvicorn forwarding every request through aiohttp.

It does what `langdock-mock proxy` must do to pass a request on and nothing more: read the
body, send it upstream on one pooled `aiohttp.ClientSession` (the proxy's client), read the
answer, send it back. No checks, no journal, no recording: `bench/proxy.py` measures the proxy
against it, so the ratio is the cost of the proxy's own work over the HTTP hop itself.
"""

from __future__ import annotations

import argparse

import aiohttp
import uvicorn
import yarl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["create_app", "main"]

_DROPPED = frozenset({b"host", b"content-length", b"transfer-encoding", b"date", b"server"})


def create_app(upstream: str) -> Starlette:
    """Forward every POST to ``upstream`` on one pooled session (made in the server's loop)."""
    sessions: list[aiohttp.ClientSession] = []

    async def forward(request: Request) -> Response:
        if not sessions:
            sessions.append(
                aiohttp.ClientSession(
                    cookie_jar=aiohttp.DummyCookieJar(),
                    skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
                )
            )
        headers = [(k.decode(), v.decode()) for k, v in request.headers.raw if k not in _DROPPED]
        async with sessions[0].request(
            request.method,
            yarl.URL(upstream + request.url.path, encoded=True),
            headers=headers,
            data=await request.body(),
            allow_redirects=False,
        ) as answer:
            content = b"".join([chunk async for chunk in answer.content.iter_any()])
        kept = {k.decode(): v.decode() for k, v in answer.raw_headers if k.lower() not in _DROPPED}
        return Response(content, answer.status, headers=kept)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    """``python bench/forwarder.py --port N --upstream URL``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args(argv)
    # The settings `langdock-mock proxy` gives uvicorn (mockserver/cli.py).
    config = uvicorn.Config(
        create_app(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
