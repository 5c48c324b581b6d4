"""The proxy's upstream hop alone: client CPU per exchange, for each asyncio HTTP/1.1 client.

A `langdock-mock serve` upstream on loopback answers the bench's completion; this process calls
it sequentially on one kept-alive connection with each client in turn, reading the whole
(decoded) body and its headers as the proxy does, on uvloop as the proxy's uvicorn runs. The
figure is this process's own CPU time per exchange (``time.process_time``, every thread), which
a busy machine does not inflate the way it inflates waiting. The upstream's CPU is not counted.

Run: `python bench/clients.py` (about a minute); clients not installed are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from harness import COMPLETIONS, KEY, VALID_BODY, Process, free_port, request_bytes

ROOT = Path(__file__).resolve().parent.parent
HUGE_LIMITS = ("--rpm", "100000000", "--tpm", "10000000000")
HEADERS = [
    (b"content-type", b"application/json"),
    (b"authorization", f"Bearer {KEY}".encode()),
    (b"accept-encoding", b"gzip, deflate"),
]
Exchange = Callable[[], Awaitable[int]]
Client = Callable[[str], Awaitable[tuple[Exchange, Callable[[], Awaitable[None]]]]]


async def httpx_transport(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """Today's proxy: an ``httpx.Request`` on a pooled ``AsyncHTTPTransport``."""
    import httpx

    transport = httpx.AsyncHTTPTransport(trust_env=False)
    target = httpx.URL(url + COMPLETIONS)
    extensions = {"timeout": httpx.Timeout(30.0).as_dict()}

    async def exchange() -> int:
        request = httpx.Request(
            "POST", target, headers=HEADERS, content=VALID_BODY, extensions=extensions
        )
        response = await transport.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
        await response.aclose()
        assert body
        assert response.headers.get("content-type")
        return response.status_code

    return exchange, transport.aclose


async def httpx2_transport(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """The same on httpx2's transport (httpcore2; the provider SDKs' client)."""
    import httpx2

    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    target = httpx2.URL(url + COMPLETIONS)

    async def exchange() -> int:
        request = httpx2.Request("POST", target, headers=HEADERS, content=VALID_BODY)
        response = await transport.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
        await response.aclose()
        assert body
        return response.status_code

    return exchange, transport.aclose


async def httpcore_pool(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """httpcore's pool directly, no ``httpx.Response`` (no content decoding)."""
    import httpcore

    pool = httpcore.AsyncConnectionPool()
    target = (url + COMPLETIONS).encode()

    async def exchange() -> int:
        response = await pool.request("POST", target, headers=HEADERS, content=VALID_BODY)
        assert response.content
        return response.status

    return exchange, pool.aclose


async def aiohttp_session(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """``aiohttp.ClientSession`` without a cookie jar, as a proxy would hold it."""
    import aiohttp

    session = aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
    )
    target = url + COMPLETIONS
    headers = [(k.decode(), v.decode()) for k, v in HEADERS]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)

    async def exchange() -> int:
        async with session.request(
            "POST", target, headers=headers, data=VALID_BODY, timeout=timeout
        ) as response:
            body = b"".join([chunk async for chunk in response.content.iter_any()])
            assert body
            assert response.headers.get("content-type")
            return response.status

    return exchange, session.close


async def aiohttp_raw(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """The same session given a ``yarl.URL`` built once (``encoded=True``) and ``read()``."""
    import aiohttp
    import yarl

    session = aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
    )
    target = yarl.URL(url + COMPLETIONS, encoded=True)
    headers = [(k.decode(), v.decode()) for k, v in HEADERS]

    async def exchange() -> int:
        async with session.request("POST", target, headers=headers, data=VALID_BODY) as response:
            body = await response.read()
            assert body
            return response.status

    return exchange, session.close


async def aiosonic_client(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """aiosonic's ``HTTPClient`` (pure Python, its own pool)."""
    import aiosonic

    client = aiosonic.HTTPClient()
    target = url + COMPLETIONS
    headers = {k.decode(): v.decode() for k, v in HEADERS}

    async def exchange() -> int:
        response = await client.post(target, headers=headers, data=VALID_BODY)
        body = await response.content()
        assert body
        return response.status_code

    async def close() -> None:
        await client.connector.cleanup()

    return exchange, close


async def pyreqwest_client(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """pyreqwest: Rust's reqwest (hyper, tokio threads); their CPU is counted too."""
    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().build()
    target = url + COMPLETIONS
    headers = {k.decode(): v.decode() for k, v in HEADERS}

    async def exchange() -> int:
        async with (
            client.post(target).headers(headers).body_bytes(VALID_BODY).build_streamed() as response
        ):
            body = await response.bytes()
            assert body
            return response.status

    return exchange, client.close


async def streams_floor(url: str) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    """The floor, no client library: asyncio streams, one fixed request, Content-Length only."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    raw = request_bytes(COMPLETIONS, VALID_BODY, port=int(port))

    async def exchange() -> int:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    async def close() -> None:
        writer.close()

    return exchange, close


CLIENTS: dict[str, Client] = {
    "httpx transport": httpx_transport,
    "httpx2 transport": httpx2_transport,
    "httpcore pool": httpcore_pool,
    "aiohttp session": aiohttp_session,
    "aiohttp session, read()": aiohttp_raw,
    "aiosonic": aiosonic_client,
    "pyreqwest": pyreqwest_client,
    "asyncio streams (floor)": streams_floor,
}


async def _measure(client: Client, url: str, requests: int, rounds: int) -> list[float]:
    exchange, close = await client(url)
    try:
        for _ in range(50):  # warm-up: the connection, first paths
            assert await exchange() == 200
        figures = []
        for _ in range(rounds):
            began = time.process_time()
            for _ in range(requests):
                assert await exchange() == 200
            figures.append((time.process_time() - began) * 1e6 / requests)
        return figures
    finally:
        await close()


def main(argv: list[str] | None = None) -> int:
    """Start the upstream, measure every installed client, print a table (µs of CPU each)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000, help="exchanges per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", help="a client's name (repeatable)")
    args = parser.parse_args(argv)
    port = free_port()
    upstream = Process(
        "upstream",
        [sys.executable, "-m", "mockserver", "serve", "--port", str(port), *HUGE_LIMITS],
        port,
        request_bytes(COMPLETIONS, VALID_BODY, port=port),
        ROOT,
    )
    rows = []
    with upstream:
        for name, client in CLIENTS.items():
            if args.only and name not in args.only:
                continue
            try:
                figures = uvloop.run(
                    _measure(client, f"http://127.0.0.1:{port}", args.requests, args.rounds)
                )
            except ImportError as missing:
                rows.append(f"| {name} | not installed ({missing.name}) | |")
                continue
            rows.append(
                f"| {name} | {statistics.median(figures):.0f} | "
                + " ".join(f"{f:.0f}" for f in figures)
                + " |"
            )
    sys.stdout.write(
        "\n".join(["| client | CPU µs per exchange (median) | rounds |", "|---|---|---|", *rows])
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
