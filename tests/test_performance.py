"""Fast paths on the hot path give exactly what the slower code they replace gave."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from mockserver.handlers import _url_path

PATHS = [
    "/assistant/v1/chat/completions",
    "/",
    "//double/slash",
    "/api/public/agent/v1/get",
    "/a%3Fb",
    "/question?mark",
    "/hash#mark",
    "/back\\slash",
    "/tab\there",
    "/line\nfeed\r",
    "/ünïcödé/😀",
    "/space here",
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("host", [b"127.0.0.1:8080", None], ids=["host", "no-host"])
def test_journal_path_is_starlettes_url_path(path: str, host: bytes | None) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": b"x=1",
        "headers": [(b"host", host)] if host else [],
        "server": ("127.0.0.1", 8080),
    }
    assert _url_path(Request(scope)) == Request(scope).url.path
