"""The strategies: valid, boundary and invalid bodies agree with the server's own validator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver import strategies
from mockserver.config import DEFAULT_ACTIONS, DEFAULT_MODELS
from mockserver.schemas import load_bundle
from mockserver.strategies import (
    InvalidPayload,
    boundary_payloads,
    edges,
    invalid_payloads,
    payload_operations,
    payloads,
)
from mockserver.validation import check

PROFILES = ("seed", "2026")
CASES = [(profile, op) for profile in PROFILES for op in payload_operations(profile=profile)]
ONE_DRAW = settings(database=None, phases=[Phase.generate], max_examples=1)
CATALOGUE = {model.id for model in DEFAULT_MODELS}
ASSISTANT_ID = "0b8a3c5e-7d21-4f6a-9e3b-2c1d4e5f6a7b"
ATTACHMENT_ID = "7f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"


def _draw(strategy: st.SearchStrategy[Any]) -> Any:
    """One example, the first the strategy produces (``find`` would also print it: too long)."""
    drawn: list[Any] = []

    @ONE_DRAW
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn[0]


def _plan(operation: str, profile: str = "seed") -> Any:
    return strategies._plan(operation, profile, strategies._pools(None))


def test_every_operation_with_a_json_schema_is_covered() -> None:
    bundle = load_bundle(None, "seed")
    expected = {op.id for op in bundle.operations.values() if op.body_schema and not op.multipart}
    assert set(payload_operations()) == expected
    assert {
        "assistant.create",
        "assistant.get",
        "assistant.update",
        "assistant.disable",
        "assistant.completions",
    } <= expected
    assert "assistant.models" not in expected  # no body, no query


@pytest.mark.parametrize(("profile", "operation"), CASES)
@settings(max_examples=10)
@given(data=st.data())
def test_bodies_are_valid_before_the_validator_filter(
    profile: str, operation: str, data: st.DataObject
) -> None:
    plan = _plan(operation, profile)
    body = data.draw(plan.compiler(plan.schema))
    verdict = check(plan.bundle, plan.name, body)
    assert verdict.errors == (), (body, verdict)
    assert verdict.warnings == (), (body, verdict)


@pytest.mark.parametrize(("profile", "operation"), CASES)
def test_every_edge_and_every_mutation_holds_by_construction(profile: str, operation: str) -> None:
    plan = _plan(operation, profile)
    for label, edge in edges.boundaries(plan.schema):
        body = _draw(plan.compiler(edge))
        verdict = check(plan.bundle, plan.name, body)
        assert verdict.errors == (), (label, body, verdict)
        assert verdict.warnings == (), (label, body, verdict)
    for mutation in edges.mutations(plan.schema, plan.query):
        body = _draw(strategies._mutated(plan.compiler, mutation))
        assert strategies._breaks_only(plan, mutation, body), (mutation.rule, body)


def _labels(operation: str, profile: str = "seed") -> set[str]:
    return {label for label, _ in edges.boundaries(_plan(operation, profile).schema)}


def _rules(operation: str, profile: str = "seed") -> set[tuple[str, tuple[str | int, ...]]]:
    plan = _plan(operation, profile)
    return {(m.rule, m.path) for m in edges.mutations(plan.schema, plan.query)}


def test_create_edges_and_rules_come_from_its_schema() -> None:
    assert {
        "maximum_length_string: name",
        "minimum_length_string: name",
        "maximum_length_string: instruction",
        "minimum_value: creativity",
        "maximum_value: creativity",
        "minimum_items_array: conversationStarters",
        "minimum_items_array: attachments",
        "minimum_value: inputFields[0].order",
        "object_only_required: (every object)",
        "object_required_and_optional: (every object)",
    } <= _labels("assistant.create")
    # A pooled id has no edges of its own: its values come from the pool.
    assert not any("model" in label or "actionId" in label for label in _labels("assistant.create"))
    assert {
        ("string_above_max_length", ("name",)),
        ("string_below_min_length", ("name",)),
        ("value_above_maximum", ("creativity",)),
        ("value_below_minimum", ("creativity",)),
        ("incorrect_type", ("webSearch",)),
        ("invalid_enum_value", ("inputType",)),
        ("invalid_format", ("actions", 0, "actionId")),
        ("object_missing_required_property", ("name",)),
        ("object_missing_required_property", ("inputFields", 0, "slug")),
        ("string_below_min_length", ("model",)),
    } <= _rules("assistant.create")


def test_completions_rules_cover_the_union_and_the_conditional() -> None:
    assert {
        ("union_no_branch", ()),
        ("union_every_branch", ()),
        ("object_missing_required_property", ("output", "enum")),
        ("array_below_min_items", ("messages",)),
        ("array_below_min_items", ("output", "enum")),
        ("value_above_maximum", ("maxSteps",)),
        ("string_above_max_length", ("assistant", "name")),
        ("invalid_enum_value", ("messages", 0, "role")),
    } <= _rules("assistant.completions")
    labels = _labels("assistant.update")
    assert {"null_value: description", "null_value: emoji"} <= labels


def test_a_query_operation_only_breaks_rules_a_query_string_can_carry() -> None:
    assert _rules("assistant.get") == {
        ("invalid_format", ("assistantId",)),
        ("object_missing_required_property", ("assistantId",)),
    }


def _broken(operation: str, profile: str, rule: str, path: tuple[str | int, ...]) -> InvalidPayload:
    """One example of one mutation, through the same filter ``invalid_payloads`` applies."""
    plan = _plan(operation, profile)
    [mutation] = [
        m for m in edges.mutations(plan.schema, plan.query) if (m.rule, m.path) == (rule, path)
    ]
    case: InvalidPayload = _draw(strategies._invalid(plan, mutation))
    return case


def test_the_seed_profile_has_the_seed_limits() -> None:
    assert "maximum_items_array: conversationStarters" not in _labels("assistant.create")
    case = _broken("assistant.create", "seed", "string_above_max_length", ("name",))
    assert len(case.body["name"]) == 256


def test_the_2026_profile_moves_every_boundary() -> None:
    labels = _labels("assistant.create", "2026")
    assert {
        "maximum_items_array: conversationStarters",
        "maximum_length_string: conversationStarters[0]",
        "maximum_length_string: emoji",
        "minimum_value: creativity",
    } <= labels
    rules = _rules("assistant.create", "2026")
    assert ("array_above_max_items", ("conversationStarters",)) in rules
    assert ("incorrect_type", ("extendedThinking",)) in rules
    case = _broken("assistant.create", "2026", "string_above_max_length", ("name",))
    assert len(case.body["name"]) == 81
    plan = _plan("assistant.create", "2026")
    found = dict(edges.boundaries(plan.schema))
    longest = _draw(plan.compiler(found["maximum_length_string: instruction"]))
    assert len(longest["instruction"]) == 40000
    full = _draw(plan.compiler(found["maximum_items_array: conversationStarters"]))
    assert len(full["conversationStarters"]) == 20
    assert all(1 <= len(text) <= 255 for text in full["conversationStarters"])


@settings(max_examples=40)
@given(payloads("assistant.create"))
def test_resource_fields_draw_from_the_embedded_pools(body: dict[str, Any]) -> None:
    assert body.get("model", "gpt-4o") in CATALOGUE
    assert {action["actionId"] for action in body.get("actions", ())} <= set(DEFAULT_ACTIONS)
    assert body.get("attachments", []) == []


def test_pools_supply_the_ids_that_exist() -> None:
    resources = {"assistants": [ASSISTANT_ID], "attachments": [ATTACHMENT_ID]}
    body = find(
        payloads("assistant.completions", resources=resources),
        lambda b: "assistantId" in b and any(m.get("attachmentIds") for m in b["messages"]),
        settings=settings(database=None, max_examples=300),
    )
    assert body["assistantId"] == ASSISTANT_ID
    assert {a for m in body["messages"] for a in m.get("attachmentIds", ())} == {ATTACHMENT_ID}
    update = _draw(payloads("assistant.update", resources=resources))
    assert update["assistantId"] == ASSISTANT_ID
    # Without a pool, a single id is any id the schema allows (the server answers 404).
    assert _draw(payloads("assistant.update"))["assistantId"] != ASSISTANT_ID


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (payloads("assistant.nope"), "unknown operation"),
        (boundary_payloads("assistant.models"), "no JSON body or query schema"),
        (invalid_payloads("attachment.upload"), "no JSON body or query schema"),
        (payloads("assistant.create", profile="2027"), "profile '2027'"),
        (payloads("assistant.create", resources={"robots": ["x"]}), "unknown kind 'robots'"),
        (payloads("assistant.create", resources={"models": "gpt-4o"}), "sequence of strings"),
        (payloads("assistant.create", resources={"models": [""]}), "no value is valid"),
    ],
    ids=["operation", "no-schema", "multipart", "profile", "kind", "string-pool", "unfit-pool"],
)
def test_misuse_raises_invalid_argument_when_drawn(
    strategy: st.SearchStrategy[Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _draw(strategy)


def test_examples_shrink_to_the_smallest_body() -> None:
    assert find(payloads("assistant.create"), lambda b: True) == {"name": "0"}
    case = find(
        invalid_payloads("assistant.disable"),
        lambda c: c.rule == "object_missing_required_property" and c.path == ("disabled",),
    )
    assert list(case.body) == ["assistantId"]
    assert (case.path, case.code) == (("disabled",), "invalid_type")


def test_names_and_texts_are_realistic_as_well_as_arbitrary() -> None:
    realistic = find(
        payloads("assistant.create"),
        lambda b: " " in b["name"] and b["name"].istitle() and len(b["name"]) > 12,
        settings=settings(database=None, phases=[Phase.generate], max_examples=200),
    )
    assert realistic["name"] in strategies._texts("name")


def test_examples_are_labelled_with_their_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(strategies, "event", seen.append)

    @settings(database=None, max_examples=60, phases=[Phase.generate])
    @given(boundary_payloads("assistant.update"), invalid_payloads("assistant.update"))
    def run(body: dict[str, Any], case: InvalidPayload) -> None:
        pass

    run()
    scenarios = {label.split(":")[0] for label in seen}
    assert "null_value" in scenarios or "maximum_length_string" in scenarios
    assert scenarios & {"incorrect_type", "object_missing_required_property"}
    assert all(":" in label for label in seen)


def test_invalid_payload_is_a_frozen_value() -> None:
    case = InvalidPayload(
        {"name": ""}, path=("name",), code="too_small", rule="string_below_min_length"
    )
    assert case.status == 400
    with pytest.raises(AttributeError):
        case.status = 200  # type: ignore[misc]


def test_only_the_strategies_module_imports_hypothesis() -> None:
    package = Path(strategies.__file__).parent.parent
    importers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "import hypothesis" in path.read_text() or "from hypothesis" in path.read_text()
    )
    assert importers == ["strategies/__init__.py"]
    code = (
        "import sys, mockserver, mockserver.asgi.app, mockserver.server, mockserver.cli\n"
        "mockserver.MockServer, mockserver.create_app\n"
        "assert not [m for m in sys.modules if m.startswith('hypothesis')], 'hypothesis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
