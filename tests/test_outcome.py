"""What operations return: records built by keyword keep every field under its own name."""

from __future__ import annotations

import io
from types import MappingProxyType
from typing import Any

from mockserver.api.outcome import Call, Choice, Completion, Upload
from mockserver.auth import Principal
from mockserver.schemas import load_bundle

# Neighbours of one type each hold a different value, so a swap in the positional build shows.
COMPLETION: dict[str, Any] = {
    "family": "agent",
    "message_id": "m-1",
    "text": "Hello",
    "steps": ({"toolCallId": "t-1"},),
    "output": {"answer": 1},
    "has_output": True,
    "stream": False,
    "headers": MappingProxyType({"X-RateLimit-Limit-Requests": "60"}),
    "step_ids": ("s-1",),
    "prompt_tokens": 3,
    "completion_tokens": 5,
    "choices": (Choice("Hello"), Choice("Hi", truncated=True)),
    "created": 1_700_000_000,
    "model": "gpt-4o",
    "target_id": "asst-1",
}


def test_completion_make_keeps_every_field_under_its_name() -> None:
    completion = Completion.make(**COMPLETION)
    assert type(completion) is Completion
    assert completion._asdict() == COMPLETION
    assert completion == Completion(**COMPLETION)


def test_completion_make_has_the_classes_defaults() -> None:
    made = Completion.make(family="assistant", message_id="m-2", text="")
    assert made == Completion(family="assistant", message_id="m-2", text="")


def test_call_make_keeps_every_field_under_its_name() -> None:
    operation = load_bundle(None, "seed").operations["assistant.models"]
    principal = Principal("sk-ld-mock", "default", frozenset({"AGENT_API"}), False)
    params = {"region": "eu"}
    uploads = {"file": Upload("a.txt", "text/plain", 1, io.BytesIO(b"a"))}
    call = Call.make(
        operation=operation,
        principal=principal,
        body={"q": 1},
        params=params,
        uploads=uploads,
        base_url="http://127.0.0.1:1",
    )
    assert type(call) is Call
    assert call._asdict() == {
        "operation": operation,
        "principal": principal,
        "body": {"q": 1},
        "params": params,
        "uploads": uploads,
        "base_url": "http://127.0.0.1:1",
    }
    bare = Call.make(operation=operation, principal=principal, body={})
    assert bare == Call(operation=operation, principal=principal, body={})
