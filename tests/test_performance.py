"""Hot-path fast paths give exactly what the code they replace gave; serving stays light."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from starlette.requests import Request

from mockserver import create_app
from mockserver.config import Settings
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


SERVE_AND_LIST_MODULES = """
import asyncio, json, sys
from mockserver.cli import main  # what `langdock-mock serve` imports
from mockserver.app import create_app
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
heavy = ("jsonschema", "faker", "hypothesis", "hypothesis_jsonschema", "httpx", "schemathesis")
print(json.dumps({"statuses": statuses, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_serving_imports_no_heavy_library() -> None:
    # Start-up is paid in every test run: python jsonschema (only `check` needs it), Faker (its
    # word list is read from source), Hypothesis and httpx stay out of a serving process.
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
    twin = copy.deepcopy(state.random())
    for _ in range(2000):
        assert state.new_id() == str(uuid.UUID(int=twin.getrandbits(128), version=4))
