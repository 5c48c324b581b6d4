"""The Anthropic family driven by the official anthropic SDK, unmodified, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import jsonschema
import pytest
from anthropic.types import Message, ModelInfo, TextBlock, ToolUseBlock

from mockserver import MockServer

from .providers import KEY, own_server, usage_row

WEATHER = {"toolName": "get_weather", "args": {"city": "Paris", "unit": "celsius"}}
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
HELLO: list[Any] = [{"role": "user", "content": "Write a haiku about cats."}]


server = pytest.fixture(own_server, scope="module", name="server")


@pytest.fixture
def live(server: MockServer) -> Iterator[MockServer]:
    server.reset()
    yield server
    server.check_failures()


def client_of(server: MockServer, key: str = KEY, region: str = "eu") -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=f"{server.url}/anthropic/{region}", api_key=key, max_retries=0
    )


@pytest.fixture(scope="module")
def shared_client(server: MockServer) -> Iterator[anthropic.Anthropic]:
    """One client for the module: building one loads a CA bundle (a third of a second)."""
    with client_of(server) as sdk:
        yield sdk


@pytest.fixture
def client(live: MockServer, shared_client: anthropic.Anthropic) -> anthropic.Anthropic:
    return shared_client


@pytest.fixture
def claude(client: anthropic.Anthropic) -> str:
    """The first model the Anthropic models endpoint lists."""
    return client.models.list().data[0].id


def test_models_list_parses_into_model_infos(client: anthropic.Anthropic) -> None:
    page = client.models.list()
    assert page.data, "the catalogue has Claude models"
    assert all(isinstance(model, ModelInfo) and model.type == "model" for model in page.data)
    assert all(model.id.startswith("claude") for model in page.data)
    assert page.has_next_page() is False


def test_message_parses_with_text_stop_reason_and_usage(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    message = client.messages.create(
        model=claude, max_tokens=1024, system="Be brief.", messages=HELLO
    )
    assert isinstance(message, Message)
    assert message.id.startswith("msg_")
    assert message.model == claude
    assert message.role == "assistant"
    [block] = message.content
    assert isinstance(block, TextBlock)
    assert block.text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    # The limiter charged exactly what usage reports.
    charged = usage_row(live, claude)
    assert charged["requests"] == 1
    assert charged["tokens"] == message.usage.input_tokens + message.usage.output_tokens


def test_same_request_same_reply(client: anthropic.Anthropic, claude: str) -> None:
    first = client.messages.create(model=claude, max_tokens=512, messages=HELLO)
    second = client.messages.create(model=claude, max_tokens=512, messages=HELLO)
    assert first.content == second.content
    assert first.id != second.id


def test_system_blocks_and_content_blocks_are_accepted(
    client: anthropic.Anthropic, claude: str
) -> None:
    message = client.messages.create(
        model=claude,
        max_tokens=256,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": [{"type": "text", "text": "And now?"}]},
        ],
        stop_sequences=["\n\n"],
        metadata={"user_id": "u-1"},
        # Sampling fields the current SDK no longer offers, which older clients send.
        extra_body={"temperature": 0.2, "top_k": 5, "top_p": 0.9},
    )
    assert message.usage.input_tokens == -(-len("Be brief.HelloHi.And now?") // 4)


def test_output_config_format_gives_json_that_validates(
    client: anthropic.Anthropic, claude: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer", "minimum": 1900}},
        "required": ["title", "year"],
        "additionalProperties": False,
    }
    message = client.messages.create(
        model=claude,
        max_tokens=1024,
        messages=HELLO,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    [block] = message.content
    assert isinstance(block, TextBlock)
    jsonschema.validate(json.loads(block.text), schema)


def test_max_tokens_cuts_the_reply(client: anthropic.Anthropic, claude: str) -> None:
    whole = client.messages.create(model=claude, max_tokens=4096, messages=HELLO)
    cut = client.messages.create(model=claude, max_tokens=2, messages=HELLO)
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 2
    [block], [full] = cut.content, whole.content
    assert isinstance(block, TextBlock)
    assert isinstance(full, TextBlock)
    assert full.text.startswith(block.text)
    assert len(block.text) < len(full.text)


def test_stream_helper_gives_the_same_message(client: anthropic.Anthropic, claude: str) -> None:
    whole = client.messages.create(model=claude, max_tokens=1024, messages=HELLO)
    with client.messages.stream(model=claude, max_tokens=1024, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    [block] = whole.content
    assert isinstance(block, TextBlock)
    assert "".join(pieces) == block.text
    [streamed] = final.content
    assert streamed.type == "text"
    assert streamed.text == block.text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_raw_stream_has_anthropics_event_sequence(client: anthropic.Anthropic, claude: str) -> None:
    events = list(client.messages.create(model=claude, max_tokens=64, messages=HELLO, stream=True))
    types = [event.type for event in events]
    deltas = types.count("content_block_delta")
    assert deltas >= 1
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK drops the ping that follows content_block_start
    start, end = events[0], events[-2]
    assert start.type == "message_start"
    assert end.type == "message_delta"
    assert start.message.content == []
    assert start.message.stop_reason is None
    assert end.delta.stop_reason == "end_turn"
    assert end.usage.output_tokens > 0


def test_raw_stream_sends_ping_and_named_events(live: MockServer, claude: str) -> None:
    body = {"model": claude, "max_tokens": 16, "messages": HELLO, "stream": True}
    with httpx.stream(
        "POST", f"{live.url}/anthropic/eu/v1/messages", json=body, headers={"x-api-key": KEY}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]


def test_scripted_tool_call_is_a_tool_use_block(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    live.reply_with("Let me look that up.", tools=[WEATHER], times=1)
    message = client.messages.create(
        model=claude,
        max_tokens=1024,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,
        tool_choice={"type": "auto"},
    )
    assert message.stop_reason == "tool_use"
    text, call = message.content
    assert isinstance(text, TextBlock)
    assert text.text == "Let me look that up."
    assert isinstance(call, ToolUseBlock)
    assert call.id.startswith("toolu_")
    assert (call.name, call.input) == ("get_weather", WEATHER["args"])
    # The client runs the tool and sends the result back: the next turn is text again.
    turns: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [block.model_dump() for block in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}],
        },
    ]
    answer = client.messages.create(model=claude, max_tokens=1024, tools=TOOLS, messages=turns)
    assert answer.stop_reason == "end_turn"


CLOCK: dict[str, Any] = {
    "name": "get_time",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
        "required": ["zone"],
    },
}
TIME = {"toolName": "get_time", "args": {"zone": "CET"}}


def test_tool_choice_none_answers_text_instead_of_the_scripted_call(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    live.reply_with(tools=[WEATHER], times=1)
    message = client.messages.create(
        model=claude, max_tokens=1024, messages=HELLO, tools=TOOLS, tool_choice={"type": "none"}
    )
    assert message.stop_reason == "end_turn"
    [block] = message.content
    assert isinstance(block, TextBlock)
    assert block.text


def test_a_named_tool_choice_keeps_only_that_tools_call(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    tools: Any = [*TOOLS, CLOCK]

    def ask() -> Message:
        return client.messages.create(
            model=claude,
            max_tokens=1024,
            messages=HELLO,
            tools=tools,
            tool_choice={"type": "tool", "name": "get_time"},
        )

    live.reply_with("Checking.", tools=[WEATHER, TIME], times=1)
    message = ask()
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if isinstance(block, ToolUseBlock)]
    assert [(call.name, call.input) for call in calls] == [("get_time", {"zone": "CET"})]
    live.reply_with(tools=[WEATHER], times=1)  # a script of another tool: the named one is called
    [call] = ask().content
    assert isinstance(call, ToolUseBlock)
    assert call.name == "get_time"
    assert call.input["zone"] in ("UTC", "CET")


def test_a_tool_choice_naming_an_unknown_tool_is_a_bad_request_error(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=claude,
            max_tokens=64,
            messages=HELLO,
            tools=TOOLS,
            tool_choice={"type": "tool", "name": "get_stock"},
        )
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "tool_choice.name: Tool 'get_stock' not found in tools",
        },
    }
    assert live.state.limiter.usage() == []  # a rejected request counts nothing


def test_streamed_tool_call_arrives_as_input_json_deltas(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    live.reply_with("", tools=[WEATHER])
    with client.messages.stream(
        model=claude, max_tokens=1024, messages=HELLO, tools=TOOLS
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    [call] = final.content
    assert isinstance(call, ToolUseBlock)
    assert call.input == WEATHER["args"]
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"messages": []}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tool_choice": {"type": "tool"}, "tools": TOOLS}, "tool_choice.name"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role"),
    ],
    ids=["no-messages", "zero-max-tokens", "tool-choice-without-name", "bad-role"],
)
def test_invalid_body_is_a_bad_request_error(
    client: anthropic.Anthropic, claude: str, overrides: dict[str, Any], fragment: str
) -> None:
    arguments: dict[str, Any] = {"model": claude, "max_tokens": 64, "messages": HELLO, **overrides}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**arguments)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]


def test_unknown_key_is_an_authentication_error(live: MockServer, claude: str) -> None:
    with (
        client_of(live, key="sk-ld-nobody") as sdk,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        sdk.messages.create(model=claude, max_tokens=8, messages=HELLO)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_key_without_the_completion_scope_is_permission_denied(
    live: MockServer, claude: str
) -> None:
    key = live.add_key(scopes=["AGENT_API"])
    with client_of(live, key=key) as sdk, pytest.raises(anthropic.PermissionDeniedError) as caught:
        sdk.messages.create(model=claude, max_tokens=8, messages=HELLO)
    assert caught.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert "COMPLETION_API" in caught.value.message


def test_completion_only_key_is_enough(live: MockServer, claude: str) -> None:
    key = live.add_key(scopes=["COMPLETION_API"])
    with client_of(live, key=key) as sdk:
        assert sdk.messages.create(model=claude, max_tokens=8, messages=HELLO).content


def test_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-nonexistent", max_tokens=8, messages=HELLO)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_unknown_region_is_not_found_in_anthropics_shape(live: MockServer, claude: str) -> None:
    with client_of(live, region="mars") as sdk, pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.create(model=claude, max_tokens=8, messages=HELLO)
    assert caught.value.body["type"] == "error"  # type: ignore[index]


def test_over_the_limit_is_a_rate_limit_error(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    live.set_limits(rpm=1, model=claude)
    client.messages.create(model=claude, max_tokens=8, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=claude, max_tokens=8, messages=HELLO)
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert usage_row(live, claude)["requests"] == 1  # the refused request consumed nothing


@pytest.mark.parametrize(
    ("limits", "said"),
    [({"rpm": 1}, "1 requests per minute"), ({"tpm": 10}, "10 tokens per minute")],
    ids=["rpm", "tpm"],
)
def test_rate_limit_error_names_the_window_until_the_clock_moves(
    live: MockServer, client: anthropic.Anthropic, claude: str, limits: dict[str, int], said: str
) -> None:
    live.set_limits(model=claude, rpm=limits.get("rpm"), tpm=limits.get("tpm"))
    client.messages.create(model=claude, max_tokens=64, messages=HELLO)  # fills the window
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=claude, max_tokens=64, messages=HELLO)
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": f"Rate limit exceeded: {said} for model {claude} in this workspace",
        },
    }
    live.advance_clock(60)  # the window empties on the mock clock: no sleeping
    assert client.messages.create(model=claude, max_tokens=64, messages=HELLO).content


def test_oversized_body_is_request_too_large(client: anthropic.Anthropic, claude: str) -> None:
    huge: list[Any] = [{"role": "user", "content": "x" * 1_100_000}]
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=claude, max_tokens=8, messages=huge)
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_x_api_key_and_the_dedicated_prefix_work(live: MockServer, claude: str) -> None:
    body = {"model": claude, "max_tokens": 8, "messages": HELLO}
    response = httpx.post(
        f"{live.url}/api/public/anthropic/us/v1/messages", json=body, headers={"x-api-key": KEY}
    )
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


def test_injected_fault_is_an_sdk_error(client: anthropic.Anthropic, claude: str) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(
            model=claude,
            max_tokens=8,
            messages=HELLO,
            extra_headers={"X-Mock-Fault": "status=503"},
        )
    assert caught.value.status_code == 503
    assert caught.value.body["type"] == "error"  # type: ignore[index]


def test_stream_cut_midway_fails_the_sdk_stream(
    live: MockServer, client: anthropic.Anthropic, claude: str
) -> None:
    seen: list[str] = []
    stream = client.messages.stream(
        model=claude,
        max_tokens=1024,
        messages=HELLO,
        extra_headers={"X-Mock-Fault": "cut_after_events=4"},
    )
    # The SDK reads over httpx2 and lets a cut connection surface as the transport's error.
    with pytest.raises(httpx2.RemoteProtocolError), stream as events:
        seen.extend(events.text_stream)
    assert seen, "the text before the cut reached the client"
    [entry] = [r for r in live.requests if r.path.endswith("/v1/messages")]
    assert entry.status == 200
