"""One error path: a bug of the mock on either route is recorded, re-raised, and a vendor 500."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any, NoReturn

import httpx
import orjson
import pytest

from mockserver import MockServer
from mockserver.api import assistants
from mockserver.asgi import responses
from mockserver.asgi.app import create_app
from mockserver.config import Settings
from mockserver.errors import InternalError, MockServerError
from mockserver.state import MockState
from tests.asgi import http_scope

MODELS = "/assistant/v1/models"
INTERNAL = {"message": "Internal Server Error (mock_internal_error)"}
AUTH = (b"authorization", b"Bearer sk-ld-mock")
ROUTES = pytest.mark.parametrize("root_path", ["", "/mock"], ids=["shortcut", "router"])


def _break_journal(state: MockState) -> None:
    def record(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("journal broke")

    state.journal.record = record  # type: ignore[method-assign]  # Reason: the bug under test.


def _call(
    app: Any, path: str, root_path: str = "", method: str = "GET"
) -> list[MutableMapping[str, Any]]:
    """One request through the raw ASGI app, as uvicorn calls it; the messages the app sent."""
    scope = http_scope(method, path, root_path=root_path, headers=[AUTH])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_internal_error_is_the_vendors_500() -> None:
    error = InternalError()
    assert (error.status, error.body()) == (500, INTERNAL)


@ROUTES
def test_a_journal_that_raises_is_a_recorded_500_on_either_route(root_path: str) -> None:
    app = create_app(Settings(freeze_clock=True))
    state: MockState = app.state.mock
    _break_journal(state)
    start, body = _call(app, MODELS, root_path)
    assert start["status"] == 500
    assert (b"content-type", b"application/json") in start["headers"]
    assert orjson.loads(body["body"]) == INTERNAL
    [failure] = state.failures
    assert failure.startswith(f"GET {root_path}{MODELS}: Traceback")
    assert "RuntimeError: journal broke" in failure


def test_a_journal_that_raises_over_a_real_socket_is_re_raised_at_teardown() -> None:
    with MockServer() as server:
        _break_journal(server.state)
        with httpx.Client(base_url=server.url) as http:
            response = http.get(MODELS, headers={"Authorization": "Bearer sk-ld-mock"})
            assert response.status_code == 500
            assert response.json() == INTERNAL
            # The server keeps answering: the next request fails the same way, not the socket.
            assert http.get(MODELS).status_code == 500
        # What the langdock_mock fixture calls at teardown.
        with pytest.raises(MockServerError, match="RuntimeError: journal broke"):
            server.check_failures()
        server.check_failures()  # reported once


@ROUTES
def test_a_handler_bug_is_journaled_and_recorded_on_either_route(
    root_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(freeze_clock=True))
    state: MockState = app.state.mock

    def broken(*args: Any) -> NoReturn:
        raise ZeroDivisionError("handler broke")

    monkeypatch.setattr(assistants, "models_body", broken)
    start, body = _call(app, MODELS, root_path)
    assert start["status"] == 500
    assert orjson.loads(body["body"]) == INTERNAL
    [failure] = state.failures
    assert "ZeroDivisionError: handler broke" in failure
    [entry] = state.journal.entries()
    assert entry.status == 500
    assert entry.error is not None
    assert "handler broke" in entry.error


def test_an_admin_route_that_raises_is_the_same_500(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings(freeze_clock=True))
    state: MockState = app.state.mock

    def broken() -> NoReturn:
        raise KeyError("reset broke")

    monkeypatch.setattr(state, "reset", broken)
    start, body = _call(app, "/__admin/reset", method="POST")
    assert start["status"] == 500
    assert orjson.loads(body["body"]) == INTERNAL
    [failure] = state.failures
    assert failure.startswith("POST /__admin/reset: Traceback")


@ROUTES
def test_a_failure_after_the_response_began_is_recorded_not_answered_twice(
    root_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(freeze_clock=True))
    state: MockState = app.state.mock

    async def half(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise OSError("send broke")

    monkeypatch.setattr(responses.JsonResponse, "__call__", half)
    sent = _call(app, MODELS, root_path)
    assert [m["type"] for m in sent] == ["http.response.start"]  # no second start, no 500
    [failure] = state.failures
    assert "OSError: send broke" in failure
