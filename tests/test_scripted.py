"""Scripted tool calls in each family's format, in JSON and streamed replies, and maxSteps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockserver import MockServer

from .aisdk import build, chunks_of, lines_of, sse_data, user

AGENT = "/agent/v1/chat/completions"
ASSISTANT = "/assistant/v1/chat/completions"
SEARCH = {
    "toolName": "webSearch",
    "toolCallId": "call_search",
    "args": {"query": "weather Paris"},
    "result": {"results": [{"title": "Sunny", "url": "https://example.com"}]},
}
IMAGE = {
    "toolName": "imageGeneration",
    "args": {"prompt": "a cat"},
    "result": {"url": "https://img"},
}
ANSWER = "It is sunny in Paris."


def _agent(**extra: Any) -> dict[str, Any]:
    return {
        "agent": {"name": "Tools", "instructions": "Use tools."},
        "messages": [user("Weather?")],
        **extra,
    }


def _assistant(**extra: Any) -> dict[str, Any]:
    return {
        "assistant": {"name": "Tools", "instructions": "Use tools."},
        "messages": [{"role": "user", "content": "Weather?"}],
        **extra,
    }


def test_assistant_result_has_tool_call_and_tool_result_messages(
    live: MockServer, http: httpx.Client
) -> None:
    live.reply_with(ANSWER, tools=[SEARCH, IMAGE])
    result = http.post(ASSISTANT, json=_assistant()).json()["result"]
    assert [(m["role"], [p["type"] for p in m["content"]]) for m in result] == [
        ("assistant", ["tool-call"]),
        ("tool", ["tool-result"]),
        ("assistant", ["tool-call"]),
        ("tool", ["tool-result"]),
        ("assistant", ["text"]),
    ]
    call, outcome = result[0]["content"][0], result[1]["content"][0]
    assert call == {
        "type": "tool-call",
        "toolCallId": "call_search",
        "toolName": "webSearch",
        "args": SEARCH["args"],
    }
    assert outcome == {
        "type": "tool-result",
        "toolCallId": "call_search",
        "toolName": "webSearch",
        "result": SEARCH["result"],
    }
    generated = result[2]["content"][0]["toolCallId"]
    assert generated.startswith("call_")
    assert result[3]["content"][0]["toolCallId"] == generated
    assert result[4]["content"][0]["text"] == ANSWER


def test_agent_json_has_tool_parts_before_the_text(live: MockServer, http: httpx.Client) -> None:
    live.reply_with(ANSWER, tools=[SEARCH])
    body = http.post(AGENT, json=_agent()).json()
    assert body["parts"] == [
        {
            "type": "tool-webSearch",
            "toolCallId": "call_search",
            "state": "output-available",
            "input": SEARCH["args"],
            "output": SEARCH["result"],
        },
        {"type": "text", "text": ANSWER},
    ]
    assert body["messages"][0]["content"] == ANSWER
    assert body["messages"][0]["parts"] == body["parts"]


def test_agent_stream_has_a_tool_step_then_a_text_step(
    live: MockServer, http: httpx.Client
) -> None:
    live.reply_with(ANSWER, tools=[SEARCH], times=2)
    plain = http.post(AGENT, json=_agent()).json()
    _, data = sse_data(http, AGENT, _agent(stream=True))
    chunks = chunks_of(data)
    kinds = [c["type"] for c in chunks]
    deltas = kinds.count("text-delta")
    assert kinds == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "start-step",
        "text-start",
        *["text-delta"] * deltas,
        "text-end",
        "finish-step",
        "finish",
    ]
    assert chunks[2] == {
        "type": "tool-input-start",
        "toolCallId": "call_search",
        "toolName": "webSearch",
    }
    assert chunks[3]["input"] == SEARCH["args"]
    assert chunks[4] == {
        "type": "tool-output-available",
        "toolCallId": "call_search",
        "output": SEARCH["result"],
    }
    message = build(chunks)
    assert message.content_parts() == plain["parts"]


def test_assistant_stream_has_tool_lines(live: MockServer, http: httpx.Client) -> None:
    live.reply_with(ANSWER, tools=[SEARCH])
    _, data = sse_data(http, ASSISTANT, _assistant(stream=True))
    lines = lines_of(data)
    codes = [code for code, _ in lines]
    texts = codes.count("0")
    assert codes == ["f", "9", "a", "e", "f", *["0"] * texts, "e", "d"]
    assert lines[1][1] == {
        "toolCallId": "call_search",
        "toolName": "webSearch",
        "args": SEARCH["args"],
    }
    assert lines[2][1] == {"toolCallId": "call_search", "result": SEARCH["result"]}
    assert lines[3][1]["finishReason"] == "tool-calls"
    assert "".join(value for code, value in lines if code == "0") == ANSWER
    assert lines[-1][1]["finishReason"] == "stop"


@pytest.mark.parametrize("max_steps", [1, 2])
def test_max_steps_stops_the_run_before_the_answer(
    live: MockServer, http: httpx.Client, max_steps: int
) -> None:
    live.reply_with(ANSWER, tools=[SEARCH, IMAGE], times=None)
    agent = http.post(AGENT, json=_agent(maxSteps=max_steps)).json()
    assert [p["type"] for p in agent["parts"]] == ["tool-webSearch", "tool-imageGeneration"][
        :max_steps
    ]
    assert agent["messages"][0]["content"] == ""
    result = http.post(ASSISTANT, json=_assistant(maxSteps=max_steps)).json()["result"]
    assert len(result) == 2 * max_steps
    assert result[-1]["role"] == "tool"
    _, data = sse_data(http, AGENT, _agent(maxSteps=max_steps, stream=True))
    kinds = [c["type"] for c in chunks_of(data)]
    assert "text-start" not in kinds
    assert kinds[-1] == "finish"
    _, data = sse_data(http, ASSISTANT, _assistant(maxSteps=max_steps, stream=True))
    lines = lines_of(data)
    assert [code for code, _ in lines].count("0") == 0
    assert lines[-1][1]["finishReason"] == "tool-calls"
    # One more step than tools: the model answers.
    full = http.post(AGENT, json=_agent(maxSteps=3)).json()
    assert full["messages"][0]["content"] == ANSWER


def test_tools_scripted_over_the_admin_api_match_by_agent(
    live: MockServer, http: httpx.Client
) -> None:
    agent_id = http.post("/agent/v1/create", json={"name": "Target"}).json()["agent"]["id"]
    scripted = http.post(
        "/__admin/replies",
        json={
            "text": ANSWER,
            "match": {"agentId": agent_id},
            "tools": [SEARCH],
            "output": {"ok": True},
        },
    )
    assert scripted.status_code == 201
    other = http.post(AGENT, json=_agent()).json()
    assert [p["type"] for p in other["parts"]] == ["text"]  # not the scripted agent
    body = http.post(AGENT, json={"agentId": agent_id, "messages": [user("Weather?")]}).json()
    assert [p["type"] for p in body["parts"]] == ["tool-webSearch", "text"]
    assert body["output"] == {"ok": True}
    assert http.get("/__admin/replies").json()["replies"] == []
