"""Streamed multipart uploads: parts parsed as they arrive, files spooled to disk, a byte cap."""

from __future__ import annotations

import mimetypes
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from mockserver.api.outcome import Upload
from mockserver.asgi.exchange import Exchange
from mockserver.errors import BadRequest, PayloadTooLarge

__all__ = ["FRAMING", "close_uploads", "read_upload"]


# What a form may add to its files (boundaries, part headers, small fields such as url).
FRAMING = 64 * 1024


class _Parser(MultiPartParser):
    """Starlette's parser, stopping with 413 the moment one file passes the limit."""

    # Past 1 MiB a file part rolls over from memory to a temporary file: a 256 MB upload is
    # never held in memory, and the whole body is never held at all.
    spool_max_size = 1024 * 1024

    def __init__(self, exchange: Exchange, limit: int) -> None:
        super().__init__(
            Headers(scope=exchange.scope), exchange.stream(limit + FRAMING), max_files=8
        )
        self.limit = limit
        self._file_bytes = 0

        self.opened: list[UploadFile] = []

    def on_part_begin(self) -> None:
        self._file_bytes = 0
        super().on_part_begin()

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        if self._current_part.file is not None:  # a file part's spooled file was just made
            self.opened.append(self._current_part.file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.limit:
                raise PayloadTooLarge(f"File exceeds the limit of {self.limit} bytes")
        super().on_part_data(data, start, end)


async def read_upload(exchange: Exchange, limit: int) -> tuple[dict[str, Any], dict[str, Upload]]:
    """A multipart form read as it streams in: 413 as soon as a file passes ``limit`` bytes
    (or the body ``limit`` plus FRAMING; at once if its Content-Length says it will).

    Returns the form as JSON for validation and the journal (a file is ``{name, mimeType,
    sizeInBytes}``), and the files themselves, spooled, for the handler; close them with
    ``close_uploads``. Not multipart, or no file chosen, reads as no field, as ``read_form``.
    """
    media = (exchange.header(b"content-type") or "").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":  # fields only (an update of the url)
        plain = FormParser(Headers(scope=exchange.scope), exchange.stream(FRAMING))
        form = await plain.parse()
        return {name: value for name, value in form.multi_items() if isinstance(value, str)}, {}
    if media != "multipart/form-data":
        async for _ in exchange.stream(FRAMING):  # read (and bound) the body all the same
            pass
        return {}, {}
    parser = _Parser(exchange, limit)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    except BaseException:
        # 413 or a disconnect mid-file: the parts spooled so far are deleted now, not at exit.
        for opened in parser.opened:
            opened.file.close()
        raise
    fields: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile):
            fields.setdefault(name, value)
            continue
        if name in fields or not (value.filename or value.size):
            value.file.close()
            continue
        filename = value.filename or "file"
        content_type = (
            value.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        value.file.seek(0)
        uploads[name] = Upload(filename, content_type, value.size or 0, value.file)
        fields[name] = {"name": filename, "mimeType": content_type, "sizeInBytes": value.size or 0}
    return fields, uploads


def close_uploads(uploads: dict[str, Upload]) -> None:
    """Delete the spooled files of a request."""
    for upload in uploads.values():
        upload.file.close()
