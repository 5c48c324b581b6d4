"""Anthropic's Messages stream, event by event, derived from the JSON message (pure).

The stream is built from the very body a non-stream request gets, so the two cannot disagree:
``message_start`` (the message without content or stop reason), per content block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop`` (a ``ping`` after
the first start, as Anthropic sends), ``message_delta`` (stop reason, cumulative output tokens),
``message_stop``. Each frame's ``type`` is also its SSE event name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mockserver.api.frames import text_chunks

__all__ = ["message_frames"]


def _block_frames(index: int, block: dict[str, Any], chunk_chars: int) -> Iterator[dict[str, Any]]:
    if block["type"] == "tool_use":
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {**block, "input": {}},
        }
        partial = orjson.dumps(block["input"]).decode()
        for piece in text_chunks(partial, chunk_chars):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
    else:
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {**block, "text": ""},
        }
        for piece in text_chunks(block["text"], chunk_chars):
            delta = {"type": "text_delta", "text": piece}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def message_frames(message: dict[str, Any], chunk_chars: int) -> Iterator[dict[str, Any]]:
    """The stream events of ``message`` (an Anthropic Message body), text cut every few chars."""
    usage = message["usage"]
    opening = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": min(usage["output_tokens"], 1)},
    }
    yield {"type": "message_start", "message": opening}
    for index, block in enumerate(message["content"]):
        frames = _block_frames(index, block, chunk_chars)
        yield next(frames)
        if index == 0:
            yield {"type": "ping"}
        yield from frames
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    yield {"type": "message_stop"}
