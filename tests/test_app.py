"""Bad input never crashes: unreadable bodies, content types, sizes, routes, methods; warnings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.schemas import load_bundle
from tests.docpages import page_text
from tests.test_state import observe, state_of

from .responses import Response

CREATE = "/assistant/v1/create"
COMPLETIONS = "/assistant/v1/chat/completions"
JSON = {"content-type": "application/json"}
MESSAGE_SCHEMA = jsonschema_rs.validator_for(
    load_bundle(None, "seed").document("errors/message.json")
)


def assert_message(response: Response, status: int, text: str | None = None) -> str:
    """A JSON error in the vendor's ``{"message": str}`` envelope."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    MESSAGE_SCHEMA.validate(body)
    message: str = body["message"]
    if text is not None:
        assert message == text
    return message


DEEP = b"[" * 100_000
UNREADABLE = [
    pytest.param(b"{not json", JSON, "Request body is not valid JSON: ", id="not-json"),
    pytest.param(b'{"name": "a",}', JSON, "Request body is not valid JSON: ", id="trailing-comma"),
    pytest.param(b'{"name": "\xe9t\xe9"}', JSON, "Request body is not valid UTF-8", id="latin-1"),
    pytest.param(b"\xff\xfe{\x00}\x00", JSON, "Request body is not valid UTF-8", id="utf-16"),
    pytest.param(b"[1, 2]", JSON, "Request body must be a JSON object", id="array"),
    pytest.param(b'"name"', JSON, "Request body must be a JSON object", id="string"),
    pytest.param(b"42", JSON, "Request body must be a JSON object", id="number"),
    pytest.param(b"null", JSON, "Request body must be a JSON object", id="null"),
    pytest.param(b"", JSON, "Request body is empty; expected a JSON object", id="empty"),
    pytest.param(b"  \n", JSON, "Request body is empty; expected a JSON object", id="blank"),
    pytest.param(DEEP, JSON, "Request body is not valid JSON: nested too deeply", id="100k-["),
    pytest.param(
        b'{"name": ' + b"[" * 600 + b"]" * 600 + b"}",
        JSON,
        "Request body is not valid JSON: nested too deeply",
        id="600-levels-in-a-field",
    ),
    pytest.param(
        b'{"name": "a"}',
        {"content-type": "text/plain"},
        "Content-Type must be application/json",
        id="text-plain",
    ),
    pytest.param(
        b"name=a",
        {"content-type": "application/x-www-form-urlencoded"},
        "Content-Type must be application/json",
        id="form",
    ),
    pytest.param(
        b'{"name": "a"}',
        {"content-type": "multipart/form-data; boundary=x"},
        "Content-Type must be application/json",
        id="multipart",
    ),
]


@pytest.mark.parametrize(("content", "headers", "prefix"), UNREADABLE)
@pytest.mark.parametrize("path", [CREATE, COMPLETIONS, "/api/public" + CREATE])
def test_unreadable_bodies_are_400_and_change_nothing(
    client: TestClient, path: str, content: bytes, headers: dict[str, str], prefix: str
) -> None:
    state = state_of(client)
    before = observe(state)
    response = client.post(path, content=content, headers=headers)
    assert assert_message(response, 400).startswith(prefix)
    assert observe(state) == before
    [entry] = client.get("/__admin/requests").json()["requests"]
    assert (entry["path"], entry["status"]) == (path, 400)
    assert entry["body"] in (None, "<body too deeply nested to show>")
    assert not state.failures


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
    ids=["none", "json", "json-charset", "vendor-json"],
)
def test_json_content_types_are_accepted(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(CREATE, content=b'{"name": "Typed"}', headers=headers)
    assert response.status_code == 201, response.text


def test_a_valid_deep_body_in_an_unknown_field_is_refused_cleanly(client: TestClient) -> None:
    """jsonschema_rs cannot describe an error this deep: a 400, not a 500 (documented edge)."""
    nested = b"[" * 300 + b"]" * 300
    response = client.post(CREATE, content=b'{"name": "a", "deep": ' + nested + b"}", headers=JSON)
    assert_message(response, 400, "Request body is not valid JSON: nested too deeply")
    # The journal still answers although orjson cannot write the body back.
    assert client.get("/__admin/requests").status_code == 200


@pytest.fixture
def small(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of an app that takes bodies of at most 64 bytes."""
    return make_client(max_body_bytes=64)


def sized(size: int) -> bytes:
    """A valid create body of exactly ``size`` bytes."""
    body = b'{"name": "' + b"n" * (size - len(b'{"name": ""}')) + b'"}'
    assert len(body) == size
    return body


def chunks(body: bytes) -> Iterator[bytes]:
    """A body sent chunked, without a content-length."""
    for start in range(0, len(body), 16):
        yield body[start : start + 16]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_size_limit_on_both_sides(small: TestClient, chunked: bool) -> None:
    state = state_of(small)
    at_limit, over = sized(64), sized(65)
    accepted = small.post(CREATE, content=chunks(at_limit) if chunked else at_limit, headers=JSON)
    assert accepted.status_code == 201, accepted.text
    before = observe(state)
    refused = small.post(CREATE, content=chunks(over) if chunked else over, headers=JSON)
    assert_message(refused, 413, "Request body exceeds the limit of 64 bytes")
    assert observe(state) == before


def test_a_huge_declared_length_is_refused_before_reading(small: TestClient) -> None:
    response = small.post(CREATE, content=sized(64), headers={**JSON, "content-length": "64"})
    assert response.status_code == 201
    response = small.post(CREATE, content=sized(1000), headers=JSON)
    assert_message(response, 413)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/assistant/v1/nope"),
        ("POST", "/assistant/v2/create"),
        ("GET", "/api/public/assistant/v1/nope"),
        ("GET", "/__admin/nope"),
        ("DELETE", "/assistant"),
    ],
)
def test_unknown_routes_are_json_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_message(response, 404, f"No route for {method} {path}")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", CREATE, "POST"),
        ("PUT", CREATE, "POST"),
        ("DELETE", "/assistant/v1/get", "GET, HEAD"),
        ("POST", "/assistant/v1/models", "GET, HEAD"),
        ("GET", "/assistant/v1/update", "PATCH"),
        ("POST", "/assistant/v1/disable", "PATCH"),
        ("GET", COMPLETIONS, "POST"),
        ("GET", "/api/public" + COMPLETIONS, "POST"),
        ("POST", "/__admin/health", "GET, HEAD"),
    ],
)
def test_wrong_methods_are_json_405(client: TestClient, method: str, path: str, allow: str) -> None:
    state = state_of(client)
    before = observe(state)
    response = client.request(method, path, json={"name": "x"})
    assert_message(response, 405, f"Method {method} not allowed for {path}")
    assert response.headers["allow"] == allow
    assert observe(state) == before


def _methods_by_path() -> dict[str, set[str]]:
    """Every concrete path of the manifest (regions, folder ids filled in) and its methods."""
    bundle = load_bundle()
    paths: dict[str, set[str]] = {}
    for op in bundle.operations.values():
        path = op.path
        for name in op.parameters:
            path = path.replace(f"{{{name}}}", "eu" if name == "region" else "x1")
        paths.setdefault(path, set()).add(op.method)
    return paths


METHODS_BY_PATH = _methods_by_path()


def test_a_405_allows_every_method_of_its_path(http: httpx.Client, live: MockServer) -> None:
    """Over a real socket, for every path of the manifest: Allow lists all of its methods."""
    before = observe(live.state)
    many = [path for path, methods in METHODS_BY_PATH.items() if len(methods) > 1]
    assert {"/knowledge/x1", "/knowledge/x1/x1"} <= set(many)
    for path, methods in METHODS_BY_PATH.items():
        wrong = next(m for m in ("PUT", "POST", "GET") if m not in methods)
        allow = sorted(methods | ({"HEAD"} if "GET" in methods else set()))
        for prefix in ("", "/api/public"):
            response = http.request(wrong, prefix + path)
            assert response.status_code == 405, path  # in the family's envelope
            assert f"Method {wrong} not allowed for {prefix + path}" in response.text
            assert response.headers["allow"] == ", ".join(allow), path
    assert observe(live.state) == before


@pytest.mark.parametrize("method", ["PATCH", "GET", "DELETE"])
def test_the_literal_search_path_is_no_folder(client: TestClient, method: str) -> None:
    """``folderId`` is never "search": a wrong method there is the search route's 405."""
    response = client.request(method, "/knowledge/search")
    assert_message(response, 405)
    assert response.headers["allow"] == "POST"


def test_every_path_is_also_served_under_api_public(client: TestClient) -> None:
    created = client.post("/api/public" + CREATE, json={"name": "Prefixed"})
    assert created.status_code == 201
    assistant_id = created.json()["assistant"]["id"]
    for prefix in ("", "/api/public"):
        got = client.get(prefix + "/assistant/v1/get", params={"assistantId": assistant_id})
        assert got.json()["assistant"]["name"] == "Prefixed"
    assert client.get("/api/public/assistant/v1/models").status_code == 200


# Odd but readable bodies for every operation: never a 500.
ODD_BODIES = [
    {},
    {"name": None},
    {"name": ["a"]},
    {"assistantId": None, "messages": None},
    {"messages": [None]},
    {"messages": [{"role": "user", "content": "x", "attachmentIds": "nope"}]},
    {"assistant": [], "messages": [{}]},
    {"assistant": {"name": "a", "instructions": "b", "capabilities": {"x": 1}}, "messages": []},
    {"output": {"type": "object", "schema": {"type": "nonsense"}}},
    {"inputFields": [{}], "actions": [None], "attachments": [1]},
    {"disabled": "true", "assistantId": "00000000-0000-4000-8000-000000000000"},
    {"\u0000": "\ud800", "name": "\u202e"},
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=[f"odd{i}" for i in range(len(ODD_BODIES))])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", CREATE),
        ("PATCH", "/assistant/v1/update"),
        ("PATCH", "/assistant/v1/disable"),
        ("POST", COMPLETIONS),
    ],
)
def test_odd_bodies_never_crash(client: TestClient, method: str, path: str, body: Any) -> None:
    # json.dumps escapes lone surrogates, which httpx's own encoder refuses to send.
    response = client.request(method, path, content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code in (201, 400, 404), response.text
    if response.status_code == 400:
        assert isinstance(response.json()["message"], list | str)
    assert not state_of(client).failures


def test_an_inline_output_schema_that_is_invalid_is_a_400(client: TestClient) -> None:
    body = {
        "assistant": {"name": "a", "instructions": "b"},
        "messages": [{"role": "user", "content": "x"}],
        "output": {"type": "object", "schema": {"type": "nonsense"}},
    }
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 400
    [issue] = response.json()["message"]
    assert issue["path"] == ["output", "schema"]
    assert issue["message"].startswith("Invalid JSON Schema")


# Unknown fields: ignored (as Zod strips them) but reported; --strict makes them 400s.


def test_unknown_fields_are_ignored_and_reported(client: TestClient) -> None:
    body = {
        "name": "Loose",
        "instructions": "meant instruction",
        "inputFields": [{"slug": "s", "type": "TEXT", "label": "L", "order": 0, "hint": "x"}],
    }
    response = client.post(CREATE, json=body)
    assert response.status_code == 201
    assert response.headers["x-mock-warnings"] == (
        "unknown field $.inputFields[0].hint; unknown field $.instructions"
    )
    assistant = response.json()["assistant"]
    assert assistant["instruction"] is None  # silently lost, as with the real API
    assert "hint" not in assistant["inputFields"][0]
    assert "instructions" not in assistant
    got = client.get("/assistant/v1/get", params={"assistantId": assistant["id"]}).json()
    assert got["assistant"] == assistant
    [entry, _] = client.get("/__admin/requests").json()["requests"]
    assert entry["status"] == 201
    assert entry["body"] == body  # the journal keeps what was sent
    assert entry["warnings"] == ["Unrecognized key: 'hint'", "Unrecognized key: 'instructions'"]


def test_unknown_query_parameters_are_reported(client: TestClient) -> None:
    created = client.post(CREATE, json={"name": "Q"}).json()["assistant"]
    response = client.get("/assistant/v1/get", params={"assistantId": created["id"], "v": "2"})
    assert response.status_code == 200
    assert response.headers["x-mock-warnings"] == "unknown field $.v"


def test_unknown_field_names_are_escaped_in_the_header(client: TestClient) -> None:
    response = client.post(CREATE, json={"name": "U", "naïve": 1})
    assert response.status_code == 201
    assert response.headers["x-mock-warnings"] == "unknown field $.na\\xefve"


def test_strict_turns_unknown_fields_into_400s(make_client: Callable[..., TestClient]) -> None:
    strict = make_client(strict=True)
    state = state_of(strict)
    before = observe(state)
    response = strict.post(CREATE, json={"name": "Strict", "instructions": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "message": [
            {
                "code": "unrecognized_keys",
                "path": ["instructions"],
                "message": "Unrecognized key: 'instructions'",
            }
        ]
    }
    assert response.headers["x-mock-warnings"] == "unknown field $.instructions"
    assert observe(state) == before
    assert strict.post(CREATE, json={"name": "Strict"}).status_code == 201


def test_strict_reports_unknown_fields_with_the_other_issues(
    make_client: Callable[..., TestClient],
) -> None:
    strict = make_client(strict=True)
    response = strict.post(CREATE, json={"name": "", "extra": 1})
    assert [(i["path"], i["code"]) for i in response.json()["message"]] == [
        (["name"], "too_small"),
        (["extra"], "unrecognized_keys"),
    ]


# The journal: masked keys, bounded size.


def test_the_journal_never_shows_a_key_in_clear(
    make_client: Callable[..., TestClient],
) -> None:
    long_key = "sk-ld-0123456789abcdefghij"
    client = make_client()
    state_of(client).add_key(long_key)
    client.post(CREATE, json={"name": "a"})
    client.post(CREATE, json={"name": "a"}, headers={"Authorization": f"Bearer {long_key}"})
    client.post(
        CREATE, json={"name": "a"}, headers={"Authorization": "Bearer sk-unknown-key-12345"}
    )
    client.post(CREATE, json={"name": "a"}, headers={"Authorization": "Basic c2stbGQtbW9jaw=="})
    client.get("/nope", headers={"Authorization": f"Bearer {long_key}"})
    response = client.get("/__admin/requests")
    text = response.text
    for secret in ("sk-ld-mock", long_key, "sk-unknown-key-12345", "c2stbGQtbW9jaw=="):
        assert secret not in text
    entries = response.json()["requests"]
    assert [e["key"] for e in entries[:4]] == [
        "sk-…",
        "sk-…ghij",
        "sk-…2345",
        "c2s…aw==",
    ]
    assert entries[0]["keyId"] != entries[1]["keyId"]
    assert [e["status"] for e in entries] == [201, 201, 401, 401, 404]
    # Filtering by key still works: the journal compares fingerprints.
    mine = client.get("/__admin/requests", params={"key": long_key}).json()["requests"]
    assert [e["seq"] for e in mine] == [2, 5]
    assert entries[4]["key"] == "sk-…ghij"


def test_the_journal_is_bounded(make_client: Callable[..., TestClient]) -> None:
    client = make_client(journal_size=3)
    for index in range(5):
        client.post(CREATE, json={"name": f"n{index}"})
    payload = client.get("/__admin/requests").json()
    assert [e["body"]["name"] for e in payload["requests"]] == ["n2", "n3", "n4"]
    assert payload["last"] == 5
    since = client.get("/__admin/requests", params={"since": 4}).json()["requests"]
    assert [e["seq"] for e in since] == [5]


# The same over a real socket.


def test_bad_input_over_a_real_socket(http: httpx.Client, live: MockServer) -> None:
    before = observe(live.state)
    assert_message(http.post(CREATE, content=b"{oops", headers=JSON), 400)
    assert_message(http.post(CREATE, content=b"\xe9", headers=JSON), 400)
    assert_message(http.post(CREATE, content=b"[]", headers=JSON), 400)
    assert_message(http.post(CREATE, content=DEEP, headers=JSON), 400)
    assert_message(http.post(CREATE, content=b"", headers=JSON), 400)
    assert_message(http.post(CREATE, content=b"{}", headers={"content-type": "text/plain"}), 400)
    assert_message(http.get("/nope"), 404)
    assert_message(http.get(CREATE), 405)
    assert observe(live.state) == before
    assert [r.status for r in live.requests] == [400, 400, 400, 400, 400, 400, 404, 405]


def test_body_limit_over_a_real_socket() -> None:
    with (
        MockServer(max_body_bytes=64) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer sk-ld-mock"}) as http,
    ):
        assert http.post(CREATE, content=sized(64), headers=JSON).status_code == 201
        assert http.post(CREATE, content=chunks(sized(64)), headers=JSON).status_code == 201
        assert_message(http.post(CREATE, content=sized(65), headers=JSON), 413)
        assert_message(http.post(CREATE, content=chunks(sized(65)), headers=JSON), 413)
        assert len(server.state.store.records) == 2
        server.check_failures()


def test_warnings_and_strict_over_a_real_socket(http: httpx.Client) -> None:
    response = http.post(CREATE, json={"name": "Live", "instructions": "x"})
    assert response.status_code == 201
    assert response.headers["x-mock-warnings"] == "unknown field $.instructions"
    with (
        MockServer(strict=True) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer sk-ld-mock"}) as strict,
    ):
        response = strict.post(CREATE, json={"name": "Live", "instructions": "x"})
        assert response.status_code == 400
        assert response.json()["message"][0]["code"] == "unrecognized_keys"
        assert server.state.store.records == {}


def test_every_admin_route_is_on_the_admin_api_page(client: TestClient) -> None:
    page = page_text("docs/admin-api.md")
    routes = [r for r in client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    # Under /__admin/ui/ are the inspector page's own files and JSON (docs/inspector.md).
    admin = {
        r.path.split("{")[0]
        for r in routes
        if r.path.startswith("/__admin") and not r.path.startswith("/__admin/ui/")
    }
    assert admin
    assert [path for path in sorted(admin) if path not in page] == []
