"""Fault rules: which API requests fail, how and how often, drawn from the seeded generator."""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from mockserver.errors import ConfigError, FieldError
from mockserver.schemas import SchemaBundle
from mockserver.validation import check

if TYPE_CHECKING:  # MockState owns a FaultPlan: the state imports this module, not the reverse
    from mockserver.state import MockState

__all__ = [
    "FAULT_SCHEMA",
    "Fault",
    "FaultAction",
    "FaultMatch",
    "FaultPlan",
    "FaultRequest",
    "FaultRule",
    "add_fault",
    "clear_faults",
    "draw_fault",
    "fault_problems",
    "list_faults",
    "parse_fault_header",
    "remove_fault",
    "resolve",
    "rule_from_json",
]

FAULT_SCHEMA = "admin/fault.json"
"""The schema file a rule is validated with."""

# Bodies the real service (or the gateway in front of it) sends for these, where no phrase fits.
_MESSAGES = {429: "Rate limit exceeded", 524: "A timeout occurred"}
_STREAM = ("cut_after_events", "stall_ms", "malformed_event")


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """What a rule can match on, taken from a request that passed authentication and parsing."""

    method: str
    paths: tuple[str, ...]  # as sent, and the operation's own path (without /api/public)
    key: str | None = None
    workspace: str | None = None
    assistant_id: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class FaultMatch:
    """Which requests a rule is for; every given field must match, ``path`` may use ``*``."""

    method: str | None = None
    path: str | None = None
    assistant_id: str | None = None
    agent_id: str | None = None
    key: str | None = None
    workspace: str | None = None

    def matches(self, request: FaultRequest) -> bool:
        """Whether ``request`` is one this rule is for."""
        if self.method is not None and self.method.upper() != request.method.upper():
            return False
        if self.path is not None and not any(
            fnmatch.fnmatchcase(path, self.path) for path in request.paths
        ):
            return False
        return (
            (self.assistant_id is None or self.assistant_id == request.assistant_id)
            and (self.agent_id is None or self.agent_id == request.agent_id)
            and (self.key is None or self.key == request.key)
            and (self.workspace is None or self.workspace == request.workspace)
        )

    def as_json(self) -> dict[str, str]:
        """The wire form: only the fields that were given."""
        names = {
            "method": self.method,
            "path": self.path,
            "assistantId": self.assistant_id,
            "agentId": self.agent_id,
            "key": self.key,
            "workspace": self.workspace,
        }
        return {name: value for name, value in names.items() if value is not None}


@dataclass(frozen=True, slots=True)
class FaultAction:
    """What happens to a matching request (latency may combine with any one other action)."""

    status: int | None = None
    message: str | None = None
    empty: bool = False
    latency_ms: int | tuple[int, int] | None = None
    reset: bool = False
    truncate: bool = False
    cut_after_events: int | None = None
    stall_ms: int | None = None
    malformed_event: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultAction:
        """From a schema-valid action object."""
        latency = data.get("latency_ms")
        if isinstance(latency, list):  # the schema fixes the length at two
            latency = (latency[0], latency[1])
        return cls(
            status=data.get("status"),
            message=data.get("message"),
            empty=bool(data.get("empty", False)),
            latency_ms=latency,
            reset=bool(data.get("reset", False)),
            truncate=bool(data.get("truncate", False)),
            cut_after_events=data.get("cut_after_events"),
            stall_ms=data.get("stall_ms"),
            malformed_event=bool(data.get("malformed_event", False)),
        )

    def as_json(self) -> dict[str, Any]:
        """The wire form: only what was asked for."""
        data: dict[str, Any] = {}
        for name in ("status", "message", "latency_ms", "cut_after_events", "stall_ms"):
            value = getattr(self, name)
            if value is not None:
                data[name] = list(value) if isinstance(value, tuple) else value
        for name in ("empty", "reset", "truncate", "malformed_event"):
            if getattr(self, name):
                data[name] = True
        return data

    @property
    def streams(self) -> bool:
        """Whether the action works on the events of a streamed response."""
        return (
            self.cut_after_events is not None or self.stall_ms is not None or (self.malformed_event)
        )

    def body_message(self) -> str:
        """The ``message`` of an injected status's body."""
        if self.message is not None:
            return self.message
        status = self.status or 500
        if status in _MESSAGES:
            return _MESSAGES[status]
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            return f"Injected fault: HTTP {status}"


@dataclass(frozen=True, slots=True)
class FaultRule:
    """A rule of the plan: ``times`` left (None: every match) and how often it has fired."""

    id: str
    action: FaultAction
    match: FaultMatch = field(default_factory=FaultMatch)
    times: int | None = None
    probability: float | None = None
    fired: int = 0

    def as_json(self) -> dict[str, Any]:
        """The wire form for GET /__admin/faults."""
        return {
            "id": self.id,
            "match": self.match.as_json(),
            "action": self.action.as_json(),
            "times": self.times,
            "probability": self.probability,
            "fired": self.fired,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """The fault one request gets: its action, the latency drawn for it, and the rule's id."""

    action: FaultAction
    latency: float = 0.0  # seconds
    rule_id: str | None = None


def resolve(action: FaultAction, rng: random.Random, rule_id: str | None = None) -> Fault:
    """A fault with its latency fixed (a range is drawn uniformly from ``rng``)."""
    latency = action.latency_ms
    if isinstance(latency, tuple):
        latency = rng.randint(*latency)
    return Fault(action, (latency or 0) / 1000, rule_id)


class FaultPlan:
    """Rules in the order they were added; the first that matches and wins its draw fires."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def __len__(self) -> int:
        return len(self._rules)

    def add(self, rule: FaultRule) -> None:
        """Append a rule."""
        self._rules.append(rule)

    def remove(self, rule_id: str) -> bool:
        """Drop one rule; False if there is none with that id."""
        before = len(self._rules)
        self._rules = [rule for rule in self._rules if rule.id != rule_id]
        return len(self._rules) < before

    def clear(self) -> None:
        """Drop every rule."""
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """The rules still in force, in order."""
        return list(self._rules)

    def draw(self, request: FaultRequest, rng: random.Random) -> Fault | None:
        """The fault for ``request``, counting down the rule's ``times`` (exhausted rules go)."""
        for index, rule in enumerate(self._rules):
            if not rule.match.matches(request):
                continue
            # Drawn only for matching requests: the same requests give the same sequence.
            if rule.probability is not None and rng.random() >= rule.probability:
                continue
            if rule.times is not None and rule.times <= 1:
                del self._rules[index]
            else:
                times = None if rule.times is None else rule.times - 1
                self._rules[index] = replace(rule, times=times, fired=rule.fired + 1)
            return resolve(rule.action, rng, rule.id)
        return None


def _combination_problems(action: Mapping[str, Any]) -> list[FieldError]:
    groups = [
        name
        for name, present in (
            ("status", "status" in action),
            ("reset", "reset" in action),
            ("truncate", "truncate" in action),
            ("stream", any(name in action for name in _STREAM)),
        )
        if present
    ]
    problems = []
    if len(groups) > 1:
        text = (
            "Combine latency_ms with at most one of status, reset, truncate or the stream "
            f"actions (cut_after_events, stall_ms, malformed_event); got {', '.join(groups)}"
        )
        problems.append(FieldError(("action",), "custom", text))
    latency = action.get("latency_ms")
    if isinstance(latency, list) and len(latency) == 2 and latency[0] > latency[1]:
        text = "latency_ms range must be [low, high] with low <= high"
        problems.append(FieldError(("action", "latency_ms"), "custom", text))
    return problems


def fault_problems(bundle: SchemaBundle, data: Any) -> tuple[FieldError, ...]:
    """Everything wrong with a rule: its schema (unknown fields included), then combinations."""
    verdict = check(bundle, FAULT_SCHEMA, data)
    problems = verdict.errors + verdict.warnings
    if problems:
        return problems
    return tuple(_combination_problems(data["action"]))


def add_fault(state: MockState, data: Mapping[str, Any]) -> FaultRule:
    """Add a rule from its JSON (as POST /__admin/faults takes it); ConfigError if it is bad."""
    problems = fault_problems(state.bundle, dict(data))
    if problems:
        first = problems[0]
        where = ".".join(str(token) for token in first.path) or "rule"
        raise ConfigError(f"fault rule: {where}: {first.message}")
    with state.lock:
        rule = rule_from_json(state.new_id(), data)
        state.faults.add(rule)
    return rule


def rule_from_json(rule_id: str, data: Mapping[str, Any]) -> FaultRule:
    """A rule from its JSON (as POST /__admin/faults takes it, already checked) and its id."""
    match = data.get("match", {})
    return FaultRule(
        id=rule_id,
        action=FaultAction.from_json(data["action"]),
        match=FaultMatch(
            match.get("method"),
            match.get("path"),
            match.get("assistantId"),
            match.get("agentId"),
            match.get("key"),
            match.get("workspace"),
        ),
        times=data.get("times"),
        probability=data.get("probability"),
    )


def list_faults(state: MockState) -> list[FaultRule]:
    """The rules in force, in order."""
    with state.lock:
        return state.faults.rules()


def remove_fault(state: MockState, rule_id: str) -> bool:
    """Drop one rule; False if there is none with that id."""
    with state.lock:
        return state.faults.remove(rule_id)


def clear_faults(state: MockState) -> None:
    """Drop every rule."""
    with state.lock:
        state.faults.clear()


def draw_fault(state: MockState, request: FaultRequest) -> Fault | None:
    """The fault the plan has for ``request`` (cheap when there are no rules)."""
    if not state.faults:
        return None
    with state.lock:
        return state.faults.draw(request, state.random())


_TOKEN = re.compile(r"^\s*([a-z_]+)\s*(?:=\s*(\S+?))?\s*$")


def parse_fault_header(value: str) -> dict[str, Any]:
    """``X-Mock-Fault: status=503, latency_ms=100-400`` as an action object (not yet validated).

    Items are separated by commas or semicolons; a bare name (``reset``) means true; numbers
    become integers; ``low-high`` becomes a latency range.
    """
    action: dict[str, Any] = {}
    for item in re.split(r"[,;]", value):
        if not item.strip():
            continue
        found = _TOKEN.match(item.lower())
        if found is None:
            raise ConfigError(f"X-Mock-Fault: cannot read {item.strip()!r} (expected name=value)")
        name, raw = found.groups()
        if raw is None:
            action[name] = True
        elif re.fullmatch(r"[0-9]{1,18}", raw):  # longer: left a string, refused as one
            action[name] = int(raw)
        elif re.fullmatch(r"[0-9]{1,18}-[0-9]{1,18}", raw):
            action[name] = [int(part) for part in raw.split("-")]
        else:
            action[name] = raw
    return action
