"""Faults on the wire: the hook endpoints call to draw them, and the delivery that enacts them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mockserver.asgi.exchange import Exchange
from mockserver.auth import Principal
from mockserver.errors import BadRequest, ConfigError, InjectedFault
from mockserver.faults.rules import (
    Fault,
    FaultAction,
    FaultRequest,
    draw_fault,
    fault_problems,
    parse_fault_header,
    resolve,
)
from mockserver.schemas import Operation
from mockserver.state import MockState

__all__ = ["FAULT_HEADER", "SERVER_SEND", "InjectedReset", "deliver", "enact"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_HEADER = "x-mock-fault"
"""The per-request fault header, honoured only with ``allow_fault_header``."""
SERVER_SEND = "langdock_mock.send"  # the server's own send, kept where middleware wraps it
_HANG_UP_WAIT = 1.0  # seconds to wait for the server to notice its own hang-up


class InjectedReset(ConnectionResetError):
    """An injected reset in process (no socket to drop): the caller's call fails as on a reset.

    Not a bug of the mock, so the app's failure guard lets it through unrecorded.
    """


def _header_fault(state: MockState, scope: Scope) -> Fault | None:
    if not state.settings.allow_fault_header:
        return None
    raw = next((v for k, v in scope["headers"] if k == FAULT_HEADER.encode()), None)
    if raw is None:
        return None
    try:
        action = parse_fault_header(raw.decode("latin-1"))
    except ConfigError as error:
        raise BadRequest(str(error)) from None
    problems = fault_problems(state.bundle, {"action": action})
    if problems:
        first = problems[0]
        name = str(first.path[-1]) if len(first.path) > 1 else "action"
        raise BadRequest(f"X-Mock-Fault: {name}: {first.message}")
    with state.lock:
        return resolve(FaultAction.from_json(action), state.random())


def _target(body: Any, name: str) -> str | None:
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def enact(
    state: MockState,
    exchange: Exchange,
    operation: Operation,
    principal: Principal,
    body: Any,
    claim: Callable[[Fault], Awaitable[bool]] | None = None,
) -> None:
    """Draw the request's fault (``X-Mock-Fault`` if allowed, else the plan) and begin it.

    The fault is left on ``exchange``. Latency is slept here; a status is raised as
    ``InjectedFault`` (so it is journaled); a reset is raised as status 0 without running the
    handler; the rest ``deliver`` does to the response.
    """
    scope = exchange.scope
    fault = _header_fault(state, scope)
    if fault is None:
        if not state.faults:
            return  # the common case: no rules, nothing to build or lock
        path = scope["path"]
        request = FaultRequest(
            scope["method"],
            (path, operation.path) if path != operation.path else (path,),
            principal.key,
            principal.workspace,
            _target(body, "assistantId"),
            _target(body, "agentId"),
        )
        fault = draw_fault(state, request)
        # Under a shared store a rule's times count across replicas: the store has the last word.
        if fault is None or (claim is not None and not await claim(fault)):
            return
    exchange.fault = fault
    if fault.latency > 0:
        await asyncio.sleep(fault.latency)  # latency is the point: real time, not the mock clock
    action = fault.action
    if action.status is not None:
        raise InjectedFault(action.status, action.body_message())
    if action.reset:
        raise InjectedFault(0, "Connection reset (injected fault)")


def _transport(send: Send) -> Any:
    # uvicorn's h11 and httptools protocols hand the app a bound method of the request cycle,
    # which holds the connection's transport: the only way to drop a connection from ASGI.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if hasattr(transport, "abort") else None


def _malformed(event: bytes) -> bytes:
    """An SSE event with its data cut in half (``data: {"type":"sta``): no longer JSON."""
    head = event.rstrip(b"\r\n")
    field, colon, data = head.partition(b":")
    data = data.removeprefix(b" ")
    return field + colon + b" " + data[: len(data) // 2] + event[len(head) :]


class _Wire:
    """The outgoing side of one faulted response: what reaches the client, and whether it ends.

    A stream's events each leave the app as one body message (see asgi/sse.py), so counting
    messages counts events: stream actions need no help from the stream's producer.
    """

    def __init__(self, action: FaultAction, send: Send) -> None:
        self.action = action
        self.send = send
        self.start: Message | None = None
        self.buffer = bytearray()
        self.hang_up = action.reset
        self.events = 0
        self.streaming = False

    async def __call__(self, message: Message) -> None:
        action = self.action
        if self.hang_up:
            return  # nothing (more) of the response reaches the client
        if action.empty:
            await self._empty(message)
        elif action.truncate:
            await self._truncate(message)
        elif action.streams:
            await self._stream(message)
        else:
            await self.send(message)

    async def _empty(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.lower() not in (b"content-type", b"content-length")
            ]
            await self.send({**message, "headers": [*kept, (b"content-length", b"0")]})
        elif not message.get("more_body", False):
            await self.send({"type": "http.response.body", "body": b""})

    async def _truncate(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message  # sent with the cut body, Content-Length as declared
            return
        self.buffer += message.get("body", b"")
        if not message.get("more_body", False):
            assert self.start is not None
            await self.send(self.start)
            part = bytes(self.buffer[: len(self.buffer) // 2])
            await self.send({"type": "http.response.body", "body": part, "more_body": True})
            self.hang_up = True

    async def _stream(self, message: Message) -> None:
        action = self.action
        if message["type"] == "http.response.start":
            media = dict(message.get("headers", [])).get(b"content-type", b"")
            self.streaming = media.startswith(b"text/event-stream")  # JSON replies pass as sent
            await self.send(message)
            return
        if not self.streaming or not message.get("body"):
            await self.send(message)
            return
        cut = action.cut_after_events
        if cut is not None and self.events >= cut:
            self.hang_up = True
            transport = _transport(self.send)
            if transport is not None:
                transport.close()  # at once: the producer sees the disconnect and stops
            return
        if action.malformed_event and self.events == 1:
            message = {**message, "body": _malformed(bytes(message["body"]))}
        await self.send(message)
        self.events += 1
        if action.stall_ms and self.events == 1:
            await asyncio.sleep(action.stall_ms / 1000)  # silence after the first event


async def _hang_up(send: Send, receive: Receive, *, abort: bool) -> None:
    transport = _transport(send)
    if transport is None:
        if abort:  # in-process (TestClient): no socket to drop, so fail the call as a reset does
            raise InjectedReset("langdock-mock: connection reset (injected fault)")
        return  # in-process truncate or cut: the client already has the short body
    if abort:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: the kernel answers with RST, as a real reset does
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()  # flushes what was written, then FIN: a short body, not a reset
    # Returning before the server notices the hang-up would make uvicorn log an unfinished
    # response (or try a 500); ASGI's own signal for it is http.disconnect.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_HANG_UP_WAIT):
            while (await receive())["type"] != "http.disconnect":
                pass


async def deliver(
    action: FaultAction, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send ``app``'s response through the fault: empty, truncated, cut, stalled, or not at all.

    A reset or a cut drops the connection, which only the server's own ``send`` leads to: the
    app stores it under ``SERVER_SEND`` when a request passes through Starlette's middleware.
    """
    server_send: Send = scope.get(SERVER_SEND, send)
    wire = _Wire(action, server_send)
    await app(scope, receive, wire)
    if wire.hang_up:
        await _hang_up(server_send, receive, abort=action.reset)
