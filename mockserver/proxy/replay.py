"""Replay matching: the recorded exchange that answers a request, or the nearest miss and its diff.

A request matches a recorded one by operation (method and path when it has none) and, with
``exact`` matching, by its normalised body (or query): parsed JSON, the recording's redacted
paths redacted alike, the ``ignore`` paths dropped, key order irrelevant. ``operation`` matching
compares the operation only. Several recorded exchanges that match the same request answer in
turn, in recorded order, the last one again once all were used (a create recorded twice gives
its two ids, then the second).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mockserver.proxy.recording import Recorded
from mockserver.proxy.redaction import Redactor

__all__ = ["Miss", "Replay", "request_value"]

_UNPARSED = object()
_SHOWN = 40  # characters of a value a near-miss shows


@dataclass(frozen=True, slots=True)
class Miss:
    """No recorded exchange matched: the closest one (if any) and how the request differs."""

    closest: Recorded | None
    index: int  # 1-based position of ``closest`` in the recording
    differences: tuple[str, ...]

    def message(self, method: str, path: str) -> str:
        """The 404's text, WireMock style: what was asked, what came closest, and the diff."""
        head = f"No recorded exchange matches {method} {path}"
        if self.closest is None:
            return head + " (the recording is empty)"
        closest = self.closest
        shown = "; ".join(self.differences[:6])
        more = len(self.differences) - 6
        if more > 0:
            shown += f"; and {more} more"
        return (
            f"{head}. Closest recorded request: #{self.index} {closest.method} {closest.path}"
            f" ({closest.operation or 'no operation'}), which differs in: {shown}"
        )


def _parsed(text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # compared as sent


def _drop(value: Any, tokens: Sequence[str]) -> None:
    if not tokens or not isinstance(value, dict | list):
        return
    head, rest = tokens[0], tokens[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head] if head in value else []
        for key in keys:
            if rest:
                _drop(value[key], rest)
            else:
                del value[key]
    else:
        indexes = range(len(value)) if head == "*" else []
        if head.isdigit() and int(head) < len(value):
            indexes = range(int(head), int(head) + 1)
        for index in reversed(indexes):
            if rest:
                _drop(value[index], rest)
            else:
                del value[index]


def _differences(recorded: Any, given: Any, path: str = "$") -> list[str]:
    if isinstance(recorded, dict) and isinstance(given, dict):
        found: list[str] = []
        for key in recorded:
            if key not in given:
                found.append(f"{path}.{key} is missing (recorded {_show(recorded[key])})")
            else:
                found += _differences(recorded[key], given[key], f"{path}.{key}")
        found += [f"{path}.{key} was not recorded" for key in given if key not in recorded]
        return found
    if isinstance(recorded, list) and isinstance(given, list):
        found = []
        for index, (left, right) in enumerate(zip(recorded, given, strict=False)):
            found += _differences(left, right, f"{path}[{index}]")
        if len(recorded) != len(given):
            found.append(f"{path} has {len(given)} items, recorded {len(recorded)}")
        return found
    if recorded == given and type(recorded) is type(given):
        return []
    return [f"{path}: recorded {_show(recorded)}, got {_show(given)}"]


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def request_value(body: str | None, query: dict[str, str]) -> Any:
    """What matching compares of a request: its JSON body, else its query (None: neither)."""
    if body is not None and body.strip():
        return _parsed(body)
    return dict(query) or None


class Replay:
    """The recorded exchanges of a file, and the rule requests are matched to them with."""

    def __init__(
        self, recorded: Iterable[Recorded], *, match: str = "exact", ignore: Iterable[str] = ()
    ) -> None:
        self.recorded = list(recorded)
        self.match_mode = match
        self.ignore = [tuple(p for p in path.split(".") if p) for path in ignore]
        self._redactors: dict[tuple[str, ...], Redactor] = {}
        self._normal = [self._normalise(r, self._given(r)) for r in self.recorded]

    @staticmethod
    def _given(recorded: Recorded) -> Any:
        return request_value(recorded.request_body, recorded.query)

    def _normalise(self, recorded: Recorded, value: Any) -> Any:
        """A request body (or query) as matching compares it, by the recording's own redaction."""
        if value is None or self.match_mode == "operation":
            return None
        redactor = self._redactors.get(recorded.redacted)
        if redactor is None:
            redactor = self._redactors[recorded.redacted] = Redactor(recorded.redacted)
        value, _ = redactor.apply(value)
        if self.ignore:
            value = copy.deepcopy(value)
            for tokens in self.ignore:
                _drop(value, tokens)
        return value

    @staticmethod
    def _same_call(recorded: Recorded, operation: str | None, method: str, path: str) -> bool:
        if operation is not None and recorded.operation is not None:
            return recorded.operation == operation
        return recorded.method == method and recorded.path == path

    def answer(
        self,
        operation: str | None,
        method: str,
        path: str,
        body: Any,
        turns: MutableMapping[tuple[Any, ...], int],
    ) -> Recorded | Miss:
        """The recorded exchange for this request (``turns`` counts uses), or the nearest miss."""
        hits: list[int] = []
        for index, recorded in enumerate(self.recorded):
            if not self._same_call(recorded, operation, method, path):
                continue
            if self._normal[index] == self._normalise(recorded, body):
                hits.append(index)
        if hits:
            group = (operation or f"{method} {path}", orjson.dumps(hits))
            turn = turns.get(group, 0)
            turns[group] = turn + 1
            return self.recorded[hits[min(turn, len(hits) - 1)]]
        return self._miss(operation, method, path, body)

    def _miss(self, operation: str | None, method: str, path: str, body: Any) -> Miss:
        best: tuple[tuple[int, int], int, list[str]] | None = None
        for index, recorded in enumerate(self.recorded):
            differences: list[str] = []
            same = self._same_call(recorded, operation, method, path)
            if not same:
                was = recorded.operation or f"{recorded.method} {recorded.path}"
                differences.append(
                    f"operation: recorded {was}, got {operation or method + ' ' + path}"
                )
            differences += _differences(self._normal[index], self._normalise(recorded, body))
            rank = (0 if same else 1, len(differences))
            if best is None or rank < best[0]:
                best = (rank, index, differences)
        if best is None:
            return Miss(None, 0, ())
        _, index, differences = best
        return Miss(self.recorded[index], index + 1, tuple(differences))
