"""Google's streamGenerateContent events, derived from the JSON response (pure).

Every event is a GenerateContentResponse carrying the next piece: text in chunks, then the
function calls in one event; the last event adds ``finishReason`` and ``usageMetadata``, so
the pieces concatenated are the non-stream response again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mockserver.api.frames import text_chunks

__all__ = ["response_frames"]


def _pieces(parts: list[dict[str, Any]], chunk_chars: int) -> list[list[dict[str, Any]]]:
    pieces: list[list[dict[str, Any]]] = []
    calls = [part for part in parts if "functionCall" in part]
    for part in parts:
        if "text" in part:
            pieces += [[{"text": chunk}] for chunk in text_chunks(part["text"], chunk_chars)]
    if calls:
        pieces.append(calls)
    return pieces or [[{"text": ""}]]


def response_frames(response: dict[str, Any], chunk_chars: int) -> Iterator[dict[str, Any]]:
    """The stream events of ``response`` (a GenerateContentResponse body)."""
    [candidate] = response["candidates"]
    pieces = _pieces(candidate["content"]["parts"], chunk_chars)
    last = len(pieces) - 1
    for number, parts in enumerate(pieces):
        event_candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": parts},
            "index": candidate["index"],
        }
        event: dict[str, Any] = {"candidates": [event_candidate]}
        if number == last:
            event_candidate["finishReason"] = candidate["finishReason"]
            event["usageMetadata"] = response["usageMetadata"]
        event["modelVersion"] = response["modelVersion"]
        event["responseId"] = response["responseId"]
        yield event
