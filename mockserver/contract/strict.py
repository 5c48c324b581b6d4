"""Strict mode's verdict: which requests broke the contract, what the client sent, which rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from mockserver.errors import FieldError, json_path
from mockserver.journal import JournalEntry

__all__ = ["Violation", "find_violations", "format_violations"]

EXCERPT_CHARS = 200
# A 400 without field issues is a body the server could not read as a JSON object.
_UNREADABLE = FieldError((), "invalid_body", "the body is not a JSON object (see the 400 message)")


@dataclass(frozen=True, slots=True)
class Violation:
    """One journaled request the real API would have rejected or silently stripped."""

    entry: JournalEntry
    rules: tuple[FieldError, ...]

    def describe(self) -> str:
        """Method, path and status; what was sent (an excerpt); each broken rule."""
        entry = self.entry
        lines = [f"{entry.method} {entry.path} -> {entry.status}", f"  sent: {_excerpt(entry)}"]
        verdict = "rejected" if entry.status == 400 else "accepted here, the real API drops it"
        lines += [
            f"  broke: {json_path(r.path)} {r.code}: {r.message} ({verdict})" for r in self.rules
        ]
        return "\n".join(lines)


def _excerpt(entry: JournalEntry) -> str:
    if entry.body is None:
        return "(no readable JSON body)"
    text = orjson.dumps(entry.body).decode()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def find_violations(entries: Iterable[JournalEntry]) -> list[Violation]:
    """Requests with unknown fields (warnings) or that the client got a 400 for."""
    found: list[Violation] = []
    for entry in entries:
        if entry.fault:  # a status a test injected is not the client's mistake
            continue
        if entry.status == 400:
            found.append(Violation(entry, entry.errors or (_UNREADABLE,)))
        elif entry.warnings:
            found.append(Violation(entry, entry.warnings))
    return found


def format_violations(violations: list[Violation]) -> str:
    """The failure message of a strict test."""
    count = len(violations)
    head = f"langdock-mock strict mode: {count} request(s) broke the API contract"
    return "\n".join([head, *(v.describe() for v in violations)])
