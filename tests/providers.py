"""What the provider SDK tests share: a server of their own and the limiter's usage rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from mockserver import MockServer

__all__ = ["KEY", "own_server", "usage_row"]

KEY = "sk-ld-mock"


def own_server() -> Iterator[MockServer]:
    """A server of the module's own: the fault header allowed, every response checked."""
    with MockServer(check_responses=True, allow_fault_header=True) as mock:
        yield mock


def usage_row(server: MockServer, model: str) -> dict[str, Any]:
    """The default workspace's window for ``model``, as GET /__admin/limits shows it."""
    rows = httpx.get(
        f"{server.url}/__admin/limits", headers={"Authorization": f"Bearer {KEY}"}
    ).json()["limits"]
    return next(r for r in rows if (r["workspace"], r["model"]) == ("default", model))
