"""Schemathesis against a live server from the generated OpenAPI: every check, links, zero failures.

The server runs with ``strict=True``: the schemas close request objects with
``additionalProperties: false``, and only strict mode turns an unknown field into a 400 (by default
the mock accepts it with an X-Mock-Warnings header, as the real API silently drops it), so
negative_data_rejection can hold the server to the document. Rate limits are off because a 429
would only starve generation (it is documented, and tested in test_ratelimit*.py). The self-check
is on, so a response that breaks its schema is also a 500 that not_a_server_error reports.
Exclusions: negative_data_rejection on attachment.upload, positive_data_acceptance on the usage
exports, the coverage phase on Google's two generateContent routes (see ``_schema``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from mockserver import MockServer
from mockserver.config import DEFAULT_API_KEY
from mockserver.contract.openapi import build_openapi
from mockserver.schemas import load_bundle
from tests import documents

# Every check schemathesis has, all on (its defaults, spelled out so a change shows up here).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "ignored_auth",
    "unsupported_method",
    "missing_required_header",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
)
EXPORTS = [op for op in load_bundle().operations if op.startswith("export.")]
MAX_EXAMPLES = 12  # per operation and phase; the coverage phase adds its boundary cases on top
GOOGLE = ["google.generate", "google.stream"]
GOOGLE_MAX_EXAMPLES = 4


def _without(node: Any, field: str) -> Any:
    """A copy of an OpenAPI document whose schemas have no property ``field``."""
    if isinstance(node, dict):
        return {
            key: (
                {name: _without(sub, field) for name, sub in value.items() if name != field}
                if key == "properties" and isinstance(value, dict)
                else _without(value, field)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_without(item, field) for item in node]
    return node


def _schema(
    base_url: str | None = None,
    mode: str = "all",
    *,
    without: str | None = None,
    only: str | None = None,
) -> Any:
    settings: dict[str, Any] = {
        "headers": {"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": mode},
        "checks": {"enabled": True, **{name: {"enabled": True} for name in CHECKS}},
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "operations": [
            {
                # The one exclusion. A multipart file part is bytes on the wire: the "number"
                # schemathesis sends as a type-violating file arrives as a file holding the bytes
                # of that number, which the server rightly accepts.
                "include-operation-id": "attachment.upload",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
            *(
                {
                    # Google's bodies (contents of parts of free-form JSON: function arguments
                    # and responses, Schema objects) take a second or more each to generate,
                    # and their coverage phase's boundary cases ~25 s of CPU: fewer examples and
                    # no coverage phase keep the file's time; every check stays on. Their edges
                    # are test_properties_live.py's (boundary_payloads, invalid_payloads).
                    "include-operation-id": op_id,
                    "generation": {"max-examples": GOOGLE_MAX_EXAMPLES},
                    "phases": {"coverage": {"enabled": False}},
                }
                for op_id in GOOGLE
            ),
            *(
                {
                    # A usage export's valid body can still ask for more than 12 months, or
                    # for a range that ends before it starts: 400s no JSON Schema can rule out.
                    "include-operation-id": op_id,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                }
                for op_id in EXPORTS
            ),
        ],
    }
    if base_url is not None:
        settings["base-url"] = base_url
    config = SchemathesisConfig.from_dict(settings)
    document = build_openapi(load_bundle())
    if without is not None:
        document = _without(document, without)
    if only is not None:
        # Not .include(): a state machine built after it still starts chains at every
        # operation with links, so few of a short run's steps would reach these paths.
        document["paths"] = {p: v for p, v in document["paths"].items() if re.match(only, p)}
    return schemathesis.openapi.from_dict(document, config=config)


# Loaded at import (no server needed): pytest 9 breaks schemathesis.pytest.from_fixture.
schema = _schema()


@pytest.fixture(scope="module")
def contract_server() -> Iterator[MockServer]:
    """A strict live server of its own: schemathesis fills it with resources."""
    with MockServer(strict=True, rate_limits=False, check_responses=True) as server:
        yield server
        server.check_failures()


def test_every_check_is_on() -> None:
    for operation in schema.get_all_operations():
        op = operation.ok()
        checks = schema.config.checks_config_for(operation=op, phase=None)
        off = {name for name in CHECKS if not getattr(checks, name).enabled}
        expected = (
            {"negative_data_rejection"} if op.label == "POST /attachment/v1/upload" else set()
        )
        if op.label.startswith("POST /export/"):
            expected = {"positive_data_acceptance"}
        assert off == expected, op.label


@schema.parametrize()  # type: ignore[untyped-decorator]  # Reason: schemathesis is untyped here.
# No suppress_health_check here: a decorator's list would replace the config's (too_slow,
# filter_too_much, data_too_large), which Google's large bodies need.
@hypothesis.settings(deadline=None, database=None)
def test_every_operation_conforms(case: Any, contract_server: MockServer) -> None:
    case.call_and_validate(base_url=contract_server.url)


def _drop_references(node: Any) -> None:
    """Remove attachment references: only an upload makes one exist, and no link carries them."""
    if isinstance(node, dict):
        for key in ("attachmentIds", "attachments"):
            node.pop(key, None)
        for value in node.values():
            _drop_references(value)
    elif isinstance(node, list):
        for value in node:
            _drop_references(value)


FOLDER = "stateful-handbook"
# Schemathesis names a file part after its field plus the extension its bytes' signature
# gives ("file.pdf"): a real PDF, since a name without an extension is rightly a 400.
HANDBOOK = documents.pdf("The cat sat on the mat.")


def _run(machine: Any, examples: int) -> None:
    machine.run(
        settings=hypothesis.settings(
            max_examples=examples,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


def test_stateful_sequences_follow_the_links(contract_server: MockServer) -> None:
    """create -> get -> update -> completions chains, through the document's OpenAPI links.

    Positive data only: negative data is the parametrized test's job, and here it would cut chains
    short. Two adaptations keep generated bodies referentially valid, so that chains get past 404:
    a link's id wins over the inline configuration it is the oneOf alternative of, and random
    attachment ids (404 by contract) are dropped. A third keeps them usable: disable re-enables,
    since a chain that disables its assistant ends in 403s (tested in test_auth.py), and whether
    one does turned on the memory layout of unrelated code.
    """
    # The Completion API's operations have no links: steps spent there would cut chains short.
    # Neither have the usage exports (a range of dates is no response's field), and
    # schemathesis starts no chain at an operation without links: their per-operation run
    # above covers them. The knowledge chains have a run of their own, below.
    # Knowledge folders are made through the admin API only: schemathesis takes a body naming
    # knowledgeFolderIds for one that needs a resource nothing produces, and would start no
    # chain at create. The run's documents leave the field out (tested in test_knowledge.py).
    linked = _schema(contract_server.url, mode="positive", without="knowledgeFolderIds").exclude(
        path_regex="^/(openai|anthropic|google|knowledge|export)/"
    )
    base = linked.as_state_machine()

    class Chains(base):  # type: ignore[misc,valid-type]  # Reason: a class built at run time.
        def before_call(self, case: Any) -> None:
            if isinstance(case.body, dict):
                for key in [k for k in case.body if f"{k}Id" in case.body]:
                    del case.body[key]
                _drop_references(case.body)
                if case.path.endswith("/disable"):
                    case.body["disabled"] = False

    contract_server.reset()
    _run(Chains, 30)
    state = contract_server.state
    with state.lock:
        entries = state.journal.entries()
        for family in ("assistant", "agent"):
            field = f"{family}Id"
            # Only a link can name a resource that exists: generated ids are random UUIDs.
            linked = [
                (entry.operation, entry.status)
                for entry in entries
                if isinstance(entry.body, dict)
                and state.store.find(str(entry.body.get(field)), "default") is not None
            ]
            operations = {operation for operation, _ in linked}
            for name in ("get", "update", "completions"):
                assert f"{family}.{name}" in operations, (family, sorted(set(linked)))
            assert (f"{family}.get", 200) in linked
            assert (f"{family}.completions", 200) in linked


def test_stateful_knowledge_chains_follow_the_links(contract_server: MockServer) -> None:
    """upload -> get / update / delete, through result.id and the request's folderId.

    In a folder made beforehand through the admin API (the only way to make one), at which
    every step is pointed; a positive upload or update carries a real PDF. The test checks
    from the journal that uploads led to a get and to an update or delete of the file.
    """
    linked = _schema(contract_server.url, mode="positive", only="^/knowledge/")
    base = linked.as_state_machine()

    class Chains(base):  # type: ignore[misc,valid-type]  # Reason: a class built at run time.
        def before_call(self, case: Any) -> None:
            if case.path.startswith("/knowledge/{folderId}"):
                case.path_parameters = {**(case.path_parameters or {}), "folderId": FOLDER}
                positive = case.meta is None or case.meta.generation.mode.is_positive
                if case.method in ("POST", "PATCH") and isinstance(case.body, dict) and positive:
                    case.body["file"] = HANDBOOK  # a negative case stays one

    contract_server.reset()
    contract_server.add_folder(FOLDER)
    _run(Chains, 5)
    with contract_server.state.lock:
        entries = contract_server.state.journal.entries()
    # A file's id comes only from a link: a generated one is a 404.
    knowledge = {(e.operation, e.status) for e in entries}
    assert ("knowledge.upload", 200) in knowledge, sorted(knowledge)
    assert ("knowledge.get", 200) in knowledge, sorted(knowledge)
    assert {("knowledge.update", 200), ("knowledge.delete", 200)} & knowledge, sorted(knowledge)


def test_found_a_control_character_in_an_unknown_field_name(http: httpx.Client) -> None:
    """Pinned from a schemathesis finding: the X-Mock-Warnings header broke the connection."""
    params = {"assistantId": "00000000-0000-4000-8000-000000000000", "\x1f": "x"}
    response = http.get("/assistant/v1/get", params=params)
    assert response.status_code == 404
    assert response.headers["X-Mock-Warnings"] == "unknown field $.\\x1f"
