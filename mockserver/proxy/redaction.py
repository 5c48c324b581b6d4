"""Redaction: a key becomes its fingerprint, chosen body paths (``messages.*.content``) a mark.

Paths apply to JSON bodies and to each event of a stream: an SSE event's ``data:`` JSON, or,
for an AI SDK 4 line (``0:"text"``, ``d:{...}``), ``{code: value}`` (so ``0`` names the text
parts and ``d.usage`` a finish line's usage). Wherever the caller's key appears in recorded text,
it is replaced by ``<keyId fingerprint>``.
"""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Iterable
from typing import Any

import orjson

from mockserver.journal import fingerprint

__all__ = ["REDACTED", "Events", "Redactor", "bearer", "key_id", "key_mark"]

REDACTED = "[redacted]"
Events = tuple[tuple[float, bytes], ...]  # a stream's chunks, by offset in seconds
_LINE = re.compile(rb"([0-9a-z]):(.*)", re.DOTALL)  # an AI SDK 4 stream line: code, then JSON


def bearer(authorization: str | None) -> str | None:
    """The key of an ``Authorization`` value (``Bearer KEY``, or the bare value)."""
    if not authorization:
        return None
    return authorization.partition(" ")[2].strip() or authorization.strip() or None


def key_id(authorization: str | None) -> str | None:
    """The fingerprint of the Bearer key in an ``Authorization`` value (never the key)."""
    token = bearer(authorization)
    return fingerprint(token) if token else None


def key_mark(key: str) -> str:
    """What a recording holds where the key appeared: ``<keyId fingerprint>``."""
    return f"<keyId {fingerprint(key)}>"


def _parse(path: str) -> tuple[str, ...]:
    return tuple(token for token in path.strip().split(".") if token)


class Redactor:
    """Replaces the values at dotted paths; ``*`` stands for every key or item at its level."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(path for path in paths if _parse(path))
        self._parsed = [_parse(path) for path in self.paths]

    def __bool__(self) -> bool:
        return bool(self._parsed)

    def apply(self, value: Any) -> tuple[Any, bool]:
        """A redacted copy of ``value`` and whether anything changed (else ``value`` itself)."""
        if not self._parsed or not isinstance(value, dict | list):
            return value, False
        copied = copy.deepcopy(value)
        changed = False
        for tokens in self._parsed:
            changed |= _replace(copied, tokens)
        return (copied, True) if changed else (value, False)

    def text(self, raw: bytes) -> tuple[bytes, bool]:
        """A JSON body with the paths redacted (re-encoded), or as sent when nothing changed."""
        if not self._parsed or not raw:
            return raw, False
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw, False
        redacted, changed = self.apply(value)
        return (orjson.dumps(redacted), True) if changed else (raw, False)

    def events(self, events: Events) -> tuple[Events, bool]:
        """A stream with the paths redacted in each event, or as sent when nothing changed.

        Chunks need not hold whole events, so a changed stream is recorded one event a chunk,
        each at the offset of the chunk it ended in.
        """
        if not self._parsed or not events:
            return events, False
        raw = b"".join(chunk for _, chunk in events)
        ends: list[int] = []
        for _, chunk in events:
            ends.append((ends[-1] if ends else 0) + len(chunk))
        redacted: list[tuple[float, bytes]] = []
        changed = False
        start = 0
        for match in re.finditer(rb"\r?\n\r?\n", raw):
            block, start, end = raw[start : match.start()], match.end(), match.end()
            at = events[min(bisect.bisect_left(ends, end), len(events) - 1)][0]
            event, edited = self._event(block)
            changed |= edited
            redacted.append((at, event + raw[match.start() : match.end()]))
        if start < len(raw):  # a cut stream: its unfinished last event
            event, edited = self._event(raw[start:])
            changed |= edited
            redacted.append((events[-1][0], event))
        return (tuple(redacted), True) if changed else (events, False)

    def _event(self, block: bytes) -> tuple[bytes, bool]:
        """One SSE event with its ``data:`` redacted (then sent as one ``data:`` line)."""
        lines = block.replace(b"\r\n", b"\n").split(b"\n")
        data = [line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:")]
        if not data:
            return block, False
        payload = b"\n".join(data)
        line = _LINE.fullmatch(payload)
        try:
            value = {line.group(1).decode(): orjson.loads(line.group(2))} if line else None
            if value is None:
                value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return block, False  # not JSON (data: [DONE], a malformed event): nothing to redact
        value, changed = self.apply(value)
        if not changed:
            return block, False
        text = line.group(1) + b":" + orjson.dumps(value[line.group(1).decode()]) if line else None
        data_line = b"data: " + (text if text is not None else orjson.dumps(value))
        first = next(i for i, item in enumerate(lines) if item.startswith(b"data:"))
        kept = [item for item in lines if not item.startswith(b"data:")]
        kept.insert(first, data_line)
        return b"\n".join(kept), True


def _children(node: Any, token: str) -> list[tuple[Any, Any]]:
    """(container, key) pairs that ``token`` names in ``node``."""
    if isinstance(node, dict):
        if token == "*":
            return [(node, key) for key in node]
        return [(node, token)] if token in node else []
    if isinstance(node, list):
        if token == "*":
            return [(node, index) for index in range(len(node))]
        if token.isdigit() and int(token) < len(node):
            return [(node, int(token))]
    return []


def _replace(node: Any, tokens: tuple[str, ...]) -> bool:
    head, rest = tokens[0], tokens[1:]
    changed = False
    for container, key in _children(node, head):
        if rest:
            changed |= _replace(container[key], rest)
        elif container[key] != REDACTED:
            container[key] = REDACTED
            changed = True
    return changed
