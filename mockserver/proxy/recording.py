"""Recordings: exchanges as JSON lines (the records ``verify`` reads) or HAR 1.2, written and read.

A JSON line is ``{method, path, query, status, request_body, response_body, response_type}``,
which ``langdock-mock verify`` reads, plus what replay needs: the response's headers, a stream's
chunks with their offsets in seconds (``events: [[0.0, "data: ..."], ...]``), the operation, the
key's fingerprint (``keyId``, never the key), the redacted paths and the drift the proxy saw.
Bodies are kept as the text that crossed the wire, so replay answers byte for byte; an upload's
body is its form (``mockserver.proxy.forms``), HAR's ``postData.params``. In HAR the same extras
are ``_``-prefixed fields of each entry, as HAR allows.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from mockserver import __version__
from mockserver.clock import isoformat
from mockserver.contract.drift import RecordingError, form_params, params_form, recording_text
from mockserver.proxy.forms import FORM_TYPES

__all__ = ["Recorded", "Recorder", "read_recording"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One exchange as the proxy saw it (bodies as text; ``None``: no body)."""

    method: str
    path: str
    status: int
    operation: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    request_type: str | None = None
    request_body: str | None = None
    response_type: str = "application/json"
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    events: tuple[tuple[float, bytes], ...] = ()  # a stream's chunks, by offset in seconds
    key_id: str | None = None
    redacted: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()
    time: float = 0.0
    duration: float = 0.0

    @property
    def stream(self) -> bool:
        """Whether the response was an event stream (replayed chunk by chunk)."""
        return self.response_type == "text/event-stream"

    @property
    def form(self) -> dict[str, Any] | None:
        """An upload's form (``request_body`` is its JSON), or None for any other request."""
        media = (self.request_type or "").split(";", 1)[0].strip().lower()
        if media not in FORM_TYPES or self.request_body is None:
            return None
        try:
            form = orjson.loads(self.request_body)
        except orjson.JSONDecodeError:
            return None
        return form if isinstance(form, dict) else None

    def as_line(self) -> dict[str, Any]:
        """The JSON-lines record."""
        record: dict[str, Any] = {
            "time": isoformat(self.time),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation": self.operation,
            "keyId": self.key_id,
            "status": self.status,
        }
        if self.request_body is not None:
            record["request_type"] = self.request_type
            record["request_body"] = self.request_body
        record["response_type"] = self.response_type
        record.update(_text("response_body", self.response_body))
        record["response_headers"] = self.response_headers
        if self.events:
            record["events"] = [
                [round(at, 6), chunk.decode("utf-8", "replace")] for at, chunk in self.events
            ]
        record["duration"] = round(self.duration, 6)
        record["redacted"] = list(self.redacted)
        record["drift"] = list(self.drift)
        return record

    def as_har(self, base_url: str) -> dict[str, Any]:
        """The HAR 1.2 entry."""
        url = base_url.rstrip("/") + self.path + ("?" + urlencode(self.query) if self.query else "")
        request: dict[str, Any] = {
            "method": self.method,
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "Authorization", "value": f"Bearer <keyId {self.key_id}>"}]
            if self.key_id
            else [],
            "queryString": [{"name": k, "value": v} for k, v in self.query.items()],
            "headersSize": -1,
            "bodySize": len(self.request_body.encode()) if self.request_body is not None else 0,
        }
        form = self.form
        if form is not None:  # HAR keeps a form as params; text and params exclude each other
            request["postData"] = {"mimeType": self.request_type, "params": form_params(form)}
        elif self.request_body is not None:
            request["postData"] = {"mimeType": self.request_type or "", "text": self.request_body}
        content: dict[str, Any] = {"size": len(self.response_body), "mimeType": self.response_type}
        encoded = _text("text", self.response_body)
        content["text"] = encoded["text"]
        if "text_encoding" in encoded:
            content["encoding"] = "base64"
        entry: dict[str, Any] = {
            "startedDateTime": isoformat(self.time),
            "time": round(self.duration * 1000, 3),
            "request": request,
            "response": {
                "status": self.status,
                "statusText": "",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": [{"name": k, "value": v} for k, v in self.response_headers.items()],
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": len(self.response_body),
            },
            "cache": {},
            "timings": {"send": 0, "wait": round(self.duration * 1000, 3), "receive": 0},
            "_operation": self.operation,
            "_keyId": self.key_id,
            "_redacted": list(self.redacted),
            "_drift": list(self.drift),
        }
        if self.events:
            entry["_events"] = [
                [round(at, 6), c.decode("utf-8", "replace")] for at, c in self.events
            ]
        return entry


def _event_texts(events: tuple[tuple[float, bytes], ...]) -> list[list[Any]]:
    # Incremental: a character split between two chunks moves whole into the later one.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    texts: list[list[Any]] = [[round(at, 6), decoder.decode(chunk)] for at, chunk in events]
    if texts:
        texts[-1][1] += decoder.decode(b"", final=True)
    return texts


def _text(name: str, raw: bytes) -> dict[str, str]:
    """A body as text when it is UTF-8, else base64 with ``<name>_encoding`` saying so."""
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {name: base64.b64encode(raw).decode("ascii"), f"{name}_encoding": "base64"}


class Recorder:
    """Appends exchanges to a file, one whole record at a time (thread-safe).

    JSON lines are appended; a HAR file is one document, so it is rewritten (atomically) with
    each exchange, after the entries it already held.
    """

    def __init__(self, path: Path | str, fmt: str = "jsonl", base_url: str = "") -> None:
        path = self.path = Path(path)
        self.format = fmt
        self.base_url = base_url
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        if fmt == "har" and path.is_file() and path.stat().st_size:
            try:
                self._entries = list(orjson.loads(path.read_bytes())["log"]["entries"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise RecordingError(f"{path} exists and is not a HAR file to add to") from None

    def write(self, recorded: Recorded) -> None:
        """Add one exchange to the file."""
        with self._lock:
            if self.format == "jsonl":
                with self.path.open("ab") as out:
                    out.write(orjson.dumps(recorded.as_line()) + b"\n")
                return
            self._entries.append(recorded.as_har(self.base_url))
            document = {
                "log": {
                    "version": "1.2",
                    "creator": {"name": "langdock-mock proxy", "version": __version__},
                    "entries": self._entries,
                }
            }
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            os.replace(partial, self.path)


def _raw(record: dict[str, Any], name: str, where: str) -> bytes:
    value = record.get(name)
    if value is None:
        return b""
    if not isinstance(value, str):  # a hand-written record may hold the JSON itself
        return orjson.dumps(value)
    if record.get(f"{name}_encoding") == "base64" or record.get("encoding") == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise RecordingError(f"{where}: {name} is not base64") from None
    return value.encode("utf-8")


def _events(value: Any, where: str) -> tuple[tuple[float, bytes], ...]:
    try:
        return tuple((float(at), str(chunk).encode("utf-8")) for at, chunk in value or ())
    except (TypeError, ValueError):
        raise RecordingError(f"{where}: events must be [[seconds, text], ...]") from None


def _request_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _from_line(index: int, record: Any) -> Recorded:
    where = f"line {index}"
    if not isinstance(record, dict):
        raise RecordingError(f"{where}: expected an object {{method, path, status, ...}}")
    try:
        target = urlsplit(str(record.get("path") or record["url"]))
        status = int(record["status"])
        method = str(record["method"]).upper()
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"{where}: needs method, path and an integer status ({exc})") from None
    query = dict(_pairs(target.query))
    query.update({str(k): str(v) for k, v in (record.get("query") or {}).items()})
    return Recorded(
        method=method,
        path=target.path or "/",
        status=status,
        operation=record.get("operation"),
        query=query,
        request_type=record.get("request_type"),
        request_body=_request_text(record.get("request_body")),
        response_type=str(record.get("response_type") or "application/json").lower(),
        response_body=_raw(record, "response_body", where),
        response_headers={
            str(k): str(v) for k, v in (record.get("response_headers") or {}).items()
        },
        events=_events(record.get("events"), where),
        key_id=record.get("keyId"),
        redacted=tuple(record.get("redacted") or ()),
        drift=tuple(record.get("drift") or ()),
    )


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _from_har(index: int, entry: Any) -> Recorded:
    where = f"entry {index}"
    try:
        request, response = entry["request"], entry["response"]
        url = urlsplit(str(request["url"]))
        status = int(response["status"])
        method = str(request["method"]).upper()
    except (KeyError, TypeError, ValueError):
        need = "a HAR entry needs request.method, request.url and response.status"
        raise RecordingError(f"{where}: {need}") from None
    post = request.get("postData") or {}
    content = response.get("content") or {}
    media = str(content.get("mimeType") or "application/json").split(";", 1)[0].strip().lower()
    return Recorded(
        method=method,
        path=url.path or "/",
        status=status,
        operation=entry.get("_operation"),
        query=dict(_pairs(url.query)),
        request_type=post.get("mimeType"),
        request_body=orjson.dumps(params_form(post["params"])).decode()
        if post.get("params")
        else post.get("text"),
        response_type=media,
        response_body=_raw(content, "text", where),
        response_headers={
            str(h["name"]): str(h["value"])
            for h in response.get("headers") or ()
            if isinstance(h, dict) and "name" in h
        },
        events=_events(entry.get("_events"), where),
        key_id=entry.get("_keyId"),
        redacted=tuple(entry.get("_redacted") or ()),
        drift=tuple(entry.get("_drift") or ()),
    )


def read_recording(path: Path | str) -> list[Recorded]:
    """Every exchange of a JSON-lines or HAR recording, in order."""
    text = recording_text(path)
    stripped = text.strip()
    if stripped.startswith("{") and '"log"' in stripped[:200]:
        try:
            entries = orjson.loads(stripped)["log"]["entries"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise RecordingError(f"{path}: a HAR file needs log.entries") from None
        return [_from_har(i, entry) for i, entry in enumerate(entries, 1)]
    recorded = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise RecordingError(f"line {number}: not JSON: {exc}") from None
        recorded.append(_from_line(number, record))
    return recorded
