"""Every documented boundary, on both sides, for both profiles: schema, in-process and live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer, create_app
from mockserver.config import Settings
from mockserver.errors import BadRequest
from mockserver.schemas import load_bundle
from mockserver.state import MockState
from mockserver.validation import check, explain, strip_unknown
from tests.test_schemas import copy_schemas, edit_schema
from tests.test_state import observe

from .responses import Response

KNOWN_ACTION = "00000000-0000-4000-8000-00000000a001"  # every embedded workspace knows it
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ff"
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000001"
MESSAGES = [{"role": "user", "content": "Hi"}]
INLINE = {"name": "Temp", "instructions": "Be brief."}
RESOURCE_NOT_FOUND = "Resource not found (model, action or attachment)"
AUTH = {"Authorization": "Bearer sk-ld-mock"}

REQUESTS = {
    "create": ("POST", "/assistant/v1/create", "requests/assistant-create.json", 201),
    "update": ("PATCH", "/assistant/v1/update", "requests/assistant-update.json", 200),
    "completions": (
        "POST",
        "/assistant/v1/chat/completions",
        "requests/assistant-completions.json",
        200,
    ),
    "get": ("GET", "/assistant/v1/get", "requests/assistant-get.json", 200),
    "disable": ("PATCH", "/assistant/v1/disable", "requests/assistant-disable.json", 200),
}


@dataclass(frozen=True)
class Case:
    """One side of a boundary: a change to a valid base body, and what the server must say."""

    id: str
    op: str
    patch: dict[str, Any]
    path: tuple[str | int, ...] | None = None  # None: accepted
    code: str | None = None
    status: int | None = None  # accepted with another status than the operation's (e.g. 404)
    drop: tuple[str, ...] = ()  # base fields to remove
    warns: tuple[str, ...] = field(default=())  # unknown fields the server must name


def ok(case_id: str, op: str, patch: dict[str, Any], **kw: Any) -> Case:
    return Case(f"{op}-{case_id}-ok", op, patch, **kw)


def bad(
    case_id: str, op: str, patch: dict[str, Any], path: tuple[str | int, ...], code: str
) -> Case:
    return Case(f"{op}-{case_id}-bad", op, patch, path, code)


def field_pair(op: str, name: str, good: Any, wrong: Any, code: str, label: str = "") -> list[Case]:
    """The two sides of a top-level field's boundary."""
    label = label or name
    return [ok(label, op, {name: good}), bad(label, op, {name: wrong}, (name,), code)]


def input_field(**changes: Any) -> dict[str, Any]:
    return {"slug": "topic", "type": "TEXT", "label": "Topic", "order": 0, **changes}


def stored_fields(op: str, limits: dict[str, int]) -> list[Case]:
    """Boundaries of the fields create and update share; ``limits`` are the profile's."""
    name, description, instruction = limits["name"], limits["description"], limits["instruction"]
    cases = [
        *field_pair(op, "name", "a", "", "too_small", "name-min"),
        *field_pair(op, "name", "n" * name, "n" * (name + 1), "too_big", f"name-{name}"),
        *field_pair(op, "description", "d" * description, "d" * (description + 1), "too_big"),
        *field_pair(op, "instruction", "i" * instruction, "i" * (instruction + 1), "too_big"),
        *field_pair(op, "creativity", 0, -0.01, "too_small", "creativity-0"),
        *field_pair(op, "creativity", 1, 1.01, "too_big", "creativity-1"),
        *field_pair(op, "creativity", 0.5, "0.5", "invalid_type", "creativity-type"),
        *field_pair(op, "inputType", "STRUCTURED", "CHAT", "invalid_enum_value"),
        *field_pair(op, "webSearch", True, "yes", "invalid_type"),
        ok("inputType-PROMPT", op, {"inputType": "PROMPT"}),
        ok("model-known", op, {"model": "gpt-4o-mini"}),
        Case(f"{op}-model-unknown-404", op, {"model": "gpt-0"}, status=404),
        bad("model-empty", op, {"model": ""}, ("model",), "too_small"),
        ok("actions-known", op, {"actions": [{"actionId": KNOWN_ACTION}]}),
        Case(
            f"{op}-actions-unknown-404",
            op,
            {"actions": [{"actionId": UNKNOWN_UUID}]},
            status=404,
        ),
        bad(
            "actions-not-uuid",
            op,
            {"actions": [{"actionId": "not-a-uuid"}]},
            ("actions", 0, "actionId"),
            "invalid_string",
        ),
        Case(f"{op}-attachments-uuid-404", op, {"attachments": [UNKNOWN_UUID]}, status=404),
        bad(
            "attachments-not-uuid",
            op,
            {"attachments": ["nope"]},
            ("attachments", 0),
            "invalid_string",
        ),
        ok("inputFields-order-0", op, {"inputFields": [input_field(order=0)]}),
        bad(
            "inputFields-order-neg",
            op,
            {"inputFields": [input_field(order=-1)]},
            ("inputFields", 0, "order"),
            "too_small",
        ),
        bad(
            "inputFields-order-float",
            op,
            {"inputFields": [input_field(order=1.5)]},
            ("inputFields", 0, "order"),
            "invalid_type",
        ),
        bad(
            "inputFields-type-enum",
            op,
            {"inputFields": [input_field(type="EMAIL")]},
            ("inputFields", 0, "type"),
            "invalid_enum_value",
        ),
        bad(
            "inputFields-slug-required",
            op,
            {"inputFields": [{"type": "TEXT", "label": "Topic", "order": 0}]},
            ("inputFields", 0, "slug"),
            "invalid_type",
        ),
    ]
    cases += [
        ok(f"inputFields-type-{kind}", op, {"inputFields": [input_field(type=kind)]})
        for kind in ("TEXT", "MULTI_LINE_TEXT", "NUMBER", "CHECKBOX", "FILE", "SELECT", "DATE")
    ]
    return cases


def seed_only(op: str) -> list[Case]:
    """The seed profile's looser fields: any emoji, any starters, no extendedThinking."""
    return [
        ok("emoji-long", op, {"emoji": "e" * 300}),
        ok("starters-21", op, {"conversationStarters": ["s"] * 21}),
        ok("starter-empty", op, {"conversationStarters": [""]}),
        ok("starter-256", op, {"conversationStarters": ["s" * 256]}),
        ok("extendedThinking-unknown", op, {"extendedThinking": True}, warns=("extendedThinking",)),
    ]


def profile_2026_only(op: str) -> list[Case]:
    """The 2026 profile's limits on emoji and starters, and extendedThinking."""
    starters = "conversationStarters"
    return [
        *field_pair(op, "emoji", "e" * 16, "e" * 17, "too_big", "emoji-16"),
        ok("starters-20", op, {starters: ["s"] * 20}),
        bad("starters-21", op, {starters: ["s"] * 21}, (starters,), "too_big"),
        ok("starter-1", op, {starters: ["s"]}),
        bad("starter-empty", op, {starters: [""]}, (starters, 0), "too_small"),
        ok("starter-255", op, {starters: ["s" * 255]}),
        bad("starter-256", op, {starters: ["ok", "s" * 256]}, (starters, 1), "too_big"),
        *field_pair(op, "extendedThinking", True, "yes", "invalid_type"),
    ]


def completion_cases() -> list[Case]:
    """Completions: inline config, messages, maxSteps, stream, output, assistantId xor assistant."""
    op = "completions"

    def inline(**changes: Any) -> dict[str, Any]:
        return {"assistant": {**INLINE, **changes}}

    def inline_pair(name: str, good: Any, wrong: Any, code: str, label: str) -> list[Case]:
        return [
            ok(f"assistant-{label}", op, inline(**{name: good})),
            bad(f"assistant-{label}", op, inline(**{name: wrong}), ("assistant", name), code),
        ]

    def message(**changes: Any) -> dict[str, Any]:
        return {"messages": [{**MESSAGES[0], **changes}]}

    return [
        *inline_pair("name", "a", "", "too_small", "name-min"),
        *inline_pair("name", "n" * 64, "n" * 65, "too_big", "name-64"),
        *inline_pair("instructions", "i" * 16384, "i" * 16385, "too_big", "instructions-16384"),
        *inline_pair("description", "d" * 256, "d" * 257, "too_big", "description-256"),
        *inline_pair("temperature", 0, -0.1, "too_small", "temperature-0"),
        *inline_pair("temperature", 1, 1.1, "too_big", "temperature-1"),
        bad(
            "assistant-instructions-required",
            op,
            {"assistant": {"name": "T"}},
            ("assistant", "instructions"),
            "invalid_type",
        ),
        *field_pair(op, "maxSteps", 1, 0, "too_small", "maxSteps-1"),
        *field_pair(op, "maxSteps", 20, 21, "too_big", "maxSteps-20"),
        *field_pair(op, "maxSteps", 10, 2.5, "invalid_type", "maxSteps-type"),
        *field_pair(op, "stream", True, "yes", "invalid_type"),
        ok("stream-false", op, {"stream": False}),
        *[ok(f"role-{role}", op, message(role=role)) for role in ("user", "assistant", "tool")],
        bad(
            "role-system", op, message(role="system"), ("messages", 0, "role"), "invalid_enum_value"
        ),
        ok("content-empty", op, message(content="")),
        bad("content-number", op, message(content=1), ("messages", 0, "content"), "invalid_type"),
        bad(
            "content-missing",
            op,
            {"messages": [{"role": "user"}]},
            ("messages", 0, "content"),
            "invalid_type",
        ),
        bad("messages-empty", op, {"messages": []}, ("messages",), "too_small"),
        Case(
            "completions-messages-missing-bad",
            op,
            {},
            ("messages",),
            "invalid_type",
            drop=("messages",),
        ),
        ok("attachmentIds-uuid", op, message(attachmentIds=[]), status=200),
        bad(
            "attachmentIds-not-uuid",
            op,
            message(attachmentIds=["x"]),
            ("messages", 0, "attachmentIds", 0),
            "invalid_string",
        ),
        ok("output-object", op, {"output": {"type": "object"}}),
        ok("output-enum", op, {"output": {"type": "enum", "enum": ["yes", "no"]}}),
        ok("output-array", op, {"output": {"type": "array", "schema": {"type": "integer"}}}),
        bad(
            "output-enum-missing",
            op,
            {"output": {"type": "enum"}},
            ("output", "enum"),
            "invalid_type",
        ),
        bad(
            "output-type",
            op,
            {"output": {"type": "list"}},
            ("output", "type"),
            "invalid_enum_value",
        ),
        bad(
            "output-enum-empty",
            op,
            {"output": {"type": "enum", "enum": []}},
            ("output", "enum"),
            "too_small",
        ),
        Case(
            "completions-assistantId-and-assistant-bad",
            op,
            {"assistantId": PLACEHOLDER_ID},
            (),
            "invalid_union",
        ),
        Case("completions-neither-bad", op, {}, (), "invalid_union", drop=("assistant",)),
        Case(
            "completions-assistantId-unknown-404",
            op,
            {"assistantId": UNKNOWN_UUID},
            status=404,
            drop=("assistant",),
        ),
    ]


def other_cases() -> list[Case]:
    """get's query and disable's body."""
    return [
        ok("assistantId", "get", {}),
        bad(
            "assistantId-not-uuid",
            "get",
            {"assistantId": "abc"},
            ("assistantId",),
            "invalid_string",
        ),
        Case(
            "get-assistantId-missing-bad",
            "get",
            {},
            ("assistantId",),
            "invalid_type",
            drop=("assistantId",),
        ),
        Case("get-assistantId-unknown-404", "get", {"assistantId": UNKNOWN_UUID}, status=404),
        *field_pair("disable", "disabled", True, "yes", "invalid_type"),
        Case(
            "disable-disabled-missing-bad",
            "disable",
            {},
            ("disabled",),
            "invalid_type",
            drop=("disabled",),
        ),
        bad(
            "assistantId-not-uuid",
            "disable",
            {"assistantId": "abc"},
            ("assistantId",),
            "invalid_string",
        ),
        ok("description-null", "update", {"description": None}),
        ok("instruction-null", "update", {"instruction": None}),
        ok("emoji-null", "update", {"emoji": None}),
        bad("assistantId-missing", "update", {}, ("assistantId",), "invalid_type"),
    ]


LIMITS = {
    "seed": {"name": 255, "description": 256, "instruction": 16384},
    "2026": {"name": 80, "description": 500, "instruction": 40000},
}


def cases_for(profile: str) -> list[Case]:
    extra = seed_only if profile == "seed" else profile_2026_only
    cases = [
        *stored_fields("create", LIMITS[profile]),
        *stored_fields("update", LIMITS[profile]),
        *extra("create"),
        *extra("update"),
        *completion_cases(),
        *other_cases(),
    ]
    fixed = []
    for case in cases:  # update's assistantId is required: "missing" means dropping it
        if case.id == "update-assistantId-missing-bad":
            case = Case(case.id, case.op, {}, case.path, case.code, drop=("assistantId",))
        fixed.append(case)
    return fixed


ALL = [(profile, case) for profile in ("seed", "2026") for case in cases_for(profile)]
IDS = [f"{profile}-{case.id}" for profile, case in ALL]


def test_case_ids_are_unique() -> None:
    assert len(IDS) == len(set(IDS))


def base_body(op: str, assistant_id: str) -> dict[str, Any]:
    if op == "create":
        return {"name": "Edge"}
    if op == "completions":
        return {"assistant": dict(INLINE), "messages": [dict(m) for m in MESSAGES]}
    if op == "disable":
        return {"assistantId": assistant_id, "disabled": True}
    return {"assistantId": assistant_id}


def body_of(case: Case, assistant_id: str) -> dict[str, Any]:
    body = base_body(case.op, assistant_id)
    for name in case.drop:
        body.pop(name, None)
    body.update(case.patch)
    if case.op == "completions" and "assistantId" in case.patch and "assistant" in case.drop:
        body.pop("assistant", None)
    return body


@pytest.mark.parametrize(("profile", "case"), ALL, ids=IDS)
def test_schema_boundary(profile: str, case: Case) -> None:
    """The validation layer alone: accepted side clean, rejected side exactly one issue."""
    _, _, schema, _ = REQUESTS[case.op]
    verdict = check(load_bundle(None, profile), schema, body_of(case, PLACEHOLDER_ID))
    if case.path is None:
        assert verdict.errors == ()
        assert tuple(w.path[-1] for w in verdict.warnings) == case.warns
    else:
        assert [(e.path, e.code) for e in verdict.errors] == [(case.path, case.code)]


def send(client: httpx.Client | TestClient, op: str, body: dict[str, Any]) -> Response:
    method, path, _, _ = REQUESTS[op]
    if method == "GET":
        return client.get(path, params=body)
    return client.request(method, path, json=body)


def create_assistant(client: httpx.Client | TestClient) -> str:
    created = client.post("/assistant/v1/create", json={"name": "Edge", "instruction": "Edges."})
    assert created.status_code == 201, created.text
    assistant_id: str = created.json()["assistant"]["id"]
    return assistant_id


def assert_case(client: httpx.Client | TestClient, state: MockState, case: Case) -> None:
    """Send the case over HTTP; check status, body and that a rejection changed nothing."""
    needs_one = case.op in ("update", "get", "disable")
    assistant_id = create_assistant(client) if needs_one else PLACEHOLDER_ID
    before = observe(state)
    response = send(client, case.op, body_of(case, assistant_id))
    if case.path is None:
        expected = case.status or REQUESTS[case.op][3]
        assert response.status_code == expected, response.text
        if expected == 404:
            assert response.json()["message"] in (RESOURCE_NOT_FOUND, "Assistant not found")
            assert observe(state) == before
        warned = response.headers.get("x-mock-warnings", "")
        for name in case.warns:
            assert f"unknown field $.{name}" in warned
        if not case.warns:
            assert "x-mock-warnings" not in response.headers
        return
    assert response.status_code == 400, response.text
    [issue] = response.json()["message"]
    assert issue["path"] == list(case.path)
    assert issue["code"] == case.code
    assert isinstance(issue["message"], str)
    assert issue["message"]
    assert observe(state) == before


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, TestClient]]:
    """One in-process app per profile for the module, reset by each test (cheaper than new apps)."""
    with (
        TestClient(create_app(Settings(freeze_clock=True)), headers=AUTH) as seed,
        TestClient(create_app(Settings(profile="2026", freeze_clock=True)), headers=AUTH) as p2026,
    ):
        yield {"seed": seed, "2026": p2026}


@pytest.mark.parametrize(("profile", "case"), ALL, ids=IDS)
def test_http_boundary_in_process(clients: dict[str, TestClient], profile: str, case: Case) -> None:
    client = clients[profile]
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    state.reset()
    assert_case(client, state, case)
    assert not state.failures


LIVE = {
    "create-name-min-ok",
    "create-name-min-bad",
    "create-name-255-ok",
    "create-name-255-bad",
    "create-name-80-ok",
    "create-name-80-bad",
    "update-description-ok",
    "update-description-bad",
    "create-emoji-16-bad",
    "update-starter-empty-bad",
    "create-extendedThinking-unknown-ok",
    "create-extendedThinking-ok",
    "create-inputFields-order-neg-bad",
    "create-actions-not-uuid-bad",
    "completions-assistant-name-64-ok",
    "completions-assistant-name-64-bad",
    "completions-maxSteps-20-ok",
    "completions-maxSteps-20-bad",
    "completions-role-system-bad",
    "completions-neither-bad",
    "get-assistantId-not-uuid-bad",
}
LIVE_CASES = [(profile, case) for profile, case in ALL if case.id in LIVE]


@pytest.fixture(scope="module")
def live_clients(live_server: MockServer) -> Iterator[dict[str, tuple[MockServer, httpx.Client]]]:
    """The session's live server (seed) and a second one on the 2026 profile, with clients."""
    with MockServer(profile="2026") as server_2026:
        made = {
            profile: (server, httpx.Client(base_url=server.url, headers=AUTH, timeout=10))
            for profile, server in (("seed", live_server), ("2026", server_2026))
        }
        yield made
        for _, http_client in made.values():
            http_client.close()


@pytest.mark.parametrize(
    ("profile", "case"), LIVE_CASES, ids=[f"{p}-{c.id}" for p, c in LIVE_CASES]
)
def test_http_boundary_live(
    live_clients: dict[str, tuple[MockServer, httpx.Client]], profile: str, case: Case
) -> None:
    server, http_client = live_clients[profile]
    server.reset()
    assert_case(http_client, server.state, case)
    server.check_failures()


def test_every_violation_is_reported_with_its_path(client: TestClient) -> None:
    body = {
        "name": "",
        "description": "d" * 257,
        "creativity": 2,
        "inputType": "CHAT",
        "inputFields": [input_field(order=-1, type="EMAIL")],
        "actions": [{"actionId": "x"}],
    }
    response = client.post("/assistant/v1/create", json=body)
    assert response.status_code == 400
    issues = response.json()["message"]
    assert [(i["path"], i["code"]) for i in issues] == [
        (["actions", 0, "actionId"], "invalid_string"),
        (["creativity"], "too_big"),
        (["description"], "too_big"),
        (["inputFields", 0, "order"], "too_small"),
        (["inputFields", 0, "type"], "invalid_enum_value"),
        (["inputType"], "invalid_enum_value"),
        (["name"], "too_small"),
    ]
    assert client.get("/__admin/requests").json()["requests"][-1]["errors"] == issues


def test_issues_come_in_document_order_array_items_by_index(client: TestClient) -> None:
    messages: list[Any] = [{"role": "user", "content": "fine"} for _ in range(12)]
    messages[10] = {"role": "user", "content": 10}
    messages[2] = {"role": "bot", "content": 2}
    body = {"assistant": {**INLINE, "temperature": 9}, "messages": messages}
    issues = client.post("/assistant/v1/chat/completions", json=body).json()["message"]
    assert [(issue["path"], issue["code"]) for issue in issues] == [
        (["assistant", "temperature"], "too_big"),
        (["messages", 2, "content"], "invalid_type"),
        (["messages", 2, "role"], "invalid_enum_value"),
        (["messages", 10, "content"], "invalid_type"),
    ]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": "n" * 256}, ["name"], "String must contain at most 255 character(s)"),
        ({"name": ""}, ["name"], "String must contain at least 1 character(s)"),
        ({"name": 5}, ["name"], "Expected string, received number"),
        ({}, ["name"], "Required"),
        (
            {"name": "a", "creativity": 1.5},
            ["creativity"],
            "Number must be less than or equal to 1",
        ),
        (
            {"name": "a", "inputType": "X"},
            ["inputType"],
            "Invalid enum value. Expected 'PROMPT' | 'STRUCTURED', received 'X'",
        ),
        ({"name": "a", "attachments": ["x"]}, ["attachments", 0], "Invalid uuid"),
    ],
    ids=["too-big", "too-small", "type", "required", "number", "enum", "uuid"],
)
def test_issue_messages_read_like_zod(
    client: TestClient, body: dict[str, Any], path: list[Any], message: str
) -> None:
    response = client.post("/assistant/v1/create", json=body)
    assert response.json() == {
        "message": [
            {"code": response.json()["message"][0]["code"], "path": path, "message": message}
        ]
    }


def test_exactly_one_of_message(client: TestClient) -> None:
    response = client.post("/assistant/v1/chat/completions", json={"messages": MESSAGES})
    assert response.json()["message"] == [
        {
            "code": "invalid_union",
            "path": [],
            "message": "Exactly one of assistantId or assistant must be provided",
        }
    ]


def test_strip_unknown_removes_only_named_fields() -> None:
    bundle = load_bundle(None, "seed")
    body = {"name": "a", "x": 1, "inputFields": [input_field(extra=True)]}
    verdict = check(bundle, "requests/assistant-create.json", body)
    assert verdict.errors == ()
    stripped = strip_unknown(body, verdict.warnings)
    assert stripped == {"name": "a", "inputFields": [input_field()]}
    assert body["x"] == 1  # the original (kept by the journal) is untouched
    assert strip_unknown(body, ()) is body


def test_a_deep_invalid_body_is_a_400_not_a_crash() -> None:
    deep: Any = []
    for _ in range(600):
        deep = [deep]
    with pytest.raises(BadRequest, match="nested too deeply"):
        explain(load_bundle(None, "seed"), "requests/assistant-create.json", {"name": deep})


def test_exclusive_bounds_read_like_zod(tmp_path: Path) -> None:
    """No contract field has one yet; a copied folder with one keeps the messages honest."""
    root = copy_schemas(tmp_path)
    exclusive = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    edit_schema(
        root, "defs/assistant-fields.json", lambda d: d["$defs"].update(creativity=exclusive)
    )
    bundle = load_bundle(root, "seed")
    messages = [
        check(bundle, "requests/assistant-create.json", {"name": "a", "creativity": value})
        .errors[0]
        .message
        for value in (0, 1)
    ]
    assert messages == ["Number must be greater than 0", "Number must be less than 1"]
