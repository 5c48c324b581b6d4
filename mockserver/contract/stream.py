"""Streams against the contract: every SSE event validates, and the stream ends as its family must.

The Agents family streams AI SDK 5 UI message chunks (``data: {json}``, each validated against the
operation's ``stream`` schema in api.json) and ends with a ``finish`` chunk and ``data: [DONE]``.
The Assistants family streams AI SDK 4 data-stream lines (``0:"text"``, ``d:{...}``) and ends with
a ``d:`` line. A family with neither rule has its SSE framing read but its events not judged.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from mockserver.contract.check import Contract, Finding
from mockserver.schemas import Operation

__all__ = ["StreamCheck", "check_stream", "stream_rule"]

_DONE = "[DONE]"
# AI SDK 4 data-stream part codes (ai@4's dataStreamParts), each followed by JSON.
_LINE = re.compile(r"([0-9a-z]):(.*)", re.DOTALL)
_LINE_CODES = frozenset("0123456789abcdefghk")
_MAX_FINDINGS = 20


def stream_rule(contract: Contract, op: Operation) -> str | None:
    """How ``op``'s stream is judged: ``"schema"``, ``"lines"``, or None when it cannot be."""
    if op.family == "assistant":
        return "lines"
    if contract.bundle.manifest["operations"].get(op.id, {}).get("stream"):
        return "schema"
    return None


class StreamCheck:
    """Fed the bytes of a stream as they pass, then ``close()`` gives what breaks the contract."""

    def __init__(self, contract: Contract, op: Operation) -> None:
        self.contract = contract
        self.operation = op
        self.rule = stream_rule(contract, op)
        self.schema: str | None = contract.bundle.manifest["operations"][op.id].get("stream")
        self.events = 0
        self.findings: list[Finding] = []
        self._buffer = b""
        self._done = False
        self._finished = False  # a finish chunk (agents) or d: line (assistants) was seen

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the stream; complete events are judged at once."""
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *blocks, self._buffer = buffer.split(b"\n\n")
        for block in blocks:
            self._event(block)

    def close(self, cut: str | None = None) -> list[Finding]:
        """Every finding, the ending's included; ``cut`` says why the stream stopped early."""
        if self._buffer.strip():
            self._event(self._buffer)
            self._buffer = b""
            self._add("malformed event", self._at(), "the stream ended inside an event")
        if cut is not None:
            self._add("stream end", "$", cut)
        if self.rule == "schema" and not self._done:
            self._add("stream end", "$", "the stream ended without data: [DONE]")
        if self.rule == "schema" and not self._finished:
            self._add("stream end", "$", "the stream has no finish chunk")
        if self.rule == "lines" and not self._finished:
            self._add("stream end", "$", "the stream did not end with a d: (finish message) line")
        return list(dict.fromkeys(self.findings))

    def _at(self) -> str:
        return f"$.events[{self.events}]"

    def _add(self, kind: str, path: str, message: str) -> None:
        if len(self.findings) < _MAX_FINDINGS:
            self.findings.append(Finding("stream", kind, path, message))

    def _event(self, block: bytes) -> None:
        data: list[str] = []
        for line in block.decode("utf-8", "replace").split("\n"):
            if line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
        if not data:
            return  # a comment, a keep-alive or only event:/id: fields
        text = "\n".join(data)
        if self._done:
            self._add("stream end", self._at(), "an event came after data: [DONE]")
        if self.rule == "schema":
            self._chunk(text)
        elif self.rule == "lines":
            self._line(text)
        self.events += 1

    def _chunk(self, text: str) -> None:
        if text == _DONE:
            self._done = True
            return
        value = self._json(text)
        if value is None:
            return
        if isinstance(value, dict) and value.get("type") == "finish":
            self._finished = True
        assert self.schema is not None
        findings = self.contract.compare("stream", self.schema, value)
        if findings and isinstance(value, dict):
            # "Not valid under any of the schemas" says little: judge by the chunk's own type.
            branch = self._branch(value.get("type"))
            if branch is not None:
                findings = self.contract.compare("stream", self.schema, value, branch)
        for finding in findings:
            self._add(finding.kind, self._at() + finding.path[1:], finding.message)

    def _branch(self, kind: Any) -> str | None:
        """The pointer of the oneOf branch for chunks of type ``kind``, if exactly one is."""
        assert self.schema is not None
        branches = self.contract.bundle.dereferenced(self.schema).get("oneOf", [])
        found = [
            f"/oneOf/{index}"
            for index, branch in enumerate(branches)
            if isinstance(branch, dict)
            and kind is not None
            and (
                branch.get("properties", {}).get("type", {}).get("const") == kind
                or kind in branch.get("properties", {}).get("type", {}).get("enum", ())
            )
        ]
        return found[0] if len(found) == 1 else None

    def _line(self, text: str) -> None:
        found = _LINE.fullmatch(text)
        if found is None or found.group(1) not in _LINE_CODES:
            shown = text if len(text) <= 40 else text[:40] + "…"
            self._add("malformed event", self._at(), f"{shown!r} is not an AI SDK 4 stream line")
            return
        if self._json(found.group(2)) is not None:
            self._finished = found.group(1) == "d"

    def _json(self, text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self._add("malformed event", self._at(), f"event data is not JSON: {exc}")
            return None


def check_stream(contract: Contract, op: Operation, raw: bytes) -> list[Finding]:
    """The findings of a whole recorded stream (what ``StreamCheck`` gives when fed it at once)."""
    check = StreamCheck(contract, op)
    check.feed(raw)
    return check.close()
