"""Request bodies read off an Exchange: a JSON object, or a multipart form as JSON."""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mockserver.asgi.exchange import Exchange
from mockserver.errors import BadRequest

__all__ = ["read_form", "read_json"]

_JSON_TYPES = ("application/json", "text/json")


@functools.lru_cache(maxsize=64)  # a client sends the same type every time
def _content_type_ok(value: str | None) -> bool:
    if not value:
        return True  # clients that send no type still send JSON; the real API parses it
    media = value.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or media.endswith("+json")


async def read_json(exchange: Exchange, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413 that says what is wrong with it."""
    raw = await exchange.body(limit)
    if not _content_type_ok(exchange.header(b"content-type")):
        raise BadRequest("Content-Type must be application/json")
    if not raw.strip():
        raise BadRequest("Request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("Request body is not valid UTF-8") from None
        reason = "nested too deeply" if "depth" in str(exc).lower() else str(exc)
        raise BadRequest(f"Request body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


async def _once(raw: bytes) -> AsyncGenerator[bytes, None]:
    yield raw


async def read_form(exchange: Exchange, limit: int) -> dict[str, Any]:
    """A multipart form as JSON (413 past ``limit``): a file is ``{name, mimeType, sizeInBytes}``.

    Not multipart, or no file chosen (a browser's empty part), reads as no field at all: the
    handler then answers as the vendor does. File contents are not kept.
    """
    raw = await exchange.body(limit)
    media = (exchange.header(b"content-type") or "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        return {}
    try:
        headers = Headers(scope=exchange.scope)
        form = await MultiPartParser(headers, _once(raw), max_files=8).parse()
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    fields: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if name in fields:
                continue
            if not isinstance(value, UploadFile):
                fields[name] = value
            elif value.filename or value.size:
                filename = value.filename or "file"
                guessed = mimetypes.guess_type(filename)[0]
                fields[name] = {
                    "name": filename,
                    "mimeType": value.content_type or guessed or "application/octet-stream",
                    "sizeInBytes": value.size or 0,
                }
    finally:
        await form.close()
    return fields
