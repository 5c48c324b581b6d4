"""The ASGI scope of one HTTP request, as uvicorn builds it, for tests that call the app raw."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def http_scope(
    method: str,
    path: str,
    *,
    root_path: str = "",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    """A scope for ``method root_path+path`` from 127.0.0.1, with ``headers`` (lower-case)."""
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "http_version": "1.1",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": list(headers),
    }
