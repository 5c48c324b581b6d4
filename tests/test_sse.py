"""stream: true over real sockets, read with httpx-sse: order, termination, reassembly, output."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import jsonschema_rs
import orjson
import pytest
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.testclient import TestClient

from mockserver import MockServer, create_app
from mockserver.api import frames
from mockserver.api.outcome import Call, Completion
from mockserver.asgi import sse
from mockserver.config import Settings
from mockserver.schemas import load_bundle
from mockserver.state import MockState

from .aisdk import build, chunks_of, lines_of, sse_data, user
from .docpages import blocks, page_text

AGENT = "/agent/v1/chat/completions"
ASSISTANT = "/assistant/v1/chat/completions"
AUTH = {"Authorization": "Bearer sk-ld-mock"}
INLINE_AGENT = {"agent": {"name": "Streamer", "instructions": "Talk a lot."}}
INLINE_ASSISTANT = {"assistant": {"name": "Streamer", "instructions": "Talk a lot."}}
OUTPUTS: dict[str, dict[str, Any]] = {
    "object": {
        "type": "object",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
            "required": ["city", "temp"],
        },
    },
    "array": {"type": "array", "schema": {"type": "string", "maxLength": 12}},
    "enum": {"type": "enum", "enum": ["red", "green", "blue"]},
}


def _agent_body(**extra: Any) -> dict[str, Any]:
    return {**INLINE_AGENT, "messages": [user("Tell me a story")], **extra}


def _assistant_body(**extra: Any) -> dict[str, Any]:
    return {
        **INLINE_ASSISTANT,
        "messages": [{"role": "user", "content": "Tell me a story"}],
        **extra,
    }


@pytest.fixture(scope="module")
def chunky() -> Iterator[MockServer]:
    """A live server with 5-character chunks and a 1 ms pause before each."""
    with MockServer(stream_chunk_chars=5, stream_delay_ms=1, check_responses=True) as server:
        yield server


def _chunk_validator() -> jsonschema_rs.Validator:
    bundle = load_bundle()
    return bundle.validator("responses/agent-stream-chunk.json")


def test_agent_stream_is_an_ai_sdk_5_ui_message_stream(http: httpx.Client) -> None:
    response, data = sse_data(http, AGENT, _agent_body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    chunks = chunks_of(data)
    validator = _chunk_validator()
    for chunk in chunks:
        assert validator.is_valid(chunk), chunk
    kinds = [c["type"] for c in chunks]
    deltas = kinds.count("text-delta")
    assert deltas >= 1
    assert kinds == [
        "start",
        "start-step",
        "text-start",
        *["text-delta"] * deltas,
        "text-end",
        "finish-step",
        "finish",
    ]
    text_ids = {c["id"] for c in chunks if "id" in c}
    assert len(text_ids) == 1


def test_agent_stream_reassembles_to_the_json_reply(http: httpx.Client) -> None:
    plain = http.post(AGENT, json=_agent_body()).json()
    _, data = sse_data(http, AGENT, _agent_body(stream=True))
    chunks = chunks_of(data)
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert text == plain["messages"][0]["content"]
    assert all(len(c["delta"]) <= 16 for c in chunks if c["type"] == "text-delta")
    assert build(chunks).content_parts() == plain["parts"]


def test_assistant_stream_is_ai_sdk_4_data_stream_lines(http: httpx.Client) -> None:
    plain = http.post(ASSISTANT, json=_assistant_body()).json()
    response, data = sse_data(http, ASSISTANT, _assistant_body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-vercel-ai-data-stream"] == "v1"
    lines = lines_of(data)
    codes = [code for code, _ in lines]
    texts = codes.count("0")
    assert codes == ["f", *["0"] * texts, "e", "d"]
    [text_message] = plain["result"]
    assert set(lines[0][1]) == {"messageId"}
    assert (
        "".join(value for code, value in lines if code == "0") == text_message["content"][0]["text"]
    )
    finish = lines[-1][1]
    assert finish["finishReason"] == "stop"
    assert finish["usage"]["promptTokens"] > 0
    assert finish["usage"]["completionTokens"] > 0


@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_structured_output_streams_in_both_families(http: httpx.Client, kind: str) -> None:
    spec = OUTPUTS[kind]
    agent_json = http.post(AGENT, json=_agent_body(output=spec)).json()
    _, data = sse_data(http, AGENT, _agent_body(output=spec, stream=True))
    finish = chunks_of(data)[-1]
    assert finish == {"type": "finish", "messageMetadata": {"output": agent_json["output"]}}

    assistant_json = http.post(ASSISTANT, json=_assistant_body(output=spec)).json()
    _, data = sse_data(http, ASSISTANT, _assistant_body(output=spec, stream=True))
    [output_line] = [value for code, value in lines_of(data) if code == "2"]
    assert output_line == [{"output": assistant_json["output"]}]
    if kind == "enum":
        assert agent_json["output"] in spec["enum"]
    elif kind == "array":
        assert all(isinstance(item, str) and len(item) <= 12 for item in agent_json["output"])
    else:
        assert set(agent_json["output"]) == {"city", "temp"}


def test_chunk_size_and_pacing_are_configurable(chunky: MockServer) -> None:
    chunky.reset()
    with httpx.Client(base_url=chunky.url, headers=AUTH, timeout=10) as http:
        plain = http.post(AGENT, json=_agent_body()).json()["messages"][0]["content"]
        _, data = sse_data(http, AGENT, _agent_body(stream=True))
        deltas = [c["delta"] for c in chunks_of(data) if c["type"] == "text-delta"]
        assert "".join(deltas) == plain
        assert all(len(d) == 5 for d in deltas[:-1])
        assert 1 <= len(deltas[-1]) <= 5
        _, data = sse_data(http, ASSISTANT, _assistant_body(stream=True))
        pieces = [value for code, value in lines_of(data) if code == "0"]
        assert all(len(p) == 5 for p in pieces[:-1])
    chunky.check_failures()


def test_one_pause_before_each_text_chunk(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # Only the streaming module's view of anyio: sse-starlette's own sleeps stay real.
    monkeypatch.setattr(sse, "anyio", SimpleNamespace(sleep=sleep))
    client = make_client(stream_delay_ms=250, stream_chunk_chars=8)
    response = client.post(AGENT, json=_agent_body(stream=True))
    deltas = [line for line in response.text.splitlines() if '"text-delta"' in line]
    assert slept == [0.25] * len(deltas)
    assert deltas
    slept.clear()
    response = client.post(ASSISTANT, json=_assistant_body(stream=True))
    pieces = [line for line in response.text.splitlines() if line.startswith("data: 0:")]
    assert slept == [0.25] * len(pieces)
    assert pieces


def test_filters_wrap_the_frames_of_every_stream(client: TestClient) -> None:
    """The hook for stream faults: a filter sees the frames in order and may change them."""
    seen: list[frames.Frame] = []

    async def cut_after_two(
        state: MockState, call: Call, frames: AsyncIterator[frames.Frame]
    ) -> AsyncIterator[frames.Frame]:
        async for frame in frames:
            seen.append(frame)
            yield frame if len(seen) < 2 else "not json"
            if len(seen) == 2:
                return

    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    render = sse.renderers(filters=(cut_after_two,))["agent"]
    operation = state.bundle.operation("agent.completions")
    call = Call.make(
        operation=operation, principal=state.keys["sk-ld-mock"], body=_agent_body(stream=True)
    )
    completion = Completion.make(family="agent", message_id="m-1", text="Hello world", stream=True)
    response = render(state, call, completion)
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"

    async def body() -> bytes:
        assert isinstance(response, EventSourceResponse)
        raw = b""
        async for event in response.body_iterator:
            assert isinstance(event, ServerSentEvent)
            raw += event.encode()
        return raw

    raw = anyio.run(body)
    assert raw == b'data: {"type":"start","messageId":"m-1"}\n\ndata: not json\n\n'
    assert seen == [{"type": "start", "messageId": "m-1"}, {"type": "start-step"}]
    json_reply = sse.renderers()["agent"](state, call, completion._replace(stream=False))
    assert json_reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"messages": [user("x")], "stream": True}, 400),
        (
            {
                "agentId": "00000000-0000-4000-8000-000000000000",
                "messages": [user("x")],
                "stream": True,
            },
            404,
        ),
    ],
    ids=["invalid", "unknown-agent"],
)
def test_errors_before_a_stream_are_plain_json(
    http: httpx.Client, body: dict[str, Any], status: int
) -> None:
    response = http.post(AGENT, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert "message" in response.json()


def test_rate_limits_apply_to_streams(live: MockServer, http: httpx.Client) -> None:
    live.set_limits(rpm=1)
    first, data = sse_data(http, AGENT, _agent_body(stream=True))
    assert first.status_code == 200
    assert data[-1] == "[DONE]"
    refused = http.post(AGENT, json=_agent_body(stream=True))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    live.advance_clock(60.5)
    assert http.post(ASSISTANT, json=_assistant_body(stream=True)).status_code == 200
    statuses = [(r.operation, r.status) for r in live.requests]
    assert statuses == [
        ("agent.completions", 200),
        ("agent.completions", 429),
        ("assistant.completions", 200),
    ]


def test_stream_responses_carry_rate_limit_headers_and_warnings(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_headers=True)
    response = client.post(AGENT, json=_agent_body(stream=True, temperature=1))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "x-ratelimit-remaining-requests" in {k.lower() for k in response.headers}
    assert response.headers["X-Mock-Warnings"] == "unknown field $.temperature"
    assert response.text.endswith("data: [DONE]\n\n")


def test_streams_are_sse_frames_separated_by_blank_lines(http: httpx.Client) -> None:
    with http.stream("POST", AGENT, json=_agent_body(stream=True)) as response:
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == ""
    assert all(event.startswith("data: ") and "\n" not in event for event in events[:-1])
    assert events[-2] == "data: [DONE]"


def test_a_use_chat_style_conversation(live: MockServer, http: httpx.Client) -> None:
    """What useChat does: UIMessages with parts and metadata.attachments, the stream turned into
    the assistant UIMessage, and that message sent back as history on the next turn."""
    uploaded = http.post(
        "/attachment/v1/upload", files={"file": ("q3.pdf", b"%PDF", "application/pdf")}
    )
    attachment_id = uploaded.json()["attachmentId"]
    agent_id = http.post("/agent/v1/create", json={"name": "Analyst"}).json()["agent"]["id"]
    http.post("/agent/v1/publish", json={"agentId": agent_id})
    live.reply_with(
        "Revenue grew.",
        agent_id=agent_id,
        tools=[{"toolName": "dataAnalyst", "args": {"file": attachment_id}, "result": {"rows": 3}}],
    )
    history = [user("Summarise the report", id="u1", attachments=[attachment_id])]
    spec = OUTPUTS["enum"]

    _, data = sse_data(
        http, AGENT, {"agentId": agent_id, "messages": history, "stream": True, "output": spec}
    )
    first = build(chunks_of(data)).message()
    assert [p["type"] for p in first["parts"]] == [
        "step-start",
        "tool-dataAnalyst",
        "step-start",
        "text",
    ]
    assert first["parts"][1]["state"] == "output-available"
    assert first["parts"][3] == {"type": "text", "text": "Revenue grew.", "state": "done"}
    assert first["metadata"]["output"] in spec["enum"]

    history += [first, user("And costs?", id="u2")]
    _, data = sse_data(http, AGENT, {"agentId": agent_id, "messages": history, "stream": True})
    second = build(chunks_of(data)).message()
    assert second["id"] != first["id"]
    assert second["parts"][-1]["text"]
    assert [r.status for r in live.requests][-2:] == [200, 200]


PAGE = "docs/agents-streaming.md"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_the_pages_curl_examples_show_what_the_server_sends() -> None:
    """In-process too, and with the stream's content type (the docs runner runs them live)."""
    pairs = [(b.code, b.output) for b in blocks(PAGE) if b.lang == "bash" and "curl -N" in b.code]
    assert len(pairs) == 2
    for curl, shown in pairs:
        assert shown is not None
        # a fresh server, seed 0, as the docs runner's reset one
        with TestClient(create_app(Settings()), headers=AUTH) as client:
            url = re.search(r"http://127\.0\.0\.1:8080(\S+)", curl)
            body = re.search(r"-d '(.*)'", curl, re.S)
            assert url is not None
            assert body is not None
            sent = client.post(url.group(1), json=orjson.loads(body.group(1)))
            assert sent.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert _UUID.sub("<id>", sent.text.strip()) == _UUID.sub("<id>", "\n".join(shown))


def test_the_pages_endpoint_table_is_the_manifest() -> None:
    rows = [line for line in page_text(PAGE).splitlines() if line.startswith("| `")]
    table: dict[str, tuple[str, str, bool]] = {}
    for row in rows:
        cells = [cell.strip().strip("`") for cell in row.split("|")[1:-1]]
        if "." in cells[0] and " /" in cells[1]:
            scope = re.findall(r"`([A-Z_]+)`", row.split("|")[3]) or ["none"]
            table[cells[0]] = (cells[1].split("?")[0], scope[0], "(admin key)" in cells[2])
    bundle = load_bundle()
    expected = {
        op.id: (f"{op.method} {op.path}", op.scope or "none", op.admin)
        for op in bundle.operations.values()
        if op.family in ("assistant", "agent", "attachment")
    }
    assert table == expected


def test_stream_settings_come_from_the_cli_and_the_environment() -> None:
    from click.testing import CliRunner

    from mockserver.cli import cli
    from mockserver.config import load_settings
    from mockserver.errors import ConfigError

    env = {"LANGDOCK_MOCK_STREAM_CHUNK_CHARS": "3", "LANGDOCK_MOCK_STREAM_DELAY_MS": "20"}
    settings = load_settings(env=env, overrides={"stream_delay_ms": 5, "max_upload_bytes": 10})
    assert (settings.stream_chunk_chars, settings.stream_delay_ms) == (3, 5)
    assert settings.max_upload_bytes == 10
    for name, value in (
        ("stream_chunk_chars", 0),
        ("stream_delay_ms", -1),
        ("max_upload_bytes", 0),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings().replace(**{name: value})
    usage = CliRunner().invoke(cli, ["serve", "--help"]).output
    for flag in ("--stream-chunk-chars", "--stream-delay-ms", "--max-upload-bytes"):
        assert flag in usage
