"""JSON bodies of completions in each family's format (pure; streams live in streaming.py)."""

from __future__ import annotations

from typing import Any

from .outcome import Completion

__all__ = ["assistant_completion", "tool_steps"]


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


def assistant_completion(completion: Completion) -> dict[str, Any]:
    """``{"result": [...], "output"?}``: tool-call and tool-result messages, then the text."""
    result: list[dict[str, Any]] = []
    for step, step_id in zip(tool_steps(completion), completion.step_ids, strict=True):
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
