"""JSON bodies of completions in each family's format (pure; the streams are in api/frames.py)."""

from __future__ import annotations

from typing import Any

from mockserver.api.outcome import Completion

__all__ = [
    "agent_completion",
    "agent_parts",
    "answered",
    "assistant_completion",
    "tool_steps",
]


def tool_steps(completion: Completion) -> list[dict[str, Any]]:
    """Scripted tool steps with call ids filled in: ``{toolCallId, toolName, args, result}``."""
    steps = []
    for step, step_id in zip(completion.steps, completion.step_ids, strict=True):
        steps.append(
            {
                "toolCallId": step.get("toolCallId") or f"call_{step_id.replace('-', '')[:24]}",
                "toolName": step.get("toolName") or step.get("name") or "tool",
                "args": step.get("args", {}),
                "result": step.get("result", {}),
            }
        )
    return steps


def answered(completion: Completion) -> bool:
    """Whether the reply ends with text: not when every allowed step went to a tool call."""
    return bool(completion.text) or not completion.steps


def assistant_completion(completion: Completion) -> dict[str, Any]:
    """``{"result": [...], "output"?}``: tool-call and tool-result messages, then the text."""
    result: list[dict[str, Any]] = []
    steps = tool_steps(completion) if completion.steps else []
    for step, step_id in zip(steps, completion.step_ids, strict=True):
        call_part = {
            "type": "tool-call",
            "toolCallId": step["toolCallId"],
            "toolName": step["toolName"],
            "args": step["args"],
        }
        result_part = {
            "type": "tool-result",
            "toolCallId": step["toolCallId"],
            "toolName": step["toolName"],
            "result": step["result"],
        }
        result.append({"id": f"{step_id}-call", "role": "assistant", "content": [call_part]})
        result.append({"id": f"{step_id}-result", "role": "tool", "content": [result_part]})
    if answered(completion):
        result.append(
            {
                "id": completion.message_id,
                "role": "assistant",
                "content": [{"type": "text", "text": completion.text}],
            }
        )
    body: dict[str, Any] = {"result": result}
    if completion.has_output:
        body["output"] = completion.output
    return body


def agent_parts(completion: Completion) -> list[dict[str, Any]]:
    """UIMessage parts: a ``tool-{name}`` part per scripted step, then the text."""
    parts: list[dict[str, Any]] = [
        {
            "type": f"tool-{step['toolName']}",
            "toolCallId": step["toolCallId"],
            "state": "output-available",
            "input": step["args"],
            "output": step["result"],
        }
        for step in tool_steps(completion)
    ]
    if answered(completion):
        parts.append({"type": "text", "text": completion.text})
    return parts


def agent_completion(completion: Completion) -> dict[str, Any]:
    """The superset of the documented shapes: a UIMessage at the root, the same in ``messages``.

    ``messages[0].content`` is the text as a string: what real-world clients read.
    """
    parts = agent_parts(completion)
    message = {"id": completion.message_id, "role": "assistant"}
    body: dict[str, Any] = {
        **message,
        "parts": parts,
        "messages": [{**message, "content": completion.text, "parts": parts}],
    }
    if completion.has_output:
        body["output"] = completion.output
    return body
