"""The upstream: one pooled httpx transport, explicit timeouts, and its failures as 502/504 errors.

Only the proxy imports this module (``serve``, with or without ``--replay``, never needs httpx).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import anyio
import httpx

from mockserver.errors import ApiError, BadGateway, GatewayTimeout

__all__ = ["Upstream", "request_headers", "response_headers"]

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
# The proxy reads (and checks) the body, so it asks for the encodings httpx decodes with the
# standard library whatever the client accepts; the client gets the decoded body.
_NOT_FORWARDED = _HOP | {b"accept-encoding"}
_ACCEPT_ENCODING = (b"accept-encoding", b"gzip, deflate")
# The server in front sets its own date and server; X-Mock-* are the proxy's to say.
_NOT_RETURNED = _HOP | {
    b"content-encoding",
    b"date",
    b"server",
    b"x-mock-warnings",
    b"x-mock-drift",
}


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The client's headers for the upstream: its own Authorization included, mock headers not."""
    return [
        (name, value)
        for name, value in raw
        if name not in _NOT_FORWARDED and not name.startswith(b"x-mock-")
    ]


def response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's headers for the client, less hop-by-hop ones and the body's encoding."""
    return [(name.lower(), value) for name, value in raw if name.lower() not in _NOT_RETURNED]


class Upstream:
    """The real API (or a stand-in) behind the proxy; the transport is made on first use.

    One ``httpx.AsyncHTTPTransport`` per proxy, so connections are pooled and kept alive; made
    lazily inside the server's event loop, closed by ``aclose`` at shutdown. The transport, not
    an ``httpx.AsyncClient``: a client keeps a cookie jar, so one caller's ``Set-Cookie`` would be
    sent on every later caller's request, and its auth, redirect and URL-merging steps (none of
    which a proxy wants) cost more than the HTTP exchange itself on a local upstream.
    """

    def __init__(self, base_url: str, *, timeout: float, connect_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
        self._url = httpx.URL(self.base_url)
        self._prefix = self._url.raw_path.rstrip(b"/")
        self._extensions = {"timeout": self.timeout.as_dict()}
        self._transport: httpx.AsyncHTTPTransport | None = None

    def _http(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                trust_env=False,  # HTTP(S)_PROXY must not reroute a contract check
            )
        return self._transport

    async def open(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
    ) -> httpx.Response:
        """Send the request; the response's body is still to be read (``chunks``)."""
        transport = self._http()
        try:
            request = httpx.Request(
                method,
                self._url.copy_with(raw_path=self._prefix + target.encode("latin-1")),
                headers=[*headers, _ACCEPT_ENCODING],
                content=content,
                extensions=self._extensions,
            )
            return await transport.handle_async_request(request)
        except Exception as exc:
            raise self.failure(exc) from None

    async def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The body as it arrives, decoded; an upstream failure midway raises its ApiError."""
        try:
            async for chunk in response.aiter_bytes():
                if chunk:
                    yield chunk
        except Exception as exc:
            raise self.failure(exc) from None
        finally:
            with anyio.CancelScope(shield=True):  # closed even when the client hung up
                await response.aclose()

    def failure(self, exc: Exception) -> ApiError:
        """What an httpx failure is to the client: 504 for a timeout, 502 for the rest."""
        where = f"upstream {self.base_url}"
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return GatewayTimeout(
                f"Gateway timeout: could not connect to {where} within "
                f"{self.timeout.connect:g} s (upstream_connect_timeout)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return GatewayTimeout(
                f"Gateway timeout: {where} sent nothing for {self.timeout.read:g} s "
                "(upstream_timeout)"
            )
        if isinstance(exc, httpx.ConnectError):
            return BadGateway(f"Bad gateway: cannot connect to {where}: {exc or 'refused'}")
        if isinstance(exc, httpx.HTTPError):
            kind = type(exc).__name__
            return BadGateway(f"Bad gateway: {where} failed ({kind}): {exc or 'no detail'}")
        return BadGateway(f"Bad gateway: {where}: {exc!r}")

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
