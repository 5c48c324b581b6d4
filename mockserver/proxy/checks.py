"""What the proxy says about an exchange: response drift (status, body, stream) and its headers.

The checks are the contract's own (``Contract`` and ``StreamCheck``, strict: a field the schema
does not list is drift); this module only turns what the proxy saw into findings and text.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from mockserver.contract.check import Contract, Finding
from mockserver.contract.stream import StreamCheck, stream_rule
from mockserver.errors import FieldError, json_path
from mockserver.schemas import Operation

__all__ = [
    "STREAM",
    "as_warnings",
    "header_value",
    "media_type",
    "request_notes",
    "response_findings",
    "stream_check",
]

STREAM = "text/event-stream"
_HEADER_CHARS = 4000  # well under the 8 KiB most clients and proxies take per header


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``application/json; charset=utf-8``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def response_findings(
    contract: Contract, op: Operation, status: int, content_type: str | None, raw: bytes
) -> list[Finding]:
    """How a whole (non-stream) response disagrees with the contract of its operation."""
    if status not in op.responses:
        return contract.response(op, status, None)
    media = media_type(content_type)
    if media != "application/json" and not media.endswith("+json"):
        text = f"HTTP {status} sent as {media or 'no content type'}, not application/json"
        return [Finding("response", "content type", "", text)]
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [Finding("response", "not JSON", "", f"HTTP {status} body is not JSON: {exc}")]
    return contract.response(op, status, body)


def stream_check(contract: Contract, op: Operation, status: int) -> StreamCheck | None:
    """The check to feed a stream's bytes to, if the contract has a rule for its events."""
    if status not in op.responses or stream_rule(contract, op) is None:
        return None
    return StreamCheck(contract, op)


def request_notes(issues: Iterable[FieldError], prefix: str) -> list[str]:
    """Request issues (unknown fields, violations) as ``request: <prefix> at $.path: ...``."""
    return [f"request: {prefix} at {json_path(issue.path)}: {issue.message}" for issue in issues]


def as_warnings(findings: Iterable[Finding]) -> tuple[FieldError, ...]:
    """Findings as the journal's warnings (code: the kind; message: the whole finding)."""
    return tuple(FieldError((), f.kind, str(f)) for f in findings)


def header_value(texts: Iterable[str]) -> str:
    """``; ``-joined texts as a header value: ASCII only, cut short of a size a client refuses."""
    value = "; ".join(texts).encode("unicode_escape").decode("ascii")
    return value if len(value) <= _HEADER_CHARS else value[: _HEADER_CHARS - 3] + "..."
