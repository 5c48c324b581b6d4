"""Redaction of recordings: stream events by path, the caller's key wherever it was echoed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from mockserver import MockServer
from mockserver.cli import cli
from mockserver.journal import fingerprint
from mockserver.proxy.recording import read_recording
from mockserver.proxy.redaction import REDACTED, Redactor, key_mark
from mockserver.server import ProxyServer
from tests.upstreams import serving

KEY = "sk-ld-stream-key-0123456789"
AGENT_CHAT = "/agent/v1/chat/completions"
SECRET = "TOP-SECRET-42"
# An agents stream (AI SDK 5 UI message chunks) whose chunks split events, and one event's
# secret, across chunk boundaries; the upstream also echoes the caller's key.
CHUNKS = [
    b'data: {"type":"start","messageId":"m1"}\n\ndata: {"type":"text-start","id":"t"}\n',
    b'\ndata: {"type":"text-delta","id":"t","delta":"TOP-SE',
    b'CRET-42"}\n\ndata: {"type":"text-delta","id":"t","delta":"fine"}\n\n',
    b'data: {"type":"text-end","id":"t"}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n',
]


def _stream_app() -> Starlette:
    async def answer(request: Request) -> StreamingResponse:
        await request.body()
        key = request.headers["authorization"].partition(" ")[2]

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in CHUNKS:
                yield chunk.replace(b"m1", key.encode())

        return StreamingResponse(
            chunks(), media_type="text/event-stream", headers={"x-echo": f"key={key}"}
        )

    return Starlette(routes=[Route(AGENT_CHAT, answer, methods=["POST"])])


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


@pytest.mark.parametrize("fmt", ["jsonl", "har"])
def test_a_recorded_stream_holds_neither_the_redacted_text_nor_the_key(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"stream.{fmt}"
    with (
        serving(_stream_app()) as url,
        ProxyServer(upstream=url, record=path, record_format=fmt, redact=("delta",)) as proxy,
        _client(proxy.url) as http,
    ):
        live = http.post(AGENT_CHAT, json={"messages": []})
    assert SECRET.encode() in live.content  # the client itself gets the stream as sent
    text = path.read_text()
    for hidden in (SECRET, "TOP-SE", "CRET-42", KEY, "fine"):
        assert hidden not in text, hidden
    assert key_mark(KEY) in text
    (recorded,) = read_recording(path)
    assert recorded.redacted == ("delta",)
    assert recorded.key_id == fingerprint(KEY)
    assert recorded.response_headers["x-echo"] == f"key={key_mark(KEY)}"
    # One event a chunk, each at the offset of the chunk it ended in; the body is their join.
    assert b"".join(chunk for _, chunk in recorded.events) == recorded.response_body
    assert all(chunk.endswith(b"\n\n") for _, chunk in recorded.events)
    assert len(recorded.events) == 7
    offsets = [at for at, _ in recorded.events]
    assert offsets == sorted(offsets)
    deltas = [
        json.loads(chunk[6:])
        for _, chunk in recorded.events
        if chunk.startswith(b'data: {"type":"text-delta"')
    ]
    assert [d["delta"] for d in deltas] == [REDACTED, REDACTED]


def test_a_redacted_stream_replays_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    with (
        serving(_stream_app()) as url,
        ProxyServer(upstream=url, record=path, redact=("delta",)) as proxy,
        _client(proxy.url) as http,
    ):
        http.post(AGENT_CHAT, json={"messages": []})
    (recorded,) = read_recording(path)
    with MockServer(replay=path, replay_speed=0) as replay:
        replay.add_key(KEY)
        with (
            _client(replay.url) as http,
            http.stream("POST", AGENT_CHAT, json={"messages": []}) as r,
        ):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            body = b"".join(r.iter_raw())
        replay.check_failures()
    assert body == recorded.response_body
    assert SECRET.encode() not in body
    # Still a stream the contract accepts: every event well-formed, [DONE] at its end.
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert "agent.completions: 1 seen" in result.output, result.output
    assert "malformed" not in result.output
    assert "stream end" not in result.output


@pytest.mark.parametrize(
    ("paths", "chunks", "expected", "offsets"),
    [
        (  # AI SDK 4 lines: the code names the value, CRLF framing, an event split in two
            ["0"],
            [b'data: 0:"sec', b'ret"\r\n\r\ndata: d:{"finishReason":"stop"}\r\n\r\n'],
            [b'data: 0:"[redacted]"\r\n\r\n', b'data: d:{"finishReason":"stop"}\r\n\r\n'],
            [0.1, 0.1],
        ),
        (  # a multi-line data: payload becomes one line; event: and id: fields stay
            ["a"],
            [b'event: x\nid: 7\ndata: {"a":\ndata: 1}\n\n'],
            [b'event: x\nid: 7\ndata: {"a":"[redacted]"}\n\n'],
            [0.0],
        ),
        (  # a cut stream's unfinished last event is redacted too
            ["a"],
            [b'data: {"b":1}\n\n', b'data: {"a":"s"}'],
            [b'data: {"b":1}\n\n', b'data: {"a":"[redacted]"}'],
            [0.0, 0.1],
        ),
    ],
    ids=["lines-family", "multi-line-data", "cut-stream"],
)
def test_stream_events_are_redacted_by_path(
    paths: list[str], chunks: list[bytes], expected: list[bytes], offsets: list[float]
) -> None:
    events = tuple((index / 10, chunk) for index, chunk in enumerate(chunks))
    redacted, changed = Redactor(paths).events(events)
    assert changed
    assert [chunk for _, chunk in redacted] == expected
    assert [at for at, _ in redacted] == offsets


def test_a_stream_without_the_paths_is_recorded_exactly_as_it_came() -> None:
    events = ((0.0, b'data: {"type":"st'), (0.2, b'art"}\r\n\r\ndata: [DONE]\n\n'))
    assert Redactor(["delta"]).events(events) == (events, False)
    assert Redactor([]).events(events) == (events, False)
