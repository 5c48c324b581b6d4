"""The official openai SDK, unmodified, against a live mock over real sockets: every route, every
error class it raises, and faults in its streams."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from mockserver import MockServer
from mockserver.api.providers.openai_embeddings import vector

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
HELLO: Any = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def sdk(live: MockServer) -> Iterator[OpenAI]:
    """The SDK pointed at the live mock's OpenAI route, no retries (a 429 must surface)."""
    with OpenAI(base_url=f"{live.url}/openai/eu/v1", api_key=live.api_key, max_retries=0) as client:
        yield client


def _client(live: MockServer, key: str, region: str = "eu") -> OpenAI:
    return OpenAI(base_url=f"{live.url}/openai/{region}/v1", api_key=key, max_retries=0)


def test_chat_completion(sdk: OpenAI, live: MockServer) -> None:
    completion = sdk.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        temperature=0.2,
    )
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.message.content
    assert choice.finish_reason == "stop"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == -(-len("Be brief.Say hello") // 4)
    assert usage.completion_tokens == -(-len(choice.message.content) // 4)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    live.assert_called("/openai/eu/v1/chat/completions", times=1)


def test_chat_is_deterministic_and_n_choices_differ(sdk: OpenAI) -> None:
    first = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, n=3)
    again = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, n=3)
    texts = [choice.message.content for choice in first.choices]
    assert [choice.index for choice in first.choices] == [0, 1, 2]
    assert texts == [choice.message.content for choice in again.choices]
    assert len(set(texts)) == 3


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_a_token_limit_truncates_with_finish_reason_length(sdk: OpenAI, field: str) -> None:
    limit: Any = {field: 3}
    completion = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, **limit)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content is not None
    assert len(choice.message.content) == 3 * 4
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


def test_stream_with_include_usage(sdk: OpenAI) -> None:
    plain = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage


def test_stream_without_include_usage_has_no_usage(sdk: OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_scripted_tool_calls(sdk: OpenAI, live: MockServer) -> None:
    live.reply_with(
        tools=[{"toolName": "get_weather", "toolCallId": "call_1", "args": {"city": "Paris"}}],
        contains="weather",
        times=1,
    )
    messages: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    completion = sdk.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert calls[0].id == "call_1"
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == '{"city":"Paris"}'
    # The tool's result goes back, and the (unscripted) model answers in text.
    follow_up: Any = [
        *messages,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
    ]
    answer = sdk.chat.completions.create(model="gpt-4o", messages=follow_up, tools=[WEATHER_TOOL])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content


def test_a_forced_tool_choice_calls_it_with_valid_arguments(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="gpt-4o",
        messages=HELLO,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].type == "function"
    parsed = json.loads(calls[0].function.arguments)
    assert isinstance(parsed["city"], str)
    assert parsed["days"] >= 1


CLOCK_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
            "required": ["zone"],
        },
    },
}
CLOCK_FUNCTION: Any = {"type": "function", **CLOCK_TOOL["function"]}
SCRIPTED_CALLS = [
    {"toolName": "get_weather", "args": {"city": "Paris", "days": 1}},
    {"toolName": "get_time", "args": {"zone": "CET"}},
]


def test_tool_choice_none_answers_text_instead_of_the_scripted_calls(
    sdk: OpenAI, live: MockServer
) -> None:
    live.reply_with(tools=SCRIPTED_CALLS, times=1)
    completion = sdk.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL, CLOCK_TOOL], tool_choice="none"
    )
    choice = completion.choices[0]
    assert (choice.finish_reason, choice.message.tool_calls) == ("stop", None)
    assert choice.message.content
    live.reply_with(tools=SCRIPTED_CALLS, times=1)
    response = sdk.responses.create(
        model="gpt-4o",
        input="Hi",
        tools=[CLOCK_FUNCTION],
        tool_choice="none",
    )
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text


def test_a_named_tool_choice_keeps_only_that_tools_scripted_calls(
    sdk: OpenAI, live: MockServer
) -> None:
    live.reply_with(tools=SCRIPTED_CALLS, times=2)
    named: Any = {"type": "function", "function": {"name": "get_time"}}
    completion = sdk.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL, CLOCK_TOOL], tool_choice=named
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("get_time", '{"zone":"CET"}')
    ]
    response = sdk.responses.create(
        model="gpt-4o",
        input="Hi",
        tools=[CLOCK_FUNCTION],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert [(item.type, getattr(item, "name", None)) for item in response.output] == [
        ("function_call", "get_time")
    ]


def test_a_named_tool_choice_calls_it_when_the_script_calls_another(
    sdk: OpenAI, live: MockServer
) -> None:
    live.reply_with(tools=SCRIPTED_CALLS[:1], times=1)  # get_weather only
    named: Any = {"type": "function", "function": {"name": "get_time"}}
    completion = sdk.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL, CLOCK_TOOL], tool_choice=named
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["zone"] in ("UTC", "CET")  # type: ignore[union-attr]


def test_a_tool_choice_naming_an_unknown_tool_is_a_400(sdk: OpenAI, live: MockServer) -> None:
    named: Any = {"type": "function", "function": {"name": "get_stock"}}
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(
            model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL], tool_choice=named
        )
    assert _raised(info.value)["type"] == "invalid_request_error"
    assert info.value.param == "tool_choice.function.name"
    assert "get_stock" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model="gpt-4o",
            input="Hi",
            tools=[CLOCK_FUNCTION],
            tool_choice={"type": "function", "name": "get_stock"},
        )
    assert info.value.param == "tool_choice"
    assert live.state.limiter.usage() == []  # a rejected request counts nothing


def test_streamed_tool_calls_accumulate_to_the_scripted_call(sdk: OpenAI, live: MockServer) -> None:
    live.reply_with(tools=[{"toolName": "get_weather", "args": {"city": "Lyon", "days": 2}}])
    stream = sdk.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL], stream=True
    )
    arguments = ""
    names = []
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or ():
            arguments += call.function.arguments or "" if call.function else ""
            if call.function and call.function.name:
                names.append(call.function.name)
    assert names == ["get_weather"]
    assert arguments == '{"city":"Lyon","days":2}'


class Forecast(BaseModel):
    city: str
    days: int
    sunny: bool
    highs: list[float]


def test_structured_output_parses_into_the_model(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.parse(
        model="gpt-4o", messages=HELLO, response_format=Forecast
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Forecast)
    assert isinstance(parsed.highs, list)


def test_responses_create(sdk: OpenAI) -> None:
    response = sdk.responses.create(model="gpt-4o", input="Say hello", instructions="Be brief.")
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens == -(-len("Be brief.Say hello") // 4)
    assert response.usage.output_tokens == -(-len(response.output_text) // 4)


def test_responses_stream_events(sdk: OpenAI) -> None:
    plain = sdk.responses.create(model="gpt-4o", input=[{"role": "user", "content": "Hi"}])
    events = list(
        sdk.responses.create(model="gpt-4o", input=[{"role": "user", "content": "Hi"}], stream=True)
    )
    kinds = [event.type for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == plain.output_text
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == plain.output_text


def test_responses_stream_helper_and_function_calls(sdk: OpenAI, live: MockServer) -> None:
    live.reply_with(tools=[{"toolName": "lookup", "toolCallId": "call_9", "args": {"q": "x"}}])
    tool: Any = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    with sdk.responses.stream(model="gpt-4o", input="Find x", tools=[tool]) as stream:
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call"
    assert (call.name, call.call_id, call.arguments) == ("lookup", "call_9", '{"q":"x"}')


def test_responses_structured_output(sdk: OpenAI) -> None:
    response = sdk.responses.parse(model="gpt-4o", input="Forecast", text_format=Forecast)
    assert isinstance(response.output_parsed, Forecast)


def test_embeddings_in_float_and_base64(sdk: OpenAI, live: MockServer) -> None:
    floats = sdk.embeddings.create(
        model="text-embedding-ada-002", input=["alpha", "beta"], encoding_format="float"
    )
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    decoded = sdk.embeddings.create(model="text-embedding-ada-002", input=["alpha", "beta"])
    assert [d.index for d in floats.data] == [0, 1]
    assert all(len(d.embedding) == 1536 for d in floats.data)
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.data[0].embedding == list(vector(0, "alpha", 1536))
    assert sum(x * x for x in floats.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    assert floats.usage.prompt_tokens == -(-len("alphabeta") // 4) == floats.usage.total_tokens
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-ada-002", input="alpha", encoding_format="base64"
    )
    text = raw.http_response.json()["data"][0]["embedding"]
    assert list(struct.unpack("<1536f", base64.b64decode(text))) == floats.data[0].embedding


def test_models_list(sdk: OpenAI) -> None:
    ids = [model.id for model in sdk.models.list()]
    assert ids == ["gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-5-mini", "text-embedding-ada-002"]


def test_other_regions_and_the_dedicated_prefix(live: MockServer) -> None:
    for base in ("/openai/us/v1", "/openai/global/v1", "/api/public/openai/eu/v1"):
        with OpenAI(base_url=live.url + base, api_key=live.api_key, max_retries=0) as client:
            assert client.chat.completions.create(model="gpt-4o", messages=HELLO).choices


def _raised(exc: openai.APIStatusError) -> dict[str, Any]:
    assert isinstance(exc.body, dict)
    return exc.body


def test_401_is_an_authentication_error(live: MockServer) -> None:
    with _client(live, "sk-wrong") as client, pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert _raised(info.value)["message"] == "Invalid or missing API key"


def test_403_without_the_scope_is_a_permission_denied_error(live: MockServer) -> None:
    key = live.add_key(scopes=["AGENT_API"])
    with _client(live, key) as client, pytest.raises(openai.PermissionDeniedError) as info:
        client.models.list()
    assert "requires COMPLETION_API scope" in info.value.message


def test_a_personal_key_is_enough(live: MockServer) -> None:
    key = live.add_key(kind="personal")
    with _client(live, key) as client:
        assert client.embeddings.create(model="text-embedding-ada-002", input="x").data


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.chat.completions.create(model="gpt-9", messages=HELLO),
        lambda c: c.embeddings.create(model="text-embedding-3-large", input="x"),
        lambda c: c.responses.create(model="claude-sonnet-4-5@20250929", input="x"),
    ],
    ids=["chat", "embeddings", "responses-other-family"],
)
def test_404_for_an_unknown_model_is_a_not_found_error(sdk: OpenAI, call: Any) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        call(sdk)
    assert info.value.code == "model_not_found"
    assert info.value.param == "model"


def test_404_for_an_unknown_region(live: MockServer) -> None:
    with _client(live, live.api_key, "mars") as client, pytest.raises(openai.NotFoundError):
        client.models.list()


def test_400_names_the_first_issue_and_its_param(sdk: OpenAI, live: MockServer) -> None:
    bad: Any = [{"role": "robot", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=bad)
    assert info.value.param == "messages[0].role"
    assert info.value.message.startswith("Error code: 400 - ")
    assert _raised(info.value)["type"] == "invalid_request_error"
    assert live.state.limiter.usage() == []  # a rejected request counts nothing


def test_429_is_a_rate_limit_error(sdk: OpenAI, live: MockServer) -> None:
    live.set_limits(rpm=1, model="gpt-4o")
    sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert info.value.code == "rate_limit_exceeded"
    assert "1 requests per minute" in info.value.message
    live.set_limits(rpm=0, model="text-embedding-ada-002")  # embeddings have windows too
    with pytest.raises(openai.RateLimitError):
        sdk.embeddings.create(model="text-embedding-ada-002", input="x")


@pytest.mark.parametrize(
    ("limits", "kind", "said"),
    [
        ({"rpm": 1}, "requests", "1 requests per minute"),
        ({"tpm": 5}, "tokens", "5 tokens per minute"),
    ],
    ids=["rpm", "tpm"],
)
def test_429_says_which_window_is_full_until_the_clock_moves(
    sdk: OpenAI, live: MockServer, limits: dict[str, int], kind: str, said: str
) -> None:
    live.set_limits(model="gpt-4o", rpm=limits.get("rpm"), tpm=limits.get("tpm"))
    sdk.chat.completions.create(model="gpt-4o", messages=HELLO)  # fills the window
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert _raised(info.value) == {
        "message": f"Rate limit exceeded: {said} for model gpt-4o in this workspace",
        "type": kind,
        "param": None,
        "code": "rate_limit_exceeded",
    }
    live.advance_clock(60)  # the window empties on the mock clock: no sleeping
    assert sdk.chat.completions.create(model="gpt-4o", messages=HELLO).choices


def test_an_injected_status_is_in_openai_shape(sdk: OpenAI, live: MockServer) -> None:
    live.fail_next(503, path="/openai/*")
    with pytest.raises(openai.InternalServerError) as info:
        sdk.models.list()
    assert info.value.status_code == 503
    assert _raised(info.value)["type"] == "server_error"


def test_a_cut_stream_raises_in_the_sdk(sdk: OpenAI, live: MockServer) -> None:
    live.add_fault({"match": {"path": "/openai/*"}, "action": {"cut_after_events": 2}})
    stream = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    received: list[Any] = []
    with pytest.raises(openai.APIError):
        received.extend(stream)
    assert len(received) == 2


def test_a_cut_responses_stream_never_completes(sdk: OpenAI, live: MockServer) -> None:
    live.add_fault({"match": {"path": "/openai/*"}, "action": {"cut_after_events": 3}})
    events: list[Any] = []
    with pytest.raises(openai.APIError):
        events.extend(sdk.responses.create(model="gpt-4o", input="Hi", stream=True))
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
