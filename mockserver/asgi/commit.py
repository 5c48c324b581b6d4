"""Committing an API request's answer to a shared store: one script for a completion, else two."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockserver.api.outcome import Call, Completion
from mockserver.asgi.exchange import Exchange, credential, url_path
from mockserver.asgi.responses import error_response
from mockserver.auth import Principal
from mockserver.errors import FieldError, RateLimited
from mockserver.faults.rules import Fault
from mockserver.journal import JournalEntry, RequestJournal, Usage
from mockserver.ratelimit import Decision
from mockserver.schemas import Operation
from mockserver.state import MockState
from mockserver.stores.base import Outcome, StoreUnavailable, coverage_key
from mockserver.stores.replica import usage_tally

if TYPE_CHECKING:
    from mockserver.asgi.endpoint import ApiEndpoint
    from mockserver.stores.replica import Guess, Replica

__all__ = [
    "NUMBERED",
    "Answer",
    "commit_answer",
    "commit_unrouted",
    "declined",
    "key_marks",
    "shared_entry",
]

NUMBERED = "langdock_mock.numbered"
"""Set in the scope of a request to be answered again: the number the store gave it."""


class Answer(NamedTuple):
    """What an endpoint answered, as the commit needs it (``call`` None: refused before it).

    ``response`` None: a completion answered under a guessed number, rendered once numbered.
    """

    exchange: Exchange
    principal: Principal | None
    body: Any
    response: Response | None
    warnings: tuple[FieldError, ...]
    errors: tuple[FieldError, ...]
    failure: str | None
    usage: Usage | None
    call: Call | None
    completion: Completion | None


async def commit_answer(
    endpoint: ApiEndpoint,
    replica: Replica,
    number: int,
    guess: Guess | None,
    watch: Any,
    answer: Answer,
) -> Response | int:
    """Commit an answer to the shared store: the charge decides; a refusal is journaled as 429.

    A served completion's usage is summed by the store (the tally) in the same atomic commit:
    the export counts what the journal recorded, whatever its bound.

    With a ``guess`` (a completion answered before the store numbered it) one script numbers
    and commits it, and the answer is rendered with the ids of the number it got. An int instead of
    a response: the request's number, to answer it again under (nothing was committed): its
    scripted reply went to another replica's request, or a change that could alter the answer
    came before it, or its answer drew what a later number cannot redraw.
    """
    state, operation = endpoint.state, endpoint.operation
    limiter, script = replica.limiter, replica.script
    charge, limiter.pending = limiter.pending, None
    reply, script.chosen = script.chosen, None
    response = answer.response
    status = 200 if response is None else response.status_code
    ops = replica.changes(watch) if watch is not None else []
    if not 200 <= status < 300:
        ops = []  # a rejected request changes no state
    if status != 200:
        charge = reply = None  # only an answered completion counts and uses a reply
    fields = _entry_fields(state, operation, answer, status)
    entry = _dumped(fields)
    tally = usage_tally(fields) if answer.usage is not None and 200 <= status < 300 else None
    coverage = coverage_key(operation.id, status)
    claim = script.claim(reply)
    try:
        outcome: Outcome | None
        if guess is None:
            outcome = await replica.commit(charge, ops, entry, coverage, claim, tally)
            if outcome.reason == "reply":
                await replica.sync("read")  # the ops that tell of the reply's uses
                return number
        else:
            drawn, randomized = state.draws()
            completion = answer.completion
            ids = () if completion is None else (completion.message_id, *completion.step_ids)
            expected = _held(completion, state.stream_ids(guess[0], drawn)) if drawn else ()
            if randomized or (drawn and ids != expected):
                return await replica.sync()
            number, outcome = await replica.serve(guess, charge, ops, entry, coverage, claim, tally)
            if outcome is None or outcome.reason == "reply":
                return number
            if response is None and outcome.allowed:
                response = _rendered(endpoint, answer, number if number != guess[0] else 0, drawn)
        if charge is None:
            assert response is not None  # nothing charged: nothing refused
            return response
        return await _limited(endpoint, replica, answer, response, charge, outcome)
    except StoreUnavailable as unavailable:
        return error_response(unavailable)


async def _limited(
    endpoint: ApiEndpoint,
    replica: Replica,
    answer: Answer,
    response: Response | None,
    charge: Any,
    outcome: Outcome,
) -> Response:
    """The answer with its rate-limit headers, or the 429 the store's charge decided.

    ``response`` is None only for a refused completion answered under a guess: never rendered.
    """
    state, operation = endpoint.state, endpoint.operation
    headers = state.settings.rate_limit_headers
    decision = Decision(
        allowed=outcome.allowed,
        reason=outcome.reason,
        rpm=charge.rpm,
        tpm=charge.tpm,
        remaining_requests=max(0, charge.rpm - outcome.used_requests),
        remaining_tokens=max(0, charge.tpm - outcome.used_tokens),
        retry_after=outcome.retry_after,
        needed=charge.prompt,
    )
    if outcome.allowed:
        assert response is not None  # rendered once allowed
        if headers:
            for name, value in decision.headers().items():
                response.headers[name] = value
        return response
    error = RateLimited(
        decision.message(charge.model),
        headers=decision.headers() if headers else None,
        limit=decision.reason,
    )
    refused = error_response(error, endpoint.envelope(error.status))
    entry = shared_entry(state, operation, answer._replace(errors=(), failure=None), 429)
    await replica.commit(entry=entry, coverage=coverage_key(operation.id, 429))
    return refused


def _rendered(endpoint: ApiEndpoint, answer: Answer, number: int, drawn: int) -> Response:
    """A completion answered under a guessed number, rendered; with the ids of ``number``
    instead of the guess's unless it is 0 (the guess was right).

    Its charge, reply and ops do not depend on the number, nor did anything else it drew
    (``commit_answer`` made sure): only the ids change.
    """
    state, completion, call = endpoint.state, answer.completion, answer.call
    assert completion is not None
    assert call is not None
    assert endpoint.renderer is not None
    with state.lock:
        if number and drawn:
            ids = _held(completion, state.stream_ids(number, drawn))
            completion = completion._replace(message_id=ids[0], step_ids=ids[1:])
        response = endpoint.renderer(state, call, completion)
    return endpoint.finished(response, answer.warnings)


def _held(completion: Completion | None, ids: tuple[str, ...]) -> tuple[str, ...]:
    """A stream's ids as ``completion`` holds them: a provider family's message id is its hex."""
    if ids and completion is not None and "-" not in completion.message_id:
        return (ids[0].replace("-", ""), *ids[1:])
    return ids


async def declined(fault: Fault) -> bool:
    """A guessed answer's fault claim: never (a fault drawn sends it to be answered again)."""
    return False


def shared_entry(
    state: MockState, operation: Operation | None, answer: Answer, status: int
) -> bytes:
    """A journal entry for a shared store: the wire form (as GET /__admin/requests gives it)."""
    return _dumped(_entry_fields(state, operation, answer, status))


def _entry_fields(
    state: MockState, operation: Operation | None, answer: Answer, status: int
) -> dict[str, Any]:
    """A journal entry's wire form as a dict, without its ``seq`` (the store numbers it)."""
    exchange, principal = answer.exchange, answer.principal
    scope = exchange.scope
    masked, key_id = key_marks(state.journal, exchange, operation, principal)
    usage = answer.usage
    entry = JournalEntry(
        seq=0,
        time=state.clock.now(),
        method=exchange.method,
        path=url_path(scope),
        operation=operation.id if operation else None,
        status=status,
        body=answer.body,
        query=dict(exchange.query) if scope.get("query_string") else {},
        key=masked,
        key_id=key_id,
        workspace=principal.workspace if principal else None,
        warnings=answer.warnings,
        errors=answer.errors,
        error=answer.failure,
        fault=exchange.fault is not None,
        usage=usage if 200 <= status < 300 else None,
    ).as_json()
    del entry["seq"]
    return entry


def _dumped(entry: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(entry)
    except orjson.JSONEncodeError:  # a body nested deeper than orjson writes: keep the rest
        entry["body"] = "<body too deeply nested to show>"
        return orjson.dumps(entry)


def key_marks(
    journal: RequestJournal,
    exchange: Exchange,
    operation: Operation | None,
    principal: Principal | None,
) -> tuple[str | None, str | None]:
    """The masked key and key id a journal entry shows for the request's key."""
    if principal is not None:
        key: str | None = principal.key
    else:  # refused before a key was accepted: journal whatever token was sent, masked
        key = (credential(exchange, operation) or "").partition(" ")[2].strip() or None
    return journal.key_marks(key) if key else (None, None)


async def commit_unrouted(replica: Replica, request: Request, status: int) -> None:
    """Journal a request that matched no operation (404/405) in the shared store."""
    exchange = Exchange(request.scope, request.receive)
    answer = Answer(
        exchange, None, None, Response(status_code=status), (), (), None, None, None, None
    )
    entry = shared_entry(replica.state, None, answer, status)
    with contextlib.suppress(StoreUnavailable):  # the 404 is the answer either way
        await replica.commit(None, [], entry, None)
