"""The ceiling: bare Starlette + uvicorn answering the completion route with fixed JSON."""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["app", "main"]


BODY = (
    b'{"result":[{"id":"e3e70682-c209-4cac-a29f-6fbed82c07cd","role":"assistant",'
    b'"content":[{"type":"text","text":"Article amount involve enough successful."}]}]}'
)


async def completions(request: Request) -> Response:
    """Read the body (any real endpoint must) and answer a fixed completion."""
    await request.body()
    return Response(BODY, 200, media_type="application/json")


app = Starlette(routes=[Route("/assistant/v1/chat/completions", completions, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    """``python bench/ceiling.py --port N``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    # The same settings `langdock-mock serve` gives uvicorn (mockserver/cli.py), so the two
    # processes differ only in the application they serve.
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
