"""Responses the API sends: pre-encoded JSON, the vendor-shaped body of an ApiError, the 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mockserver.errors import ApiError, InternalError, render
from mockserver.state import MockState

__all__ = ["JsonResponse", "error_response", "failure_response", "json_response"]


class JsonResponse(Response):
    """Starlette's ``Response`` for JSON already encoded, minus the generality every request paid.

    Its headers are built directly (no media-type or charset rules to apply) and it is sent as
    the two ASGI messages, nothing else (no background task, no WebSocket prefix).
    """

    media_type = "application/json"

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str] | None = None):
        self.status_code = status
        self.body = content
        self.background = None
        raw = [(b"content-length", str(len(content)).encode()), _JSON_CONTENT_TYPE]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start and the body."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response, encoded once with orjson."""
    return JsonResponse(status, orjson.dumps(body), headers)


def error_response(error: ApiError, envelope: str = "message") -> Response:
    """The vendor-shaped response of an emulated error (the one place errors meet the wire)."""
    status, body = render(error, envelope)
    return json_response(status, body, error.headers)


def failure_response(state: MockState, text: str, error: ApiError | None = None) -> Response:
    """The one answer to a bug of the mock: recorded for the plugin to re-raise, then a 500.

    ``text`` says where and what (a traceback); ``error`` is what the client reads, an
    ``InternalError`` unless a more telling one is given (a contract violation).
    """
    state.record_failure(text)
    return error_response(error or InternalError())
