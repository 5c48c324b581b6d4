"""Exchange: one API request as the endpoints read it, straight off the ASGI scope.

The API's hot path needs five things of a request: its method, path, a few headers, the query
and the body. Reading them off the scope (and the body off ``receive``) costs a fraction of
building Starlette's ``Request`` and its ``Headers``, and works the same under any ASGI server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.datastructures import URL

from mockserver.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from mockserver.faults.rules import Fault
    from mockserver.schemas import Operation

__all__ = ["Exchange", "Receive", "Replayable", "Scope", "credential", "url_path"]

# Characters Starlette escapes (or urlsplit drops) when it builds request.url.
_ODD_PATH = re.compile(r"[?#\\\t\r\n]")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class Exchange:
    """The request side of one HTTP exchange: method, path, headers, query and body."""

    __slots__ = ("_headers", "_query", "fault", "method", "path", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self._query: dict[str, str] | None = None
        self._headers: dict[bytes, bytes] | None = None
        self.fault: Fault | None = None  # drawn for this request by faults.delivery.enact

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower-case, as ASGI gives names), or None."""
        headers = self._headers
        if headers is None:
            # Reversed, so a repeated header keeps its first value, as Starlette's Headers do.
            headers = self._headers = dict(reversed(self.scope["headers"]))
        value = headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def query(self) -> dict[str, str]:
        """The query parameters; a repeated name keeps its last value (as Starlette's does)."""
        if self._query is None:
            raw = self.scope.get("query_string", b"")
            self._query = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        return self._query

    def _refuse_declared(self, limit: int) -> None:
        declared = self.header(b"content-length")
        # ASCII digits only ('²' is a digit to str.isdigit, not to int), and a length past 18
        # digits is over any limit without int(), which refuses 4,300 digits and more.
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and (len(declared) > 18 or int(declared) > limit)
        ):
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")

    async def body(self, limit: int) -> bytes:
        """The raw body, refused with 413 as soon as it passes ``limit`` bytes.

        A client that hangs up mid-body gets a 400 that nobody will read, journaled as such.
        """
        self._refuse_declared(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":  # http.disconnect
                raise BadRequest("Client disconnected before sending the whole body")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def stream(self, limit: int) -> AsyncGenerator[bytes, None]:
        """The raw body chunk by chunk, as the client sends it; 413 the moment it passes
        ``limit`` (or at once if Content-Length says it will). Nothing is kept here.

        After the 413 is sent the server drops the rest of the body unread (uvicorn discards
        data for a finished response), so a client still sending gets the answer when done.
        """
        self._refuse_declared(limit)
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                raise BadRequest("Client disconnected before sending the whole body")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class Replayable:
    """A request's ``receive`` that keeps what it hands out, so the request can be read again.

    A completion under a shared store may be answered a second time (``again``) after the
    store refused its first answer: the body comes from here, the rest from the server.
    """

    __slots__ = ("_at", "_kept", "_receive")

    def __init__(self, receive: Receive, kept: list[MutableMapping[str, Any]] | None = None):
        self._receive = receive
        self._kept = [] if kept is None else kept
        self._at = 0

    async def __call__(self) -> MutableMapping[str, Any]:
        """The next message: one kept from before, else the server's (and kept)."""
        at = self._at
        self._at = at + 1
        if at < len(self._kept):
            return self._kept[at]
        message = await self._receive()
        self._kept.append(message)
        return message

    def again(self) -> Replayable:
        """The same messages from the first."""
        return Replayable(self._receive, self._kept)


def credential(exchange: Exchange, operation: Operation | None) -> str | None:
    """The Authorization header, else a provider's own key header (x-api-key) as a Bearer key."""
    header = exchange.header(b"authorization")
    if header is None and operation is not None:
        for name in operation.key_headers:
            key = exchange.header(name)
            if key is not None:
                return f"Bearer {key}"
    return header


def url_path(scope: Scope) -> str:
    """``request.url.path`` without building the URL (a twentieth of a completion's cost)."""
    path: str = scope["path"]
    return URL(scope=scope).path if _ODD_PATH.search(path) else path
