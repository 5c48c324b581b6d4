"""Completions for the reply tests: one request, its text, and output schemas of every shape."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

COMPLETIONS = "/assistant/v1/chat/completions"
INLINE = {"name": "Writer", "instructions": "Answer in one paragraph."}


def complete(client: TestClient, content: str = "Hello", **extra: Any) -> dict[str, Any]:
    body = {"assistant": INLINE, "messages": [{"role": "user", "content": content}], **extra}
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def text_of(reply: dict[str, Any]) -> str:
    text: str = reply["result"][-1]["content"][0]["text"]
    return text


OUTPUT_SCHEMAS = [
    pytest.param(
        {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 3, "maxLength": 40},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "required": ["title", "score", "tags"],
            "additionalProperties": False,
        },
        id="object",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"when": {"type": "string", "format": "date-time"}},
            "required": ["when", "id"],
        },
        id="required-without-schema",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"step": {"$ref": "#/$defs/step"}},
            "$defs": {"step": {"type": "integer", "minimum": 5, "maximum": 9}},
        },
        id="local-ref",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "price": {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 3},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
                "choice": {"enum": ["a", "b", "c"]},
                "kind": {"const": "fixed"},
                "maybe": {"type": ["null", "boolean"]},
            },
        },
        id="numbers-enums",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "pair": {
                    "type": "array",
                    "items": {"enum": ["x", "y"]},
                    "uniqueItems": True,
                    "minItems": 2,
                }
            },
        },
        id="unique-items",
    ),
]
