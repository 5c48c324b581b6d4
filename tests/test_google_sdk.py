"""The Google family driven by the official google-genai SDK, unmodified, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import jsonschema
import pytest
from google import genai
from google.genai import errors, types

from mockserver import MockServer
from mockserver.validation import CLEAN, check

from .providers import KEY, own_server, usage_row

LOOKUP = {"toolName": "get_weather", "args": {"city": "Paris"}}
WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
            ),
        )
    ]
)


server = pytest.fixture(own_server, scope="module", name="server")


@pytest.fixture
def live(server: MockServer) -> Iterator[MockServer]:
    server.reset()
    yield server
    server.check_failures()


def client_of(server: MockServer, key: str = KEY, region: str = "eu") -> genai.Client:
    options = types.HttpOptions(
        base_url=f"{server.url}/google/{region}",
        api_version="v1beta",
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture(scope="module")
def shared_client(server: MockServer) -> Iterator[genai.Client]:
    """One client for the module: building one loads a CA bundle (a third of a second)."""
    with client_of(server) as sdk:
        yield sdk


@pytest.fixture
def client(live: MockServer, shared_client: genai.Client) -> genai.Client:
    return shared_client


@pytest.fixture
def gemini(client: genai.Client) -> str:
    """The first model the Google models endpoint lists, without its models/ prefix."""
    first = next(iter(client.models.list()))
    assert first.name is not None
    return first.name.removeprefix("models/")


def test_models_list_parses_into_models(client: genai.Client) -> None:
    models = list(client.models.list())
    assert models
    for model in models:
        assert isinstance(model, types.Model)
        assert model.name is not None
        assert model.name.startswith("models/gemini")
        assert model.display_name
        assert model.supported_actions == ["generateContent", "streamGenerateContent"]


def test_generate_content_parses_with_text_finish_reason_and_usage(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    response = client.models.generate_content(
        model=gemini,
        contents="Write a haiku about cats.",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.3),
    )
    assert isinstance(response, types.GenerateContentResponse)
    assert response.text
    [candidate] = response.candidates or []
    assert candidate.finish_reason == types.FinishReason.STOP
    assert candidate.content is not None
    assert candidate.content.role == "model"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert usage.prompt_token_count == -(-len("Write a haiku about cats.Be brief.") // 4)
    charged = usage_row(live, gemini)
    assert (charged["requests"], charged["tokens"]) == (1, usage.total_token_count)
    assert response.model_version == gemini


def test_same_request_same_reply(client: genai.Client, gemini: str) -> None:
    first = client.models.generate_content(model=gemini, contents="Hello")
    second = client.models.generate_content(model=gemini, contents="Hello")
    assert first.text == second.text
    assert first.response_id != second.response_id


def test_max_output_tokens_cuts_the_reply(client: genai.Client, gemini: str) -> None:
    whole = client.models.generate_content(model=gemini, contents="Hello")
    cut = client.models.generate_content(
        model=gemini,
        contents="Hello",
        config=types.GenerateContentConfig(max_output_tokens=2),
    )
    [candidate] = cut.candidates or []
    assert candidate.finish_reason == types.FinishReason.MAX_TOKENS
    assert cut.usage_metadata is not None
    assert cut.usage_metadata.candidates_token_count == 2
    assert whole.text
    assert cut.text
    assert whole.text.startswith(cut.text)
    assert len(cut.text) < len(whole.text)


def test_stream_gives_the_same_text_in_pieces(client: genai.Client, gemini: str) -> None:
    whole = client.models.generate_content(model=gemini, contents="Tell me a story.")
    chunks = list(client.models.generate_content_stream(model=gemini, contents="Tell me a story."))
    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata == whole.usage_metadata
    assert all(chunk.usage_metadata is None for chunk in chunks[:-1])


def test_stream_is_sse_with_data_only_events(live: MockServer, gemini: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    url = f"{live.url}/google/eu/v1beta/models/{gemini}:streamGenerateContent?alt=sse"
    with httpx.stream("POST", url, json=body, headers={"x-goog-api-key": KEY}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines
    assert all(line.startswith("data: ") for line in lines)
    for line in lines:
        json.loads(line[6:])


def test_response_schema_gives_json_that_validates(client: genai.Client, gemini: str) -> None:
    schema = types.Schema(
        type=types.Type.OBJECT,
        properties={
            "title": types.Schema(type=types.Type.STRING),
            "year": types.Schema(type=types.Type.INTEGER, minimum=1900, maximum=2100),
            "tags": types.Schema(type=types.Type.ARRAY, items=types.Schema(type=types.Type.STRING)),
        },
        required=["title", "year"],
    )
    response = client.models.generate_content(
        model=gemini,
        contents="A film, please.",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=schema
        ),
    )
    assert response.text is not None
    value = json.loads(response.text)
    assert set(value) >= {"title", "year"}
    assert 1900 <= value["year"] <= 2100
    assert all(isinstance(tag, str) for tag in value["tags"])


def test_response_json_schema_gives_json_that_validates(client: genai.Client, gemini: str) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"enum": ["red", "green"]}, "count": {"type": "integer"}},
        "required": ["colour", "count"],
        "additionalProperties": False,
    }
    response = client.models.generate_content(
        model=gemini,
        contents="Pick one.",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    assert response.text is not None
    jsonschema.validate(json.loads(response.text), schema)


def test_scripted_tool_call_is_a_function_call_part(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    live.reply_with("", tools=[LOOKUP], times=1)
    response = client.models.generate_content(
        model=gemini,
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(tools=[WEATHER_TOOL]),
    )
    [call] = response.function_calls or []
    assert (call.name, call.args) == ("get_weather", LOOKUP["args"])
    # The client runs the function and sends its result back: the next turn is text again.
    answer = client.models.generate_content(
        model=gemini,
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(role="model", parts=[types.Part(function_call=call)]),
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name="get_weather", response={"sky": "sunny"})
                ],
            ),
        ],
        config=types.GenerateContentConfig(tools=[WEATHER_TOOL]),
    )
    assert answer.text
    assert not answer.function_calls


CLOCK_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_time",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"zone": types.Schema(type=types.Type.STRING, enum=["UTC", "CET"])},
                required=["zone"],
            ),
        )
    ]
)
TIME = {"toolName": "get_time", "args": {"zone": "CET"}}


def _calling(mode: str, names: list[str] | None = None) -> types.GenerateContentConfig:
    config = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)  # type: ignore[arg-type]
    return types.GenerateContentConfig(
        tools=[WEATHER_TOOL, CLOCK_TOOL],
        tool_config=types.ToolConfig(function_calling_config=config),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def test_mode_none_answers_text_instead_of_the_scripted_call(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    live.reply_with(tools=[LOOKUP], times=1)
    response = client.models.generate_content(
        model=gemini, contents="Weather in Paris?", config=_calling("NONE")
    )
    assert not response.function_calls
    assert response.text


def test_allowed_function_names_keep_only_those_calls(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    live.reply_with(tools=[LOOKUP, TIME], times=1)
    response = client.models.generate_content(
        model=gemini, contents="Hi", config=_calling("ANY", ["get_time"])
    )
    assert [(c.name, c.args) for c in response.function_calls or []] == [
        ("get_time", {"zone": "CET"})
    ]
    live.reply_with(tools=[LOOKUP], times=1)  # a script of another function: the allowed is called
    response = client.models.generate_content(
        model=gemini, contents="Hi", config=_calling("ANY", ["get_time"])
    )
    [call] = response.function_calls or []
    assert call.name == "get_time"
    assert (call.args or {})["zone"] in ("UTC", "CET")


def test_an_undeclared_allowed_function_is_invalid_argument(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=gemini, contents="Hi", config=_calling("ANY", ["get_time", "get_stock"])
        )
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message is not None
    assert "get_stock" in caught.value.message
    assert "toolConfig.functionCallingConfig.allowedFunctionNames[1]" in caught.value.message
    assert live.state.limiter.usage() == []  # a rejected request counts nothing


def test_streamed_tool_call_arrives_as_a_function_call(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    live.reply_with("Checking.", tools=[LOOKUP])
    chunks = list(
        client.models.generate_content_stream(
            model=gemini,
            contents="Weather in Paris?",
            config=types.GenerateContentConfig(tools=[WEATHER_TOOL]),
        )
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_weather", LOOKUP["args"])]
    assert (
        "".join(
            part.text or ""
            for c in chunks
            for part in (c.candidates or [])[0].content.parts or []  # type: ignore[union-attr]
        )
        == "Checking."
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "bot", "parts": [{"text": "hi"}]}]}, "contents[0].role"),
        (
            {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 5}},
            "generationConfig.temperature",
        ),
    ],
    ids=["no-contents", "bad-role", "temperature-too-high"],
)
def test_invalid_body_is_a_client_error_400(
    client: genai.Client, gemini: str, body: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=gemini,
            contents="ignored",
            config=types.GenerateContentConfig(http_options=types.HttpOptions(extra_body=body)),
        )
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message is not None
    assert fragment in caught.value.message


def test_unknown_key_is_unauthenticated(live: MockServer, gemini: str) -> None:
    with client_of(live, key="sk-ld-nobody") as sdk, pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=gemini, contents="Hi")
    assert (caught.value.code, caught.value.status) == (401, "UNAUTHENTICATED")


def test_key_without_the_completion_scope_is_permission_denied(
    live: MockServer, gemini: str
) -> None:
    key = live.add_key(scopes=["AGENT_API"])
    with client_of(live, key=key) as sdk, pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=gemini, contents="Hi")
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.message is not None
    assert "COMPLETION_API" in caught.value.message


def test_unknown_model_is_not_found(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-nonexistent", contents="Hi")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


def test_unknown_region_is_not_found_in_googles_shape(live: MockServer, gemini: str) -> None:
    with client_of(live, region="mars") as sdk, pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=gemini, contents="Hi")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


def test_over_the_limit_is_resource_exhausted(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    live.set_limits(rpm=1, model=gemini)
    client.models.generate_content(model=gemini, contents="Hi")
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=gemini, contents="Hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert usage_row(live, gemini)["requests"] == 1


@pytest.mark.parametrize(
    ("limits", "said"),
    [({"rpm": 1}, "1 requests per minute"), ({"tpm": 5}, "5 tokens per minute")],
    ids=["rpm", "tpm"],
)
def test_resource_exhausted_names_the_window_until_the_clock_moves(
    live: MockServer, client: genai.Client, gemini: str, limits: dict[str, int], said: str
) -> None:
    live.set_limits(model=gemini, rpm=limits.get("rpm"), tpm=limits.get("tpm"))
    client.models.generate_content(model=gemini, contents="Hi")  # fills the window
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=gemini, contents="Hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert (
        caught.value.message == f"Rate limit exceeded: {said} for model {gemini} in this workspace"
    )
    live.advance_clock(60)  # the window empties on the mock clock: no sleeping
    assert client.models.generate_content(model=gemini, contents="Hi").text


def test_oversized_body_is_413(client: genai.Client, gemini: str) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=gemini, contents="x" * 1_100_000)
    assert caught.value.code == 413


def _stream_url(server: MockServer, model: str) -> str:
    return f"{server.url}/google/eu/v1beta/models/{model}:streamGenerateContent"


STORY = {"contents": [{"role": "user", "parts": [{"text": "Tell me a story."}]}]}


@pytest.mark.parametrize("query", [{}, {"alt": "json"}], ids=["no-alt", "alt-json"])
def test_stream_without_alt_sse_is_a_json_array_of_responses(
    live: MockServer, gemini: str, query: dict[str, str]
) -> None:
    headers = {"x-goog-api-key": KEY}
    url = _stream_url(live, gemini)
    response = httpx.post(url, params=query, json=STORY, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    items = response.json()
    assert isinstance(items, list)
    assert len(items) > 1, "a story comes in pieces"
    for item in items:
        assert check(live.state.bundle, "responses/google-generate-content.json", item) == CLEAN
    assert "finishReason" not in items[0]["candidates"][0]
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    # The same reply as the SSE form (what google-genai reads) and the non-stream response.
    sse = httpx.post(url, params={"alt": "sse"}, json=STORY, headers=headers)
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")]

    def unnamed(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in body.items() if k != "responseId"} for body in bodies]

    assert unnamed(events) == unnamed(items)  # each response has an id of its own
    whole = httpx.post(
        url.replace(":streamGenerateContent", ":generateContent"), json=STORY, headers=headers
    ).json()
    text = "".join(
        part["text"] for item in items for part in item["candidates"][0]["content"]["parts"]
    )
    assert text == whole["candidates"][0]["content"]["parts"][0]["text"]
    assert items[-1]["usageMetadata"] == whole["usageMetadata"]


def test_an_alt_the_mock_cannot_answer_is_invalid_argument(live: MockServer, gemini: str) -> None:
    response = httpx.post(
        _stream_url(live, gemini),
        params={"alt": "proto"},
        json=STORY,
        headers={"x-goog-api-key": KEY},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Invalid value at 'alt': ")
    assert live.state.limiter.usage() == []  # a rejected request counts nothing


def test_every_documented_key_header_and_the_dedicated_prefix_work(
    live: MockServer, gemini: str
) -> None:
    body = {"contents": [{"parts": [{"text": "Hi"}]}]}
    url = f"{live.url}/api/public/google/global/v1beta/models/{gemini}:generateContent"
    for header in ({"Authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}, {"x-goog-api-key": KEY}):
        response = httpx.post(url, json=body, headers=header)
        assert response.status_code == 200, (header, response.text)
        assert response.json()["candidates"][0]["content"]["role"] == "model"


def test_injected_fault_is_a_server_error(client: genai.Client, gemini: str) -> None:
    with pytest.raises(errors.ServerError) as caught:
        client.models.generate_content(
            model=gemini,
            contents="Hi",
            config=types.GenerateContentConfig(
                http_options=types.HttpOptions(headers={"X-Mock-Fault": "status=503"})
            ),
        )
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")


def test_stream_cut_midway_fails_the_sdk_stream(client: genai.Client, gemini: str) -> None:
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"X-Mock-Fault": "cut_after_events=2"})
    )
    chunks = client.models.generate_content_stream(
        model=gemini, contents="Tell me a story.", config=config
    )
    seen = [next(chunks).text, next(chunks).text]
    # google-genai reads over httpx2 and lets a cut connection surface as the transport's error.
    with pytest.raises(httpx2.RemoteProtocolError):
        next(chunks)
    assert all(seen)


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
def test_a_forced_function_whose_parameters_are_no_object_is_invalid_argument(
    live: MockServer, client: genai.Client, gemini: str, stream: bool
) -> None:
    # A call's args are an object: parameters of type STRING would make a call of a string,
    # which the mock's response check refused as its own 500 before.
    declaration = types.FunctionDeclaration(
        name="echo", parameters=types.Schema(type=types.Type.STRING)
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    models = client.models

    def ask() -> object:
        if stream:
            return list(models.generate_content_stream(model=gemini, contents="Hi", config=config))
        return models.generate_content(model=gemini, contents="Hi", config=config)

    with pytest.raises(errors.ClientError) as caught:
        ask()
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert "schema must be a JSON Schema of type object" in (caught.value.message or "")
    assert live.state.limiter.usage() == []


def test_a_forced_function_with_untyped_parameters_is_called_with_an_object(
    live: MockServer, client: genai.Client, gemini: str
) -> None:
    declaration = types.FunctionDeclaration(name="ping", parameters_json_schema={})
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    reply = client.models.generate_content(model=gemini, contents="Hi", config=config)
    assert reply.function_calls is not None
    assert [call.name for call in reply.function_calls] == ["ping"]
    assert isinstance(reply.function_calls[0].args, dict)
