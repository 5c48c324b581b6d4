"""Redaction: a key becomes its fingerprint, chosen body paths (``messages.*.content``) a mark."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from mockserver.journal import fingerprint

__all__ = ["REDACTED", "Redactor", "key_id"]

REDACTED = "[redacted]"


def key_id(authorization: str | None) -> str | None:
    """The fingerprint of the Bearer key in an ``Authorization`` value (never the key)."""
    if not authorization:
        return None
    token = authorization.partition(" ")[2].strip() or authorization.strip()
    return fingerprint(token)


def _parse(path: str) -> tuple[str, ...]:
    return tuple(token for token in path.strip().split(".") if token)


class Redactor:
    """Replaces the values at dotted paths; ``*`` stands for every key or item at its level."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(path for path in paths if _parse(path))
        self._parsed = [_parse(path) for path in self.paths]

    def __bool__(self) -> bool:
        return bool(self._parsed)

    def apply(self, value: Any) -> tuple[Any, bool]:
        """A redacted copy of ``value`` and whether anything changed (else ``value`` itself)."""
        if not self._parsed or not isinstance(value, dict | list):
            return value, False
        copied = copy.deepcopy(value)
        changed = False
        for tokens in self._parsed:
            changed |= _replace(copied, tokens)
        return (copied, True) if changed else (value, False)


def _children(node: Any, token: str) -> list[tuple[Any, Any]]:
    """(container, key) pairs that ``token`` names in ``node``."""
    if isinstance(node, dict):
        if token == "*":
            return [(node, key) for key in node]
        return [(node, token)] if token in node else []
    if isinstance(node, list):
        if token == "*":
            return [(node, index) for index in range(len(node))]
        if token.isdigit() and int(token) < len(node):
            return [(node, int(token))]
    return []


def _replace(node: Any, tokens: tuple[str, ...]) -> bool:
    head, rest = tokens[0], tokens[1:]
    changed = False
    for container, key in _children(node, head):
        if rest:
            changed |= _replace(container[key], rest)
        elif container[key] != REDACTED:
            container[key] = REDACTED
            changed = True
    return changed
