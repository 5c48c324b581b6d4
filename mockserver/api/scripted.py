"""Scripted replies: what tests queue for the assistant to say, and how a request matches one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

__all__ = ["ABSENT", "ReplyMatch", "ReplyRequest", "ReplyScript", "ScriptedReply"]

ABSENT: Any = object()


class ReplyRequest(NamedTuple):
    """What a scripted reply can match on."""

    family: str
    target_id: str | None
    texts: tuple[str, ...]
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplyMatch:
    """Which requests a scripted reply answers; every given field must match."""

    assistant_id: str | None = None
    agent_id: str | None = None
    contains: str | None = None

    def matches(self, request: ReplyRequest) -> bool:
        """Whether ``request`` is one this reply is for."""
        if self.assistant_id is not None and (
            request.family != "assistant" or request.target_id != self.assistant_id
        ):
            return False
        if self.agent_id is not None and (
            request.family != "agent" or request.target_id != self.agent_id
        ):
            return False
        return self.contains is None or any(self.contains in text for text in request.texts)


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """A queued answer: fixed text or a function of the request, optional tool steps and output."""

    id: str
    text: str | None = None
    match: ReplyMatch = field(default_factory=ReplyMatch)
    times: int | None = 1
    tools: tuple[dict[str, Any], ...] = ()
    output: Any = ABSENT
    responder: Callable[[dict[str, Any]], str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The wire form for GET /__admin/replies."""
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "match": {
                "assistantId": self.match.assistant_id,
                "agentId": self.match.agent_id,
                "contains": self.match.contains,
            },
            "times": self.times,
            "tools": list(self.tools),
            "function": self.responder is not None,
        }
        if self.output is not ABSENT:
            data["output"] = self.output
        return data


class ReplyScript:
    """Scripted replies in order; the first that matches is used and its ``times`` counts down."""

    def __init__(self) -> None:
        self._queue: list[ScriptedReply] = []

    def add(self, reply: ScriptedReply) -> None:
        """Queue a reply after the others."""
        self._queue.append(reply)

    def __bool__(self) -> bool:
        """Whether any reply is queued."""
        return bool(self._queue)

    def peek(self, request: ReplyRequest) -> ScriptedReply | None:
        """The reply ``take`` would return, left in the queue."""
        return next((reply for reply in self._queue if reply.match.matches(request)), None)

    def take(self, request: ReplyRequest) -> ScriptedReply | None:
        """The first matching reply, consumed once (None when nothing matches)."""
        for index, reply in enumerate(self._queue):
            if reply.match.matches(request):
                if reply.times is not None:
                    if reply.times <= 1:
                        del self._queue[index]
                    else:
                        self._queue[index] = replace(reply, times=reply.times - 1)
                return reply
        return None

    def use(self, reply_id: str, left: int) -> None:
        """Leave ``left`` uses of a reply (none: it leaves the queue)."""
        for index, reply in enumerate(self._queue):
            if reply.id == reply_id:
                if left <= 0:
                    del self._queue[index]
                elif reply.times is not None:
                    self._queue[index] = replace(reply, times=left)
                return

    def pending(self) -> list[ScriptedReply]:
        """What is left, in order."""
        return list(self._queue)

    def clear(self) -> None:
        """Drop every scripted reply."""
        self._queue.clear()

    def copy(self) -> ReplyScript:
        """A copy for snapshots (replies are immutable)."""
        twin = ReplyScript()
        twin._queue = list(self._queue)
        return twin
