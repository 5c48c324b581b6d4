"""A client in the Vercel AI SDK's own terms, for tests: UIMessages out, UI message chunks in.

``UIMessageBuilder`` follows what the AI SDK 5 ``processUIMessageStream`` does with each chunk
(step-start parts, text parts with a state, tool parts moving from input-streaming to
output-available, message metadata), so a test can hold a streamed reply next to a JSON one and
send it back as history, as ``useChat`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from httpx_sse import connect_sse

DONE = "[DONE]"


def user(text: str, *, id: str = "u1", attachments: list[str] | None = None) -> dict[str, Any]:
    """A user UIMessage with one text part (and ``metadata.attachments`` when given)."""
    message: dict[str, Any] = {"id": id, "role": "user", "parts": [{"type": "text", "text": text}]}
    if attachments is not None:
        message["metadata"] = {"attachments": attachments}
    return message


def sse_data(
    client: httpx.Client, url: str, body: dict[str, Any]
) -> tuple[httpx.Response, list[str]]:
    """POST ``body`` and read the SSE events' data with httpx-sse (an independent parser)."""
    with connect_sse(client, "POST", url, json=body) as source:
        return source.response, [event.data for event in source.iter_sse()]


def chunks_of(data: list[str]) -> list[dict[str, Any]]:
    """The UI message chunks of an Agents stream; asserts it ends with exactly one [DONE]."""
    assert data[-1] == DONE, data[-3:]
    assert DONE not in data[:-1]
    return [orjson.loads(item) for item in data[:-1]]


def lines_of(data: list[str]) -> list[tuple[str, Any]]:
    """The ``(code, value)`` pairs of an AI SDK 4 data stream (the Assistants stream)."""
    pairs = []
    for item in data:
        code, colon, value = item.partition(":")
        assert colon, item
        pairs.append((code, orjson.loads(value)))
    return pairs


@dataclass
class UIMessageBuilder:
    """Builds the assistant UIMessage from UI message chunks, as the AI SDK 5 does."""

    id: str = ""
    parts: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    finished: bool = False

    def _part(self, key: str, value: str) -> dict[str, Any]:
        return next(p for p in reversed(self.parts) if p.get(key) == value)

    def feed(self, chunk: dict[str, Any]) -> None:
        """Apply one chunk."""
        kind = chunk["type"]
        assert not self.finished, f"chunk after finish: {chunk}"
        if kind == "start":
            self.id = chunk.get("messageId", self.id)
            self.metadata.update(chunk.get("messageMetadata") or {})
        elif kind == "start-step":
            self.parts.append({"type": "step-start"})
        elif kind == "text-start":
            self.parts.append(
                {"type": "text", "text": "", "state": "streaming", "_id": chunk["id"]}
            )
        elif kind == "text-delta":
            self._part("_id", chunk["id"])["text"] += chunk["delta"]
        elif kind == "text-end":
            self._part("_id", chunk["id"])["state"] = "done"
        elif kind == "tool-input-start":
            self.parts.append(
                {
                    "type": f"tool-{chunk['toolName']}",
                    "toolCallId": chunk["toolCallId"],
                    "state": "input-streaming",
                }
            )
        elif kind == "tool-input-available":
            part = self._part("toolCallId", chunk["toolCallId"])
            part.update(state="input-available", input=chunk["input"])
        elif kind == "tool-output-available":
            part = self._part("toolCallId", chunk["toolCallId"])
            part.update(state="output-available", output=chunk["output"])
        elif kind == "finish":
            self.metadata.update(chunk.get("messageMetadata") or {})
            self.finished = True
        elif kind != "finish-step":
            raise AssertionError(f"unexpected chunk {chunk}")

    def message(self) -> dict[str, Any]:
        """The UIMessage as useChat would hold it (and send back as history)."""
        parts = [{k: v for k, v in p.items() if k != "_id"} for p in self.parts]
        message: dict[str, Any] = {"id": self.id, "role": "assistant", "parts": parts}
        if self.metadata:
            message["metadata"] = self.metadata
        return message

    def content_parts(self) -> list[dict[str, Any]]:
        """The parts without step markers and stream states: comparable with a JSON reply's."""
        out = []
        for part in self.message()["parts"]:
            if part["type"] == "step-start":
                continue
            out.append(
                {k: v for k, v in part.items() if not (part["type"] == "text" and k == "state")}
            )
        return out


def build(chunks: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> UIMessageBuilder:
    """Feed every chunk to a fresh builder."""
    builder = UIMessageBuilder()
    for chunk in chunks:
        builder.feed(chunk)
    assert builder.finished, "the stream never sent finish"
    return builder
