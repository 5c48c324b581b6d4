"""Google generateContent bodies (pure): the prompt a request carries, the response a reply is."""

from __future__ import annotations

from typing import Any

import orjson

from mockserver.api.bodies import tool_steps
from mockserver.api.outcome import Completion

__all__ = ["prompt_texts", "response_body"]


def _part_texts(content: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for part in content.get("parts", ()):
        if "text" in part:
            texts.append(part["text"])
        elif "functionResponse" in part:
            texts.append(orjson.dumps(part["functionResponse"].get("response", {})).decode())
        elif "functionCall" in part:
            texts.append(orjson.dumps(part["functionCall"].get("args", {})).decode())
    return texts


def prompt_texts(body: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``(system instruction, content texts)``: what the prompt's tokens are counted from."""
    system = body.get("systemInstruction")
    instructions = "".join(_part_texts(system)) if system else ""
    return instructions, tuple(
        text for content in body["contents"] for text in _part_texts(content)
    )


def response_body(completion: Completion, model: str, finish_reason: str) -> dict[str, Any]:
    """The GenerateContentResponse: one candidate, text then a functionCall part per call."""
    parts: list[dict[str, Any]] = []
    if completion.text or not completion.steps:
        parts.append({"text": completion.text})
    for step in tool_steps(completion):
        parts.append(
            {
                "functionCall": {
                    "id": step["toolCallId"],
                    "name": step["toolName"],
                    "args": step["args"],
                }
            }
        )
    prompt, produced = completion.prompt_tokens, completion.completion_tokens
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": produced,
            "totalTokenCount": prompt + produced,
        },
        "modelVersion": model,
        "responseId": completion.message_id[:24],
    }
