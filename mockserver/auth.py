"""Who is calling: Bearer keys, their workspace and scopes, and the per-operation scope check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mockserver.errors import Forbidden, InsufficientScope, Unauthenticated
from mockserver.schemas import Operation

__all__ = ["Principal", "authenticate", "mask", "require_scopes"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An API key as the server knows it."""

    key: str
    workspace: str
    scopes: frozenset[str]
    admin: bool = False
    kind: str = "workspace"  # or "personal": a user's key, Completion API only


def authenticate(header: str | None, keys: Mapping[str, Principal]) -> Principal:
    """The principal of an ``Authorization: Bearer <key>`` header; 401 if missing or unknown."""
    if not header:
        raise Unauthenticated()
    scheme, _, token = header.partition(" ")
    principal = keys.get(token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise Unauthenticated()
    return principal


def require_scopes(principal: Principal, operation: Operation, aliases: Mapping[str, str]) -> None:
    """403 naming the scope when the key lacks the operation's scope (or an alias of it)."""
    scope = operation.scope
    if scope is not None and not any(
        granted == scope or aliases.get(granted) == scope for granted in principal.scopes
    ):
        raise InsufficientScope(scope)
    if operation.admin and not principal.admin:
        raise Forbidden("Insufficient permissions - this action requires an admin API key")


def mask(key: str) -> str:
    """A key as the journal shows it: a hint at most, never the key (keyId tells keys apart)."""
    # Short keys such as the embedded one would be all but spelled out by a fixed head and tail.
    head = key[:3] if len(key) >= 8 else ""
    tail = key[-4:] if len(key) >= 16 else ""
    return f"{head}…{tail}"
