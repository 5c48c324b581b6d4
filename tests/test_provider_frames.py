"""Anthropic and Google bodies and streams (pure): a stream adds up to its JSON body."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from mockserver.api.outcome import Completion
from mockserver.api.providers.anthropic_bodies import message_body
from mockserver.api.providers.anthropic_bodies import prompt_texts as anthropic_prompt
from mockserver.api.providers.anthropic_frames import message_frames
from mockserver.api.providers.google_bodies import prompt_texts as google_prompt
from mockserver.api.providers.google_bodies import response_body
from mockserver.api.providers.google_frames import response_frames
from mockserver.api.providers.google_schema import response_json_schema, to_json_schema
from mockserver.schemas import load_bundle

STEP = {"toolName": "get_weather", "args": {"city": "Paris"}}
ID = "0f8e2c1a-0000-4000-8000-00000000abcd"


def completion(text: str, steps: tuple[dict[str, Any], ...] = ()) -> Completion:
    step_ids = tuple(f"1111111{n}-0000-4000-8000-000000000000" for n in range(len(steps)))
    return Completion.make(
        family="anthropic",
        message_id=ID,
        text=text,
        steps=steps,
        step_ids=step_ids,
        prompt_tokens=7,
        completion_tokens=5,
    )


def valid(name: str, instance: Any) -> None:
    bundle = load_bundle()
    errors = list(bundle.validator(name).iter_errors(instance))
    assert not errors, [e.message for e in errors]


def _replay(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """A message rebuilt from its events, as the SDK's accumulator does."""
    message = dict(frames[0]["message"])
    message["content"] = []
    buffers: dict[int, str] = {}
    for frame in frames[1:]:
        if frame["type"] == "content_block_start":
            message["content"].append(dict(frame["content_block"]))
        elif frame["type"] == "content_block_delta":
            delta, block = frame["delta"], message["content"][frame["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                buffers[frame["index"]] = buffers.get(frame["index"], "") + delta["partial_json"]
        elif frame["type"] == "content_block_stop" and frame["index"] in buffers:
            message["content"][frame["index"]]["input"] = json.loads(buffers[frame["index"]])
        elif frame["type"] == "message_delta":
            message.update(frame["delta"])
            message["usage"] = {**message["usage"], **frame["usage"]}
    return message


@pytest.mark.parametrize(
    ("text", "steps", "reason"),
    [
        ("Hello there, how are you today?", (), "end_turn"),
        ("Checking.", (STEP,), "tool_use"),
        ("", (STEP, STEP), "tool_use"),
    ],
    ids=["text", "text-and-tool", "tools-only"],
)
def test_anthropic_stream_replays_to_the_message(
    text: str, steps: tuple[dict[str, Any], ...], reason: str
) -> None:
    body = message_body(completion(text, steps), "claude-x", reason)
    valid("responses/anthropic-message.json", body)
    frames = list(message_frames(body, 4))
    for frame in frames:
        valid("responses/anthropic-stream-event.json", frame)
    kinds = [frame["type"] for frame in frames]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("ping") == 1
    assert _replay(frames) == body
    assert [b["type"] for b in body["content"]] == (["text"] if text else []) + ["tool_use"] * len(
        steps
    )


def test_anthropic_tool_use_ids_are_distinct_and_prefixed() -> None:
    body = message_body(completion("", (STEP, STEP)), "claude-x", "tool_use")
    ids = [block["id"] for block in body["content"]]
    assert len(set(ids)) == 2
    assert all(i.startswith("toolu_") for i in ids)


def test_anthropic_prompt_counts_system_blocks_and_tool_results() -> None:
    body = {
        "system": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": "done"}],
                    },
                    {"type": "image", "source": {"type": "url"}},
                ],
            },
        ],
    }
    assert anthropic_prompt(body) == ("Be brief.", ("Hi", '{"a":1}', "done"))


@pytest.mark.parametrize(
    ("text", "steps", "reason"),
    [
        ("A longer reply in pieces.", (), "STOP"),
        ("Checking.", (STEP,), "STOP"),
        ("", (STEP,), "STOP"),
        ("", (), "MAX_TOKENS"),
    ],
    ids=["text", "text-and-call", "call-only", "empty"],
)
def test_google_stream_adds_up_to_the_response(
    text: str, steps: tuple[dict[str, Any], ...], reason: str
) -> None:
    body = response_body(completion(text, steps), "gemini-x", reason)
    valid("responses/google-generate-content.json", body)
    frames = list(response_frames(body, 5))
    for frame in frames:
        valid("responses/google-generate-content.json", frame)
    parts = [p for f in frames for p in f["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == text
    assert [p for p in parts if "functionCall" in p] == [
        p for p in body["candidates"][0]["content"]["parts"] if "functionCall" in p
    ]
    assert [("usageMetadata" in f, "finishReason" in f["candidates"][0]) for f in frames] == [
        (False, False)
    ] * (len(frames) - 1) + [(True, True)]
    assert frames[-1]["usageMetadata"]["totalTokenCount"] == 12


def test_google_prompt_counts_system_instruction_and_function_responses() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Hi"}, {"inlineData": {"mimeType": "a", "data": ""}}],
            },
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}]},
        ],
    }
    assert google_prompt(body) == ("Be brief.", ("Hi", '{"x":1}', '{"ok":1}'))


def test_google_schema_becomes_json_schema() -> None:
    google = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True, "description": "who"},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "sizes": {
                "type": "ARRAY",
                "items": {"type": "INTEGER", "format": "int32"},
                "minItems": "1",
                "maxItems": 3,
            },
            "when": {"type": "STRING", "format": "date-time"},
            "either": {"anyOf": [{"type": "NUMBER", "minimum": 0}, {"type": "BOOLEAN"}]},
        },
        "required": ["name", "sizes"],
        "propertyOrdering": ["name", "sizes"],
    }
    schema = to_json_schema(google)
    assert schema == {
        "type": "object",
        "required": ["name", "sizes"],
        "properties": {
            "name": {"type": ["string", "null"], "description": "who"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "sizes": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "integer"}},
            "when": {"type": "string", "format": "date-time"},
            "either": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "boolean"}]},
        },
    }
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, None),
        ({"responseSchema": {"type": "STRING"}}, None),
        ({"responseMimeType": "application/json"}, {"type": "object"}),
        (
            {"responseMimeType": "application/json", "responseSchema": {"type": "STRING"}},
            {"type": "string"},
        ),
        (
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "STRING"},
                "responseJsonSchema": {"type": "integer"},
            },
            {"type": "integer"},
        ),
    ],
    ids=["none", "schema-without-json", "json-without-schema", "schema", "json-schema-wins"],
)
def test_response_json_schema_of_a_generation_config(config: dict[str, Any], expected: Any) -> None:
    assert response_json_schema(config) == expected
