"""Upload forms as recordings keep them: each field as sent, each file as name, type, size, sha256.

A recording never holds a file's bytes. The form is kept as the JSON the mock validates an
upload as (``{"url": ..., "file": {"name", "mimeType", "sizeInBytes"}}``), plus each file's
``sha256``, so ``verify`` checks it against the request schema and replay matches a later upload
of the same file (same name, type, size and digest) to it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["FORM_TYPES", "form_summary", "summarise_form"]

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
# Past this, parsing and hashing (a 256 MiB upload: most of a second) leaves the event loop.
_IN_LOOP_BYTES = 1024 * 1024


class _Part:
    __slots__ = ("content_type", "digest", "filename", "name", "size", "value")

    def __init__(self) -> None:
        self.name = ""
        self.filename: str | None = None
        self.content_type = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self.value = bytearray()


def form_summary(content_type: str | None, raw: bytes) -> dict[str, Any] | None:
    """The form of an upload body as JSON (None: not a form, or a malformed one).

    The first value of a field wins, as in the mock's own upload parsing; a file part with
    neither a file name nor bytes is no file (a browser's empty file input).
    """
    media, options = parse_options_header(content_type or "")
    kind = media.decode("latin-1").lower()
    if kind == "application/x-www-form-urlencoded":
        fields: dict[str, Any] = {}
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(name, value)
        return fields
    boundary = options.get(b"boundary")
    if kind != "multipart/form-data" or not boundary:
        return None
    parts = _parts(boundary, raw)
    if parts is None:
        return None
    form: dict[str, Any] = {}
    for part in parts:
        if part.name in form:
            continue
        if part.filename is None:
            form[part.name] = part.value.decode("utf-8", "replace")
        elif part.filename or part.size:
            name = part.filename or "file"
            form[part.name] = {
                "name": name,
                "mimeType": part.content_type
                or mimetypes.guess_type(name)[0]
                or "application/octet-stream",
                "sizeInBytes": part.size,
                "sha256": part.digest.hexdigest(),
            }
    return form


async def summarise_form(content_type: str | None, raw: bytes) -> dict[str, Any] | None:
    """``form_summary`` without holding up the server: a large body is read in a thread."""
    if len(raw) <= _IN_LOOP_BYTES:
        return form_summary(content_type, raw)
    return await anyio.to_thread.run_sync(form_summary, content_type, raw)


def _parts(boundary: bytes, raw: bytes) -> list[_Part] | None:
    parts: list[_Part] = []
    header: list[bytes] = [b"", b""]

    def begin() -> None:
        parts.append(_Part())

    def header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def header_end() -> None:
        name, value = header[0].lower(), header[1]
        header[:] = [b"", b""]
        part = parts[-1]
        if name == b"content-disposition":
            _, params = parse_options_header(value)
            part.name = params.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in params:
                part.filename = params[b"filename"].decode("utf-8", "replace")
        elif name == b"content-type":
            part.content_type = value.decode("latin-1").strip()

    def data(chunk: bytes, start: int, end: int) -> None:
        part = parts[-1]
        if part.filename is None:
            part.value += chunk[start:end]
        else:  # a file is hashed as it is read, never kept
            part.size += end - start
            part.digest.update(chunk[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": data,
        },
    )
    try:
        parser.write(raw)
        parser.finalize()
    except FormParserError:
        return None
    return parts
