"""Where the rules of a request schema sit: branches, sites, focused copies and edges.

Pure functions over dereferenced JSON Schemas (dicts), shared by the strategies: a schema is
split into branches without ``oneOf``/``anyOf``/``allOf``/``if``, every property and item is a
*site* with an instance path (array items as index 0), and a site can be *focused*: changed and
made present in every instance, which is how boundary bodies and invalid bodies are described.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mockserver.errors import json_path

__all__ = [
    "ABSENT",
    "COMBINATORS",
    "RESOURCE_FIELDS",
    "Mutation",
    "Value",
    "alternatives",
    "boundaries",
    "conditionals",
    "conjoin",
    "dotted",
    "each_object",
    "every_property",
    "focus",
    "mutations",
    "only_required",
    "ready_for_removal",
    "sites",
    "types_of",
]

Schema = dict[str, Any]
Path = tuple[str | int, ...]

# Fields whose value names a resource, by resource kind (the key of ``resources``).
RESOURCE_FIELDS = {
    "model": "models",
    "actionId": "actions",
    "attachments": "attachments",
    "attachmentIds": "attachments",
    "attachmentId": "attachments",
    "assistantId": "assistants",
    "agentId": "agents",
    "knowledgeFolderIds": "knowledgeFolders",
}
COMBINATORS = ("oneOf", "anyOf", "allOf", "if", "then", "else")
"""Keywords that combine subschemas; ``alternatives`` removes them."""


# -- schema algebra: types, conjunction, branches ---------------------------------------------


def types_of(schema: Schema) -> list[str]:
    """The JSON types a schema names (an object when it only lists properties)."""
    kind = schema.get("type")
    if kind is None:
        return ["object"] if "properties" in schema else []
    return [kind] if isinstance(kind, str) else list(kind)


def _excluded(schema: Schema) -> list[Any]:
    """The values a ``not: {const}`` / ``not: {enum}`` rules out, else none."""
    negated = schema.get("not")
    if isinstance(negated, dict) and set(negated) == {"const"}:
        return [negated["const"]]
    if isinstance(negated, dict) and set(negated) == {"enum"}:
        return list(negated["enum"])
    return []


def conjoin(a: Schema | bool, b: Schema | bool) -> Schema | bool | None:
    """A schema for "both a and b" (None when no instance can satisfy both).

    Exact for what the request schemas use (required, properties, const, enum, not const,
    not required); other keywords of ``b`` override ``a``'s, which the validator filter corrects.
    """
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    out = dict(a)
    for key, value in b.items():
        if key == "required":
            out["required"] = list(dict.fromkeys([*out.get("required", ()), *value]))
        elif key == "properties":
            properties = dict(out.get("properties", {}))
            for name, sub in value.items():
                merged = conjoin(properties.get(name, True), sub)
                if merged is None:
                    return None
                properties[name] = merged
            out["properties"] = properties
        elif key == "not" and isinstance(value, dict) and list(value) == ["required"]:
            if len(value["required"]) == 1:  # "not required [x]": x is absent
                out["properties"] = {**out.get("properties", {}), value["required"][0]: False}
            else:
                out["not"] = value
        elif key == "not" and _excluded({"not": value}):
            excluded = [*_excluded(out), *_excluded({"not": value})]
            if "const" in out and out["const"] in excluded:
                return None
            if "enum" in out:
                out["enum"] = [v for v in out["enum"] if v not in excluded]
                if not out["enum"]:
                    return None
            else:
                out["not"] = {"enum": excluded}
        elif key == "const":
            if ("const" in out and out["const"] != value) or value in _excluded(out):
                return None
            if "enum" in out and value not in out["enum"]:
                return None
            out["const"] = value
        else:
            out[key] = value
    properties = out.get("properties", {})
    if any(properties.get(name) is False for name in out.get("required", ())):
        return None
    return out


def _negations(condition: Schema) -> list[Schema]:
    """Schemas whose union is "not condition", for the ``if`` shapes the schemas use."""
    negations: list[Schema] = []
    for name, sub in condition.get("properties", {}).items():
        if not isinstance(sub, dict) or set(sub) - {"const", "enum", "type"}:
            return [{}]  # not a shape we can negate: no constraint, the filter decides
        values = [sub["const"]] if "const" in sub else sub.get("enum")
        if values is None:
            return [{}]
        negations.append(
            {"properties": {name: {"not": {"enum": list(values)}}}, "required": [name]}
        )
    negations.extend({"properties": {name: False}} for name in condition.get("required", ()))
    return negations


def alternatives(schema: Schema) -> list[Schema]:
    """``schema`` without oneOf/anyOf/allOf/if: the branches whose union it is."""
    base: Schema = {k: v for k, v in schema.items() if k not in COMBINATORS}
    factors: list[list[Schema]] = []
    for key in ("oneOf", "anyOf"):
        if key in schema:
            factors.append([b for branch in schema[key] for b in alternatives(branch)])
    for part in schema.get("allOf", ()):
        factors.append(alternatives(part))
    if "if" in schema:
        condition, then, otherwise = schema["if"], schema.get("then", {}), schema.get("else", {})
        yes = conjoin(condition, then)
        noes = [conjoin(negation, otherwise) for negation in _negations(condition)]
        factors.append([s for s in (yes, *noes) if isinstance(s, dict)])
    found = [base]
    for factor in factors:
        merged = (conjoin(a, b) for a, b in itertools.product(found, factor))
        found = [s for s in merged if isinstance(s, dict)]
    return found


# -- sites: every subschema a rule can sit on -------------------------------------------------


def sites(schema: Schema | bool, path: Path = ()) -> Iterator[tuple[Path, Schema]]:
    """(instance path, subschema) for the body and every property and item inside it.

    Array items are addressed as index 0; branches of oneOf/if are not descended into.
    """
    if not isinstance(schema, dict):
        return
    yield path, schema
    types = types_of(schema)
    if "object" in types:
        for name, sub in schema.get("properties", {}).items():
            yield from sites(sub, (*path, name))
    if "array" in types and isinstance(schema.get("items"), dict):
        yield from sites(schema["items"], (*path, 0))


def focus(schema: Schema, path: Path, change: Callable[[Schema], Schema]) -> Schema:
    """``schema`` with the subschema at ``path`` changed and made present in every instance."""
    if not path:
        return change(schema)
    head, rest = path[0], path[1:]
    out = dict(schema)
    if isinstance(head, int):
        out["type"] = "array"
        out["minItems"] = max(1, out.get("minItems", 0))
        out["items"] = focus(schema["items"], rest, change)
    else:
        out["type"] = "object"
        out["properties"] = {
            **schema["properties"],
            head: focus(schema["properties"][head], rest, change),
        }
        out["required"] = [
            *schema.get("required", ()),
            *([head] if head not in schema.get("required", ()) else []),
        ]
    return out


def each_object(schema: Schema, change: Callable[[Schema], Schema]) -> Schema:
    """``change`` applied to every object schema, innermost first (not inside branches)."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {
            n: each_object(s, change) if isinstance(s, dict) else s
            for n, s in out["properties"].items()
        }
    if isinstance(out.get("items"), dict):
        out["items"] = each_object(out["items"], change)
    return change(out) if "object" in types_of(out) else out


def _branch_required(schema: Schema) -> set[str]:
    """Properties a branch (oneOf/anyOf/allOf, then/else) requires: they stay with the branch."""
    names: set[str] = set()
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, ()):
            names |= set(branch.get("required", ()))
    for key in ("then", "else"):
        names |= set(schema.get(key, {}).get("required", ()))
    for part in schema.get("allOf", ()):  # an allOf of if/then: what each then requires
        for key in ("then", "else"):
            names |= set(part.get(key, {}).get("required", ()))
    return names


def _branch_forbidden(schema: Schema) -> set[str]:
    """Properties a oneOf/anyOf branch forbids (``not: {required: [x]}``)."""
    names: set[str] = set()
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key, ()):
            names |= set(branch.get("not", {}).get("required", ()))
    return names


def only_required(schema: Schema) -> Schema:
    """An object schema that drops its optional properties (a branch's required ones stay)."""
    keep = set(schema.get("required", ())) | _branch_required(schema)
    properties = schema.get("properties", {})
    return {**schema, "properties": {n: s for n, s in properties.items() if n in keep}}


def every_property(schema: Schema) -> Schema:
    """An object schema that requires every property no branch forbids."""
    free = [n for n in schema.get("properties", {}) if n not in _branch_forbidden(schema)]
    return {**schema, "required": list(dict.fromkeys([*schema.get("required", ()), *free]))}


def dotted(path: Path) -> str:
    """``messages[0].role`` for an instance path; ``(body)`` for the body itself."""
    text = json_path(path)[1:].lstrip(".")
    return text or "(body)"


def _pooled_site(path: Path, sub: Schema) -> bool:
    """A site whose value comes from a resource pool, so it has no edges of its own."""
    names = [token for token in path if isinstance(token, str)]
    if not names or not any(name in RESOURCE_FIELDS for name in names):
        return False
    return not (path[-1] in RESOURCE_FIELDS and "array" in types_of(sub))


# -- boundaries -------------------------------------------------------------------------------


def boundaries(schema: Schema) -> list[tuple[str, Schema]]:
    """(event label, schema whose every instance is on that edge) for one request schema."""
    found: list[tuple[str, Schema]] = [
        ("object_only_required: (every object)", each_object(schema, only_required)),
        ("object_required_and_optional: (every object)", each_object(schema, every_property)),
    ]
    for path, sub in sites(schema):
        if _pooled_site(path, sub):
            continue
        for scenario, overrides in _edges(sub):
            edge = focus(schema, path, functools.partial(_overridden, overrides=overrides))
            found.append((f"{scenario}: {dotted(path)}", edge))
    return found


def _overridden(schema: Schema, overrides: Schema) -> Schema:
    return {**schema, **overrides}


def _edges(sub: Schema) -> Iterator[tuple[str, Schema]]:
    """(scenario, keywords that pin the subschema to that edge)."""
    types = types_of(sub)
    if "null" in types and len(types) > 1:
        yield "null_value", {"type": "null"}
    plain = not any(key in sub for key in ("enum", "const", "format", "pattern"))
    if "string" in types and plain:
        yield "minimum_length_string", {"type": "string", "maxLength": sub.get("minLength", 0)}
        if "maxLength" in sub:
            yield "maximum_length_string", {"type": "string", "minLength": sub["maxLength"]}
    kind = next((k for k in ("integer", "number") if k in types), None)
    if kind and plain:
        if "minimum" in sub:
            yield "minimum_value", {"type": kind, "const": sub["minimum"]}
        if "maximum" in sub:
            yield "maximum_value", {"type": kind, "const": sub["maximum"]}
    if "array" in types:
        yield "minimum_items_array", {"type": "array", "maxItems": sub.get("minItems", 0)}
        if "maxItems" in sub:
            yield "maximum_items_array", {"type": "array", "minItems": sub["maxItems"]}


# -- mutations: bodies that break exactly one rule --------------------------------------------


def conditionals(sub: Schema) -> Iterator[tuple[Schema, Callable[[Schema], Schema]]]:
    """Each if/then of an object, with a function that removes it from the object's schema."""
    if "if" in sub:
        yield sub, lambda s: {k: v for k, v in s.items() if k not in ("if", "then", "else")}
    for index, part in enumerate(sub.get("allOf", ())):
        if "if" in part:

            def without(s: Schema, index: int = index) -> Schema:
                return {**s, "allOf": [p for i, p in enumerate(s["allOf"]) if i != index]}

            yield part, without


def ready_for_removal(sub: Schema, name: str) -> Schema:
    """``sub`` with what an ``if`` on ``name`` would demand once ``name`` is gone already there.

    An ``if`` about a property holds vacuously when the property is missing, so removing a
    part's ``type`` also asks for the ``then`` of every such ``if``; bodies that already satisfy
    them report the one missing property only.
    """
    demanded: Schema | bool | None = {}
    for conditional, _ in conditionals(sub):
        condition = conditional["if"]
        if name in condition.get("properties", {}) and name not in condition.get("required", ()):
            demanded = conjoin(demanded or {}, conditional.get("then", {}))
    merged = conjoin(sub, demanded) if isinstance(demanded, dict) and demanded else None
    return merged if isinstance(merged, dict) else sub


@dataclass(frozen=True, slots=True)
class Value:
    """How to draw a replacement value: ``kind`` with its ``arg``.

    absent (remove the property), wrong_type (any JSON type not in ``arg``), text (exactly
    ``arg`` characters), bad_format (a string failing format ``arg``), not_in (a string not in
    the options ``arg``), beyond (a number past ``arg`` = (bound, direction, inclusive, integer)),
    items (``arg`` = (item schema, count) valid items), instance (a valid value of schema ``arg``).
    """

    kind: str
    arg: Any = None


ABSENT = Value("absent")


@dataclass(frozen=True, slots=True)
class Mutation:
    """A valid body of ``base`` whose object at ``anchor`` gets ``changes``: one rule breaks.

    The server then reports an issue with ``code`` at ``path`` (the contract's names).
    """

    rule: str
    path: Path
    code: str
    base: Schema
    anchor: Path
    changes: dict[str | int, Value]


def mutations(schema: Schema, query: bool) -> Iterator[Mutation]:
    """Every single-rule violation of ``schema`` that the server reports as a 400 issue.

    ``query``: the body is a query string, which carries only strings.
    """
    for path, sub in sites(schema):
        present = focus(schema, path, _same)
        if path:  # a body that is not an object is a plain 400, not an issue
            yield from _value_mutations(path, sub, present, query)
        yield from _object_mutations(schema, path, sub, present)


def _same(schema: Schema) -> Schema:
    return schema


def _value_mutations(path: Path, sub: Schema, base: Schema, query: bool) -> Iterator[Mutation]:
    types = types_of(sub)

    def change(rule: str, code: str, value: Value) -> Mutation:
        return Mutation(rule, path, code, base, path[:-1], {path[-1]: value})

    if types and not query:
        allowed = ("integer", *types) if "number" in types else tuple(types)
        yield change("incorrect_type", "invalid_type", Value("wrong_type", allowed))
    if "string" in types and not any(key in sub for key in ("enum", "const", "format")):
        if "maxLength" in sub:
            yield change("string_above_max_length", "too_big", Value("text", sub["maxLength"] + 1))
        if sub.get("minLength", 0) > 0:
            yield change(
                "string_below_min_length", "too_small", Value("text", sub["minLength"] - 1)
            )
    if "format" in sub:
        yield change("invalid_format", "invalid_string", Value("bad_format", sub["format"]))
    options = [sub["const"]] if "const" in sub else sub.get("enum")
    if options is not None:
        yield change("invalid_enum_value", "invalid_enum_value", Value("not_in", tuple(options)))
    if query:
        return
    kind = next((k for k in ("integer", "number") if k in types), None)
    for key, rule, code, direction in (
        ("maximum", "value_above_maximum", "too_big", 1),
        ("exclusiveMaximum", "value_above_maximum", "too_big", 1),
        ("minimum", "value_below_minimum", "too_small", -1),
        ("exclusiveMinimum", "value_below_minimum", "too_small", -1),
    ):
        if kind and key in sub:
            arg = (sub[key], direction, not key.startswith("exclusive"), kind == "integer")
            yield change(rule, code, Value("beyond", arg))
    if "array" in types:
        for rule, code, size in (
            ("array_above_max_items", "too_big", sub.get("maxItems", -2) + 1),
            ("array_below_min_items", "too_small", sub.get("minItems", 0) - 1),
        ):
            if size >= 0:
                yield change(rule, code, Value("items", (sub.get("items", True), size)))


def _object_mutations(schema: Schema, path: Path, sub: Schema, base: Schema) -> Iterator[Mutation]:
    def missing(name: str, base: Schema) -> Mutation:
        rule = "object_missing_required_property"
        return Mutation(rule, (*path, name), "invalid_type", base, path, {name: ABSENT})

    for name in sub.get("required", ()):
        ready = functools.partial(ready_for_removal, name=name)
        yield missing(name, focus(schema, path, ready))
    for conditional, without in conditionals(sub):
        forced = functools.partial(_forced, conditional=conditional, without=without)
        for name in conditional.get("then", {}).get("required", ()):
            yield missing(name, focus(schema, path, forced))
    branches = sub.get("oneOf")
    if branches and all(branch.get("required") for branch in branches):
        names = [name for branch in branches for name in branch["required"]]
        none: dict[str | int, Value] = dict.fromkeys(names, ABSENT)
        yield Mutation("union_no_branch", path, "invalid_union", base, path, none)
        properties = sub.get("properties", {})
        every: dict[str | int, Value] = {
            name: Value("instance", properties.get(name, True)) for name in names
        }
        yield Mutation("union_every_branch", path, "invalid_union", base, path, every)


def _forced(schema: Schema, conditional: Schema, without: Callable[[Schema], Schema]) -> Schema:
    """``schema`` with one ``if`` of it made true and its ``then`` applied."""
    merged = conjoin(conjoin(without(schema), conditional["if"]) or {}, conditional.get("then", {}))
    return merged if isinstance(merged, dict) else schema
