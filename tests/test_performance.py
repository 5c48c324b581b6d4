"""Hot-path fast paths give exactly what the code they replace gave; serving stays light."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from starlette.requests import Request

from mockserver import create_app
from mockserver.asgi.exchange import url_path as _url_path
from mockserver.config import Settings
from tests.asgi import http_scope

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
    assert _url_path(scope) == Request(scope).url.path


async def _asgi(app: Any, method: str, path: str, body: bytes, root_path: str = "") -> Any:
    """One request straight into the app: (status, headers, body, whether the router ran)."""
    sent = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    headers = [(b"authorization", b"Bearer sk-ld-mock"), (b"content-type", b"application/json")]
    scope = http_scope(method, path, root_path=root_path, headers=headers)
    await app(scope, receive, send)
    start = messages[0]
    content = b"".join(m.get("body", b"") for m in messages[1:])
    # Starlette's router leaves its mark on the scope: the shortcut does not pass through it.
    return start["status"], sorted(start["headers"]), content, "router" in scope


COMPLETION = json.dumps(
    {"assistant": {"name": "A"}, "messages": [{"role": "user", "content": "hi"}]}
).encode()
# Every operation once, as the shortcut and as Starlette's router answer it.
SHORTCUT_CASES = [
    ("POST", "/assistant/v1/chat/completions", COMPLETION),
    ("POST", "/api/public/assistant/v1/chat/completions", COMPLETION),
    ("POST", "/assistant/v1/chat/completions", b'{"messages": 3}'),
    ("POST", "/assistant/v1/create", b'{"name": "A"}'),
    ("GET", "/assistant/v1/models", b""),
    ("HEAD", "/agent/v1/models", b""),
    ("GET", "/agent/v1/get", b""),
    ("DELETE", "/attachment/v1/delete", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), SHORTCUT_CASES)
def test_shortcut_answers_as_the_router_does(method: str, path: str, body: bytes) -> None:
    # A root path makes the shortcut step aside: the same request then takes Starlette's router.
    settings = Settings(seed=3, freeze_clock=True)
    fast = asyncio.run(_asgi(create_app(settings), method, path, body))
    routed = asyncio.run(_asgi(create_app(settings), method, path, body, "/mock"))
    assert fast[3] is False
    assert routed[3] is True
    assert fast[:3] == routed[:3]
    assert fast[0] < 500


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/assistant/v1/chat/completions", 405),
        ("PUT", "/agent/v1/create", 405),
        ("POST", "/assistant/v1/chat/completions/", 307),
        ("GET", "/assistant/v1/nothing", 404),
    ],
)
def test_what_the_shortcut_misses_the_router_answers(method: str, path: str, status: int) -> None:
    answer = asyncio.run(_asgi(create_app(Settings()), method, path, b"{}"))
    assert answer[0] == status
    assert answer[3] is True


SERVE_AND_LIST_MODULES = """
import asyncio, json, sys
from mockserver.cli import main  # what `langdock-mock serve` imports
from mockserver.asgi.app import create_app
from mockserver.config import Settings

app = create_app(Settings())
VALID = {"assistant": {"name": "A", "instructions": "x"},
         "messages": [{"role": "user", "content": "hi"}]}
BODIES = [json.dumps(body).encode() for body in (VALID, {"messages": 1}, {**VALID, "stream": True})]

async def call(body):
    sent, status = False, []
    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
    scope = {"type": "http", "method": "POST", "scheme": "http", "http_version": "1.1",
             "path": "/assistant/v1/chat/completions", "raw_path": b"", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"authorization", b"Bearer sk-ld-mock"),
                         (b"content-type", b"application/json")]}
    await app(scope, receive, send)
    return status[0]

statuses = [asyncio.run(call(body)) for body in BODIES]
heavy = ("jsonschema", "faker", "hypothesis", "hypothesis_jsonschema", "httpx", "aiohttp",
         "schemathesis", "numpy", "bm25s", "pypdf", "docx", "lxml")
print(json.dumps({"statuses": statuses, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_serving_imports_no_heavy_library() -> None:
    # Start-up is paid in every test run: python jsonschema (only `check` needs it), Faker (its
    # word list is read from source), Hypothesis, httpx and aiohttp stay out of a serving
    # process, and so do the knowledge folders' readers and ranker (numpy, bm25s, pypdf,
    # python-docx, lxml).
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["statuses"] == [200, 400, 200]
    assert found["loaded"] == []


def test_ids_are_what_uuid_makes_of_the_same_bits() -> None:
    state = create_app(Settings(seed=5)).state.mock
    ids = []
    for stream in (1, 2, -1):
        state.draw_for(stream)
        ids += [state.new_id() for _ in range(700)]
    for made in ids:
        parsed = uuid.UUID(made)
        assert (str(parsed), parsed.version, parsed.variant) == (made, 4, uuid.RFC_4122)
    assert len(set(ids)) == len(ids)
    digits = []  # the same draws without dashes: the UUIDs' hex (the provider families' ids)
    for stream in (1, 2, -1):
        state.draw_for(stream)
        digits += [state.new_id(dashes=False) for _ in range(700)]
    assert digits == [uuid.UUID(made).hex for made in ids]
