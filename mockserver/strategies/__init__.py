"""Hypothesis strategies for request bodies: valid, on the edges, and breaking exactly one rule.

Everything is derived from the operation's schema in ``schemas/`` (all ``$ref``s inlined) for the
chosen contract profile, so the ``2026`` profile moves every boundary with the server. Leaves
(strings, numbers, formats) come from hypothesis-jsonschema's ``from_schema``; objects and arrays
are composed here with ``fixed_dictionaries`` and ``lists``, because hypothesis-jsonschema's own
object strategy relies on a private Hypothesis API that recent Hypothesis removed, and because
composing them lets ``oneOf``/``if``/``allOf`` be split into branches and shrink field by field.
Every example is checked with the server's own validator before it is handed out.

Fields that name a resource the server looks up (404 when unknown) draw from pools, see
``payloads``. Only this module imports Hypothesis; install the ``strategies`` extra to use it.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, cast

import jsonschema_rs
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis_jsonschema import from_schema

from mockserver.config import DEFAULT_ACTIONS, DEFAULT_MODELS
from mockserver.errors import SchemaError
from mockserver.schemas import load_bundle
from mockserver.strategies.edges import (
    COMBINATORS,
    RESOURCE_FIELDS,
    Mutation,
    Value,
    alternatives,
    boundaries,
    dotted,
    mutations,
    types_of,
)
from mockserver.validation import check

__all__ = [
    "DEFAULT_RESOURCES",
    "InvalidPayload",
    "boundary_payloads",
    "invalid_payloads",
    "payload_operations",
    "payloads",
]

Schema = dict[str, Any]
Path = tuple[str | int, ...]
Strategy = st.SearchStrategy[Any]

DEFAULT_RESOURCES: Mapping[str, tuple[str, ...]] = {
    "models": tuple(model.id for model in DEFAULT_MODELS),
    "actions": DEFAULT_ACTIONS,
    "attachments": (),
    "knowledgeFolders": (),
}
"""The pools ``resources`` is merged over: the embedded catalogue and actions, no attachments
and no knowledge folders."""

# Realistic text for fields whose name says what they hold (Faker, seeded, drawn from a pool).
_HINTS = {
    "name": "name",
    "label": "label",
    "description": "sentence",
    "instruction": "paragraph",
    "instructions": "paragraph",
    "content": "sentence",
    "text": "sentence",
    "conversationStarters": "question",
    "emoji": "emoji",
    "slug": "slug",
    "options": "word",
    "fileTypes": "extension",
    "url": "url",
}
_FORMATS = {"uuid": st.uuids().map(str)}
# Longer exact lengths are tiled from a short unit: Hypothesis draws at most 8 KiB of choices.
_TILE_FROM = 64
# Arrays without maxItems stay short: longer ones find nothing new and slow every example down.
_MAX_ITEMS = 3
# A JavaScript server reads JSON numbers as doubles: integers stay within its safe range.
_SAFE_INT = 2**53 - 1
_DELETE = object()


@dataclass(frozen=True, slots=True)
class InvalidPayload:
    """A request body that breaks exactly one rule, and how the server reports it."""

    body: dict[str, Any]
    status: int = 400
    _: KW_ONLY
    path: Path
    """The issue's ``path`` in the 400 body (a missing field's path ends with its name)."""
    code: str
    """The issue's ``code``: invalid_type, too_big, too_small, invalid_enum_value, ..."""
    rule: str
    """The broken rule, as a schemathesis-style scenario name (``string_above_max_length``)."""


def payload_operations(*, profile: str = "seed") -> tuple[str, ...]:
    """The operation ids the strategies cover: every one with a JSON body or query schema."""
    bundle = load_bundle(None, profile)
    return tuple(op.id for op in bundle.operations.values() if op.body_schema and not op.multipart)


def payloads(
    operation: str,
    *,
    profile: str = "seed",
    resources: Mapping[str, Sequence[str]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid request bodies (query parameters for GET operations) of ``operation``.

    ``resources`` maps a resource kind to the values the server knows, merged over
    ``DEFAULT_RESOURCES``: ``models`` (the embedded catalogue), ``actions`` (the embedded default
    actions), ``attachments`` and ``knowledgeFolders`` (none: arrays of their ids stay empty),
    ``assistants`` and
    ``agents`` (not pooled: ids are drawn from the schema and the server answers 404 unless you
    pass ids that exist). A pooled single id (``assistantId``) is one of the pool's values; an
    array of ids (``attachments``) holds only pool values, so it is empty for an empty pool.
    The strategies are built once per operation, profile and ``resources``: keep the ids the
    same from example to example (``MockServer.isolated()`` does, ids being seeded).
    """
    return st.deferred(lambda: _plan(operation, profile, _pools(resources)).valid)


def boundary_payloads(
    operation: str,
    *,
    profile: str = "seed",
    resources: Mapping[str, Sequence[str]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies exactly on the edges, each labelled with ``hypothesis.event()``.

    Every string at its minimum and maximum length, numbers at their bounds, arrays at their
    minimum and maximum size, nullable fields as null, only the required fields, every field.
    Fields drawn from ``resources`` (see ``payloads``) keep their pooled values.
    """
    return st.deferred(lambda: _plan(operation, profile, _pools(resources)).boundary)


def invalid_payloads(
    operation: str,
    *,
    profile: str = "seed",
    resources: Mapping[str, Sequence[str]] | None = None,
) -> st.SearchStrategy[InvalidPayload]:
    """Bodies that break exactly one rule, with the status, path and code the server answers.

    One past each length and size limit, numbers out of range, wrong types, bad enum values,
    bad formats (uuids), missing required fields (also the ones an ``if``/``then`` requires),
    and both or neither branch of a ``oneOf``. Every issue the server reports for such a body is
    at ``path``, and one of them has ``code``. Labelled with ``hypothesis.event()`` like
    ``boundary_payloads``.
    """
    return st.deferred(lambda: _plan(operation, profile, _pools(resources)).invalid)


# -- resource pools ---------------------------------------------------------------------------

Pools = tuple[tuple[str, tuple[str, ...]], ...]


def _pools(resources: Mapping[str, Sequence[str]] | None) -> Pools:
    merged: dict[str, tuple[str, ...]] = dict(DEFAULT_RESOURCES)
    kinds = set(RESOURCE_FIELDS.values())
    for kind, values in (resources or {}).items():
        if kind not in kinds:
            raise InvalidArgument(f"resources: unknown kind {kind!r}; use {sorted(kinds)}")
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"resources[{kind!r}] must be a sequence of strings")
        merged[kind] = tuple(values)
    return tuple(sorted(merged.items()))


def _fitting(schema: Schema, values: tuple[str, ...]) -> list[str]:
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    return [value for value in values if validator.is_valid(value)]


# -- compiling a schema to a strategy ---------------------------------------------------------


@functools.cache
def _leaf(schema_json: str) -> Strategy:
    return cast(Strategy, from_schema(json.loads(schema_json), custom_formats=_FORMATS))


@functools.cache
def _texts(kind: str) -> tuple[str, ...]:
    from faker import Faker  # deferred: Faker takes a while to load its locales

    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(5)
    make: dict[str, Callable[[], str]] = {
        "name": lambda: fake.catch_phrase().title(),
        "label": lambda: fake.word().title(),
        "sentence": fake.sentence,
        "paragraph": lambda: fake.paragraph(nb_sentences=5),
        "question": lambda: fake.sentence().rstrip(".") + "?",
        "emoji": fake.emoji,
        "slug": fake.slug,
        "word": fake.word,
        "extension": fake.file_extension,
        "url": fake.url,
    }
    return tuple(make[kind]() for _ in range(64))


def _fit(text: str, low: int, high: int | None) -> str:
    """``text`` cut to ``high`` characters, or repeated up to ``low``."""
    if high is not None:
        text = text[:high]
    if len(text) < low:
        text = (text or "x") * (low // max(len(text), 1) + 1)
        text = text[:low]
    return text


def _exact_text(length: int) -> st.SearchStrategy[str]:
    if length <= _TILE_FROM:
        return st.text(min_size=length, max_size=length)
    return st.text(min_size=1, max_size=8).map(lambda unit: _fit(unit, length, length))


@functools.cache
def _json_values() -> Strategy:
    scalars = st.none() | st.booleans() | st.integers(-_SAFE_INT, _SAFE_INT) | st.text(max_size=12)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


@functools.cache
def _output_schemas() -> Strategy:
    """Small JSON Schemas a structured-output request could carry."""
    leaf = st.sampled_from(
        [
            {"type": "string"},
            {"type": "integer", "minimum": 0, "maximum": 100},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "string", "enum": ["low", "medium", "high"]},
            {"type": "string", "format": "uuid"},
        ]
    )
    names = st.sampled_from(["title", "summary", "score", "tags", "language", "sentiment"])
    objects = st.dictionaries(names, leaf, min_size=1, max_size=4).map(
        lambda properties: {
            "type": "object",
            "properties": properties,
            "required": sorted(properties),
        }
    )
    return st.one_of(objects, leaf)


class _Compiler:
    """Turns a dereferenced schema into a strategy; resource fields draw from the pools."""

    def __init__(self, pools: Pools) -> None:
        self.pools = dict(pools)
        # By identity: the edge and mutation schemas share every untouched subschema with the
        # operation's schema, so they share its strategies too (the schema is kept alive here).
        self._memo: dict[tuple[int, str | None], tuple[Schema | bool, Strategy]] = {}

    def __call__(self, schema: Schema | bool, field: str | None = None) -> Strategy:
        key = (id(schema), field)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = (schema, self._compile(schema, field))
        return found[1]

    def _compile(self, schema: Schema | bool, field: str | None) -> Strategy:
        if schema is True:
            return _json_values()
        if schema is False:
            return st.nothing()
        pooled = self._pooled(schema, field)
        if pooled is not None:
            return pooled
        if any(key in schema for key in COMBINATORS):
            return st.one_of([self(alt, field) for alt in alternatives(schema)])
        if "not" in schema:
            negated = jsonschema_rs.validator_for(schema["not"])
            rest = {k: v for k, v in schema.items() if k != "not"}
            return self(rest, field).filter(lambda value: not negated.is_valid(value))
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        types = types_of(schema)
        if len(types) > 1:
            return st.one_of([self({**schema, "type": kind}, field) for kind in types])
        kind = types[0] if types else None
        if kind == "object":
            return self._object(schema, field)
        if kind == "array":
            items = schema.get("items", True)
            return st.lists(
                self(items, field),
                min_size=schema.get("minItems", 0),
                max_size=schema.get("maxItems", max(schema.get("minItems", 0), _MAX_ITEMS)),
                unique_by=_canonical if schema.get("uniqueItems") else None,
            )
        if kind == "string":
            return self._string(schema, field)
        if kind == "integer":
            low = max(schema.get("minimum", -_SAFE_INT), -_SAFE_INT)
            schema = {
                **schema,
                "minimum": low,
                "maximum": min(schema.get("maximum", _SAFE_INT), _SAFE_INT),
            }
        if kind is None:
            return _json_values()
        return _leaf(json.dumps(schema, sort_keys=True))

    def _pooled(self, schema: Schema, field: str | None) -> Strategy | None:
        kind = RESOURCE_FIELDS.get(field or "")
        pool = self.pools.get(kind) if kind else None
        if pool is None:
            return None
        if types_of(schema) == ["array"]:
            fitting = _fitting(schema.get("items", {}), pool)
            low, high = schema.get("minItems", 0), schema.get("maxItems")
            if not fitting:
                # No ids to draw: an empty array, or, when one must be there, the schema's own
                # (only mutations require that; their bodies are rejected before any lookup).
                return st.just([]) if low == 0 else None
            high = high if high is not None else max(low, _MAX_ITEMS)
            return st.lists(st.sampled_from(fitting), min_size=low, max_size=high)
        if not pool:
            return None  # no such resource: a single id comes from the schema (the server 404s)
        fitting = _fitting(schema, pool)
        if not fitting:
            raise InvalidArgument(f"resources[{kind!r}]: no value is valid for {field!r}")
        return st.sampled_from(fitting)

    def _object(self, schema: Schema, field: str | None) -> Strategy:
        properties: dict[str, Schema | bool] = schema.get("properties", {})
        required = list(dict.fromkeys(schema.get("required", ())))
        if (
            "properties" not in schema
            and not required
            and schema.get("additionalProperties") is not False
        ):
            if field == "schema":
                return _output_schemas()
            values = schema.get("additionalProperties", True)
            # A map whose values have a schema (metadata: strings) draws values from it.
            drawn = self(values, None) if isinstance(values, dict) else _json_values()
            return st.dictionaries(st.text(max_size=8), drawn, max_size=3)
        return st.fixed_dictionaries(
            {name: self(properties.get(name, True), name) for name in required},
            optional={
                name: self(sub, name)
                for name, sub in properties.items()
                if name not in required and sub is not False
            },
        )

    def _string(self, schema: Schema, field: str | None) -> Strategy:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "format" in schema or "pattern" in schema:
            return _leaf(json.dumps(schema, sort_keys=True))
        if low > _TILE_FROM:
            generic: Strategy = _exact_text(low)
        else:
            generic = _leaf(json.dumps(schema, sort_keys=True))
        hint = _HINTS.get(field or "")
        if hint is None:
            return generic
        realistic = st.sampled_from(_texts(hint)).map(lambda text: _fit(text, low, high))
        return st.one_of(generic, realistic)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# -- invalid bodies ---------------------------------------------------------------------------


@functools.cache
def _wrong_values() -> dict[str, Strategy]:
    return {
        "string": st.text(max_size=8),
        "integer": st.integers(-1000, 1000),
        "number": st.floats(-1e6, 1e6).filter(lambda x: not x.is_integer()),
        "boolean": st.booleans(),
        "null": st.none(),
        "array": st.lists(st.integers(0, 9), max_size=2),
        "object": st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=2),
    }


def _bad_format(fmt: str) -> Strategy:
    if fmt != "uuid":
        return st.text(max_size=12)
    uuids = st.uuids().map(str)
    return st.one_of(
        uuids.map(lambda u: u[:-1]),
        uuids.map(lambda u: u[:-1] + "g"),
        uuids.map(lambda u: u.replace("-", "")),
        uuids.map(lambda u: "{" + u + "}"),
        st.text(max_size=12),
    )


def _beyond(bound: float, direction: int, inclusive: bool, integer: bool) -> Strategy:
    if integer:
        return st.integers(1 if inclusive else 0, 1000).map(lambda n: bound + direction * n)
    return st.floats(1e-3 if inclusive else 0.0, 1e6).map(lambda x: bound + direction * x)


def _not_in(options: tuple[Any, ...]) -> Strategy:
    variants = [v.swapcase() for v in options if isinstance(v, str)] or ["?"]
    value = st.one_of(st.sampled_from(variants), st.text(min_size=1, max_size=12))
    return value.filter(lambda v: v not in options)


def _value(value: Value) -> Strategy:
    """The strategy a mutation's ``Value`` describes (pools do not apply: 400 comes first)."""
    arg = value.arg
    if value.kind == "absent":
        return st.just(_DELETE)
    if value.kind == "wrong_type":
        return st.one_of([s for kind, s in _wrong_values().items() if kind not in arg])
    if value.kind == "text":
        return _exact_text(arg)
    if value.kind == "bad_format":
        return _bad_format(arg)
    if value.kind == "not_in":
        return _not_in(arg)
    if value.kind == "beyond":
        return _beyond(*arg)
    if value.kind == "items":
        items, size = arg
        return st.lists(_Compiler(())(items), min_size=size, max_size=size)
    return _Compiler(())(arg)  # "instance": any valid value of the schema


def _apply(body: Any, anchor: Path, changes: dict[str | int, Any]) -> Any:
    body = copy.deepcopy(body)
    target = body
    for token in anchor:
        target = target[token]
    for name, value in changes.items():
        if value is _DELETE:
            target.pop(name, None)
        else:
            target[name] = value
    return body


@st.composite
def _labelled(draw: st.DrawFn, strategy: Strategy, label: str) -> Any:
    # A composite, not .map(): an event() inside a map over fixed_dictionaries makes Hypothesis
    # discard about a third of the examples as invalid.
    value = draw(strategy)
    event(label)
    return value


# -- the plan of one operation ----------------------------------------------------------------


class _Plan:
    """The strategies of one operation, profile and pools, each built on first use."""

    def __init__(self, operation: str, profile: str, pools: Pools) -> None:
        try:
            bundle = load_bundle(None, profile)
        except SchemaError as exc:
            raise InvalidArgument(f"profile {profile!r}: {exc}") from None
        op = bundle.operations.get(operation)
        if op is None:
            known = ", ".join(payload_operations(profile=profile))
            raise InvalidArgument(f"unknown operation {operation!r}; known: {known}")
        if op.body_schema is None or op.multipart:
            raise InvalidArgument(f"operation {operation!r} has no JSON body or query schema")
        self.bundle = bundle
        self.name = op.body_schema
        self.schema = bundle.dereferenced(self.name)
        self.query = op.request is None
        self.compiler = _Compiler(pools)

    def _valid(self, body: Any) -> bool:
        verdict = check(self.bundle, self.name, body)
        return not verdict.errors and not verdict.warnings

    @functools.cached_property
    def valid(self) -> st.SearchStrategy[dict[str, Any]]:
        """Valid bodies."""
        return self.compiler(self.schema).filter(self._valid)

    @functools.cached_property
    def boundary(self) -> st.SearchStrategy[dict[str, Any]]:
        """Valid bodies on the edges, labelled."""
        edges = boundaries(self.schema)
        return st.one_of(
            [_labelled(self.compiler(edge).filter(self._valid), label) for label, edge in edges]
        )

    @functools.cached_property
    def invalid(self) -> st.SearchStrategy[InvalidPayload]:
        """Bodies breaking one rule, labelled."""
        found = mutations(self.schema, self.query)
        return st.one_of([_invalid(self, mutation) for mutation in found])


# Bounded: resources that change from example to example would otherwise build plans forever.
@functools.lru_cache(maxsize=64)
def _plan(operation: str, profile: str, pools: Pools) -> _Plan:
    return _Plan(operation, profile, pools)


def _invalid(plan: _Plan, mutation: Mutation) -> st.SearchStrategy[InvalidPayload]:
    def payload(body: dict[str, Any]) -> InvalidPayload:
        return InvalidPayload(body, path=mutation.path, code=mutation.code, rule=mutation.rule)

    bodies = _mutated(plan.compiler, mutation).filter(lambda b: _breaks_only(plan, mutation, b))
    return _labelled(bodies.map(payload), f"{mutation.rule}: {dotted(mutation.path)}")


def _mutated(compiler: _Compiler, mutation: Mutation) -> Strategy:
    """Bodies of ``mutation.base`` with the mutation applied (not yet checked)."""
    changes = st.fixed_dictionaries({k: _value(v) for k, v in mutation.changes.items()})
    return st.tuples(compiler(mutation.base), changes).map(
        lambda pair: _apply(pair[0], mutation.anchor, pair[1])
    )


def _breaks_only(plan: _Plan, mutation: Mutation, body: Any) -> bool:
    """The server reports the mutation's issue for ``body``, and no issue at another path."""
    if plan.query and not all(isinstance(value, str) for value in body.values()):
        return False
    errors = check(plan.bundle, plan.name, body).errors
    return (
        bool(errors)
        and all(error.path == mutation.path for error in errors)
        and any(error.code == mutation.code for error in errors)
    )
