"""The upstream: one pooled aiohttp session, explicit timeouts, and its failures as 502/504 errors.

Only the proxy imports this module (``serve``, with or without ``--replay``, never needs aiohttp).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp
import yarl
from aiohttp.abc import AbstractStreamWriter

from mockserver.errors import ApiError, BadGateway, GatewayTimeout

__all__ = ["Answer", "Upstream", "request_headers", "response_headers"]

# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy sets itself: never passed along.
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# The proxy reads (and checks) the body, so it asks for the encodings aiohttp decodes with the
# standard library whatever the client accepts; the client gets the decoded body.
_NOT_FORWARDED = _HOP | {b"accept-encoding"}
_ACCEPT_ENCODING = ("accept-encoding", "gzip, deflate")
# The server in front sets its own date and server; X-Mock-* are the proxy's to say.
_NOT_RETURNED = _HOP | {
    b"content-encoding",
    b"date",
    b"server",
    b"x-mock-warnings",
    b"x-mock-drift",
}
# aiohttp's own defaults for a request: the upstream gets only the client's headers (and ours).
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
# A body up to this size goes to the socket in one write, which never waits (aiohttp drains
# past it); a larger one is sent in slices of it, each within the timeout (``_Paced``).
_SLICE = 64 * 1024
# h11's (httpcore's) limit on a response head, so headers the old client took still pass.
_MAX_HEAD_LINE = 100 * 1024


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The client's headers for the upstream: its own Authorization included, mock headers not."""
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in raw
        if name not in _NOT_FORWARDED and not name.startswith(b"x-mock-")
    ]


def response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's headers for the client, less hop-by-hop ones and the body's encoding."""
    return [(name.lower(), value) for name, value in raw if name.lower() not in _NOT_RETURNED]


@dataclass(frozen=True, slots=True)
class Answer:
    """The upstream's status and head; its body is still to be read (``Upstream.chunks``)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]  # as received
    content_type: str | None
    response: aiohttp.ClientResponse


class Upstream:
    """The real API (or a stand-in) behind the proxy; the session is made on first use.

    One ``aiohttp.ClientSession`` per proxy, so connections are pooled and kept alive; made
    lazily inside the server's event loop, closed by ``aclose`` at shutdown. aiohttp, with its C
    HTTP parser, takes a quarter of httpx's CPU per exchange (``bench/clients.py``).
    The session keeps no cookies (``DummyCookieJar``): one caller's ``Set-Cookie`` must never be
    sent on another caller's request. It follows no redirects and reads no proxy from the
    environment (HTTP(S)_PROXY must not reroute a contract check).
    """

    def __init__(self, base_url: str, *, timeout: float, connect_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.read_timeout = timeout
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=200,
                keepalive_timeout=5.0,  # an idle connection's life, as httpx kept it
                ssl=_verified() if self.base_url.startswith("https:") else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                # connect: a connection from the pool, new or kept; sock_read: each wait for
                # the upstream's next bytes, from the end of the request on.
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.connect_timeout, sock_read=self.read_timeout
                ),
                skip_auto_headers=_NO_AUTO_HEADERS,
                max_line_size=_MAX_HEAD_LINE,
                max_field_size=_MAX_HEAD_LINE,
                trust_env=False,
            )
        return self._session

    async def open(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        content: bytes,
    ) -> Answer:
        """Send the request; the response's body is still to be read (``chunks``)."""
        session = self._http()
        # A small body goes out in one write that never waits: sock_read covers the rest.
        body = _Paced(content, self.read_timeout) if len(content) > _SLICE else content or None
        try:
            response = await session.request(
                method,
                yarl.URL(self.base_url + target, encoded=True),  # the client's path, as sent
                headers=[*headers, _ACCEPT_ENCODING],
                data=body,
                allow_redirects=False,
            )
        except Exception as exc:
            raise self.failure(exc) from None
        return Answer(
            response.status,
            response.raw_headers,
            response.headers.get("content-type"),
            response,
        )

    async def chunks(self, answer: Answer) -> AsyncIterator[bytes]:
        """The body as it arrives, decoded; an upstream failure midway raises its ApiError."""
        response = answer.response
        try:
            async for chunk in response.content.iter_any():
                yield chunk
        except Exception as exc:
            raise self.failure(exc) from None
        finally:
            # Back to the pool when read to the end; closed when not (the client hung up).
            response.release()

    def failure(self, exc: Exception) -> ApiError:
        """What an aiohttp failure is to the client: 504 for a timeout, 502 for the rest."""
        where = f"upstream {self.base_url}"
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return GatewayTimeout(
                f"Gateway timeout: could not connect to {where} within "
                f"{self.connect_timeout:g} s (upstream_connect_timeout)"
            )
        if isinstance(exc, asyncio.TimeoutError):  # aiohttp's SocketTimeoutError among them
            return GatewayTimeout(
                f"Gateway timeout: {where} sent nothing for {self.read_timeout:g} s "
                "(upstream_timeout)"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return BadGateway(f"Bad gateway: cannot connect to {where}: {exc.os_error}")
        if isinstance(exc, aiohttp.ClientError):
            kind = type(exc).__name__
            return BadGateway(f"Bad gateway: {where} failed ({kind}): {exc or 'no detail'}")
        return BadGateway(f"Bad gateway: {where}: {exc!r}")

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Paced(aiohttp.Payload):
    """A large body written in slices, each within the upstream timeout.

    aiohttp has no write timeout: an upstream that stops reading would hold the request, and
    closing its connection waits for the unsent bytes, forever. A slice the upstream does not
    take in time aborts the connection, and the request fails as a timeout (504).
    """

    _autoclose = True  # bytes in memory: nothing to close

    def __init__(self, content: bytes, timeout: float) -> None:
        super().__init__(content)  # not BytesPayload, which warns of large bodies
        self._value: bytes = content
        self._size = len(content)
        self._timeout = timeout

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._value.decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        view = memoryview(self._value)[:content_length]
        for start in range(0, len(view), _SLICE):
            try:
                async with asyncio.timeout(self._timeout):
                    await writer.write(view[start : start + _SLICE])
            except TimeoutError:
                if writer.transport is not None:
                    writer.transport.abort()
                raise


def _verified() -> ssl.SSLContext:
    """Certificates checked against certifi's bundle, as httpx checked them."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
