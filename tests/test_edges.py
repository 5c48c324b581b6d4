"""Schemas taken apart: conjunction, branches, sites, focus, edges and mutations."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.schemas import load_bundle
from mockserver.strategies import edges

UNION: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "m": {"type": "array"}},
    "required": ["m"],
    "additionalProperties": False,
    "oneOf": [
        {"required": ["a"], "not": {"required": ["b"]}},
        {"required": ["b"], "not": {"required": ["a"]}},
    ],
}


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        ({"required": ["x"]}, {"required": ["y", "x"]}, {"required": ["x", "y"]}),
        ({"enum": ["p", "q"]}, {"const": "q"}, {"enum": ["p", "q"], "const": "q"}),
        ({"enum": ["p", "q"]}, {"const": "r"}, None),
        ({"const": "p"}, {"const": "q"}, None),
        ({"enum": ["p", "q"]}, {"not": {"enum": ["p"]}}, {"enum": ["q"]}),
        ({"type": "string"}, {"not": {"const": "p"}}, {"type": "string", "not": {"enum": ["p"]}}),
        ({"required": ["x"]}, {"not": {"required": ["x"]}}, None),
        ({}, {"not": {"required": ["x"]}}, {"properties": {"x": False}}),
        (True, {"type": "string"}, {"type": "string"}),
        ({"type": "string"}, False, False),
    ],
    ids=[
        "required",
        "const-in-enum",
        "const-outside-enum",
        "two-consts",
        "enum-minus-not",
        "not-const",
        "required-and-forbidden",
        "forbidden",
        "true",
        "false",
    ],
)
def test_conjoin(a: Any, b: Any, both: Any) -> None:
    assert edges.conjoin(a, b) == both


def test_a_one_of_with_forbidden_twins_splits_into_its_branches() -> None:
    branches = edges.alternatives(UNION)
    assert [sorted(b["required"]) for b in branches] == [["a", "m"], ["b", "m"]]
    assert branches[0]["properties"]["b"] is False
    assert branches[1]["properties"]["a"] is False
    assert all("oneOf" not in b for b in branches)


def test_an_if_splits_into_then_and_every_way_the_condition_fails() -> None:
    schema = {
        "type": "object",
        "properties": {"type": {"enum": ["x", "y", "z"]}},
        "required": ["type"],
        "if": {"properties": {"type": {"const": "z"}}, "required": ["type"]},
        "then": {"required": ["extra"]},
    }
    yes, no = edges.alternatives(schema)
    assert yes["properties"]["type"]["const"] == "z"
    assert "extra" in yes["required"]
    assert no["properties"]["type"]["enum"] == ["x", "y"]


def test_sites_address_items_as_index_zero_and_focus_makes_them_present() -> None:
    schema = load_bundle(None, "seed").dereferenced("requests/assistant-completions.json")
    paths = [path for path, _ in edges.sites(schema)]
    assert ("messages", 0, "role") in paths
    assert ("assistant", "temperature") in paths
    focused = edges.focus(schema, ("assistant", "name"), lambda s: {**s, "maxLength": 1})
    assert "assistant" in focused["required"]
    assert focused["properties"]["assistant"]["properties"]["name"]["maxLength"] == 1
    assert schema["properties"]["assistant"]["properties"]["name"]["maxLength"] == 64
    assert edges.dotted(("messages", 0, "role")) == "messages[0].role"
    assert edges.dotted(()) == "(body)"


def test_union_mutations_add_every_branch_or_remove_them_all() -> None:
    found = {m.rule: m for m in edges.mutations(UNION, query=False) if m.code == "invalid_union"}
    assert set(found) == {"union_no_branch", "union_every_branch"}
    assert found["union_no_branch"].changes == {"a": edges.ABSENT, "b": edges.ABSENT}
    assert {v.kind for v in found["union_every_branch"].changes.values()} == {"instance"}


def test_only_required_keeps_what_a_branch_requires() -> None:
    assert set(edges.only_required(UNION)["properties"]) == {"a", "b", "m"}
    every = edges.every_property(UNION)
    assert every["required"] == ["m"]  # a and b stay with the branches
