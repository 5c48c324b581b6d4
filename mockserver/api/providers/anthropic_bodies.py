"""Anthropic Messages bodies (pure): the prompt a request carries, the Message a reply is."""

from __future__ import annotations

from typing import Any

import orjson

from mockserver.api.bodies import tool_steps
from mockserver.api.outcome import Completion

__all__ = ["message_body", "prompt_texts"]


def _block_texts(content: Any) -> list[str]:
    """The text a content field carries: a string, or its text and tool-result blocks."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_result":
            texts += _block_texts(block.get("content", ""))
        elif kind == "tool_use":
            texts.append(orjson.dumps(block["input"]).decode())
    return texts


def prompt_texts(body: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``(system, message texts)``: what the prompt's tokens are counted from."""
    system = body.get("system", "")
    instructions = "".join(_block_texts(system)) if system else ""
    texts = tuple(text for message in body["messages"] for text in _block_texts(message["content"]))
    return instructions, texts


def _short(uuid: str) -> str:
    return uuid.replace("-", "")[:24]  # a step's UUID, or a message id's hex digits as they are


def message_body(completion: Completion, model: str, stop_reason: str) -> dict[str, Any]:
    """The Message: a text block (unless only tools were called), then a tool_use per call."""
    content: list[dict[str, Any]] = []
    if completion.text or not completion.steps:
        content.append({"type": "text", "text": completion.text})
    for step, step_id in zip(tool_steps(completion), completion.step_ids, strict=True):
        given = step["toolCallId"]
        call_id = given if given.startswith("toolu_") else f"toolu_{_short(step_id)}"
        content.append(
            {"type": "tool_use", "id": call_id, "name": step["toolName"], "input": step["args"]}
        )
    return {
        "id": f"msg_{_short(completion.message_id)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": completion.prompt_tokens,
            "output_tokens": completion.completion_tokens,
        },
    }
