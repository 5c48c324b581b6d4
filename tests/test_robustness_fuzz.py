"""Robustness in process: thousands of fuzzed requests through the whole ASGI app, no 5xx."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import create_app
from mockserver.config import Settings
from tests.robustness import COMPLETIONS, CREATE, HUGE, Asgi, inline


@pytest.fixture(scope="module")
def asgi() -> Iterator[Asgi]:
    """One app with response self-checks on, for every fuzz test of the module."""
    app = create_app(Settings(freeze_clock=True, check_responses=True, **HUGE))
    driver = Asgi(app)
    yield driver
    driver.close()
    assert app.state.mock.failures == []


# Every operation that takes a body, with a valid example to mutate.
VALID: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", COMPLETIONS, inline("fuzz", output={"type": "object"})),
    ("POST", COMPLETIONS, inline("x", output={"type": "enum", "enum": ["a", "b"]}, stream=True)),
    (
        "POST",
        "/agent/v1/chat/completions",
        {
            "agent": {"name": "Fuzz", "instructions": "x"},
            "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
        },
    ),
    (
        "POST",
        CREATE,
        {
            "name": "Fuzz",
            "description": "d",
            "instruction": "i",
            "creativity": 0.3,
            "conversationStarters": ["a"],
            "inputFields": [{"slug": "s", "type": "TEXT", "label": "L"}],
        },
    ),
    ("POST", "/agent/v1/create", {"name": "Fuzz agent", "webSearch": True}),
    ("PATCH", "/assistant/v1/update", {"assistantId": "00000000-0000-4000-8000-000000000000"}),
    (
        "PATCH",
        "/agent/v1/disable",
        {"agentId": "00000000-0000-4000-8000-000000000000", "disabled": True},
    ),
    ("POST", "/agent/v1/publish", {"agentId": "00000000-0000-4000-8000-000000000000"}),
    ("DELETE", "/attachment/v1/delete", {"attachmentId": "00000000-0000-4000-8000-000000000000"}),
]
BODY_ROUTES = sorted({(method, path) for method, path, _ in VALID})
QUERY_ROUTES = ["/assistant/v1/get", "/agent/v1/get", "/assistant/v1/models"]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Replacement values for near-valid payloads: shallow, so Hypothesis spends its time on the edits.
SHALLOW = LEAVES | st.lists(LEAVES, max_size=3) | st.dictionaries(st.text(max_size=8), LEAVES)
FUZZ: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def _no_server_error(status: int, content: bytes) -> None:
    assert 200 <= status < 500, content[:500]
    if status >= 400:
        assert set(orjson.loads(content)) <= {"message", "error"}  # the vendor's envelope


@pytest.mark.parametrize(
    ("declared", "status"),
    [("²", 400), ("9" * 5000, 413), ("99999999999999999999", 413), ("-1", 400), ("1e3", 400)],
    ids=["superscript-two", "5000-digits", "20-digits", "negative", "exponent"],
)
def test_odd_content_lengths_are_no_500(asgi: Asgi, declared: str, status: int) -> None:
    # uvicorn's parser refuses these itself; other ASGI servers and in-process clients pass them.
    answer = asgi("POST", COMPLETIONS, b'{"messages": 1}', headers={"content-length": declared})
    assert answer[0] == status, answer


def test_fuzz_random_bytes(asgi: Asgi) -> None:
    rng = random.Random(2024)
    start = asgi.sent
    content_types = ["application/json", "text/plain", "multipart/form-data; boundary=x", ""]
    for i in range(3600):
        method, path = BODY_ROUTES[i % len(BODY_ROUTES)]
        if i % 10 == 9:
            method, path = "POST", "/attachment/v1/upload"
        size = rng.choice([0, 1, 2, 8, 64, 700, 5000])
        headers = {"content-type": rng.choice(content_types)}
        _no_server_error(*asgi(method, path, rng.randbytes(size), headers=headers))
    for i in range(300):
        query = rng.randbytes(rng.randrange(0, 40)).decode("latin-1")
        _no_server_error(*asgi("GET", QUERY_ROUTES[i % 3], query=query))
    assert asgi.sent - start == 3900


def test_fuzz_random_json_on_every_body_route(asgi: Asgi) -> None:
    start = asgi.sent

    @settings(max_examples=500, **FUZZ)
    @given(body=JSON)
    def fuzz(body: Any) -> None:
        raw = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS) if _orjson_ok(body) else b"{"
        for method, path in BODY_ROUTES:
            _no_server_error(*asgi(method, path, raw))
        if isinstance(body, dict):
            query = "&".join(f"{k}={v}" for k, v in body.items() if isinstance(v, str))
            _no_server_error(*asgi("GET", "/assistant/v1/get", query=query))

    fuzz()
    assert asgi.sent - start >= 500 * len(BODY_ROUTES)  # every example on every body route


def _orjson_ok(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False  # integers past 64 bits: sent as Python's json writes them, below
    return True


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else document
    *parents, last = path
    node = document
    for token in parents:
        node = node[token]
    if action == "delete":
        del node[last]
    elif action == "replace":
        node[last] = value
    elif action == "grow" and isinstance(node[last], str):
        node[last] = (node[last] or "x") * (40_000 // max(1, len(node[last])))  # past any maxLength
    elif action == "extra" and isinstance(node, dict):
        node[f"unknown_{last}"] = value
    elif action == "nest":
        node[last] = [[[[node[last]]]]]
    return document


# Edits of a valid body: which node (an index into its paths), what to do, and with what.
EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0),
        st.sampled_from(["delete", "replace", "grow", "extra", "nest"]),
        SHALLOW,
    ),
    min_size=1,
    max_size=3,
)


def test_fuzz_near_valid_payloads(asgi: Asgi) -> None:
    start = asgi.sent

    @settings(max_examples=700, **FUZZ)
    @given(seed=st.sampled_from(VALID), edits=EDITS)
    def fuzz(seed: tuple[str, str, dict[str, Any]], edits: list[tuple[int, str, Any]]) -> None:
        method, path, valid = seed
        document: Any = json.loads(json.dumps(valid))
        for index, action, value in edits:
            paths = list(_paths(document))
            document = _mutate(document, paths[index % len(paths)], action, value)
        raw = json.dumps(document).encode()  # Python's writer: big integers, NaN and Infinity
        _no_server_error(*asgi(method, path, raw))
        _no_server_error(*asgi(method, "/api/public" + path, raw))
        _no_server_error(*asgi("POST", COMPLETIONS, raw))

    fuzz()
    # With the random bytes (3,900) and random JSON (4,000+): more than 10,000 requests.
    assert asgi.sent - start >= 700 * 3
