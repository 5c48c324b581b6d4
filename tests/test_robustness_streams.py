"""Robustness of streams: 200 concurrent SSE completions, each family's, all reach their end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mockserver import MockServer
from tests.robustness import COMPLETIONS, HUGE, burst, inline


def _agent_inline(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "agent": {"name": "Robust", "instructions": "Be brief."},
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
        **extra,
    }


AGENT_COMPLETIONS = "/agent/v1/chat/completions"
# Each family's last line, up to its JSON: the AI SDK 4 data stream's finish part, and the AI
# SDK 5 UI message stream's terminator.
ENDINGS = {COMPLETIONS: b"data: d:", AGENT_COMPLETIONS: b"data: [DONE]"}


def test_200_concurrent_streams_all_finish(server_factory: Callable[..., MockServer]) -> None:
    server = server_factory(**HUGE)
    requests = [
        ("POST", COMPLETIONS, inline(f"stream {i}", stream=True))
        if i % 2
        else ("POST", AGENT_COMPLETIONS, _agent_inline(f"stream {i}", stream=True))
        for i in range(200)
    ]
    answers = asyncio.run(burst(server.url, requests))
    assert {status for status, _, _ in answers} == {200}
    for (_, path, _), (_, body, content_type) in zip(requests, answers, strict=True):
        assert content_type.startswith("text/event-stream")
        assert body.rstrip().rsplit(b"\n", 1)[-1].split(b"{", 1)[0] == ENDINGS[path]
