"""Deterministic example values for a JSON Schema: the structured ``output`` of a reply.

Hypothesis is an optional dependency and generates far more than a reply needs, so the server
builds one plain instance per request from a seeded ``random.Random``; the caller validates it.
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

__all__ = ["sample"]

_WORDS = (
    "alpha",
    "beacon",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "island",
    "juniper",
    "kestrel",
    "lumen",
    "meadow",
    "nimbus",
    "orchid",
    "prairie",
    "quartz",
    "river",
    "summit",
    "tundra",
)
_MAX_DEPTH = 8


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "date-time":
        return f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z"
    if fmt == "date":
        return f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if fmt == "email":
        return f"{rng.choice(_WORDS)}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{rng.choice(_WORDS)}"
    low = int(schema.get("minLength", 1))
    high = int(schema.get("maxLength", max(low, 24)))
    words: list[str] = []
    while len(" ".join(words)) < low or not words:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[: max(high, 0)].ljust(low, "x")


def _number(schema: dict[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
    step = schema.get("multipleOf")
    if integer or step:
        unit = step or 1
        first, last = math.ceil(low / unit), math.floor(high / unit)
        if "exclusiveMinimum" in schema and first * unit <= schema["exclusiveMinimum"]:
            first += 1
        if "exclusiveMaximum" in schema and last * unit >= schema["exclusiveMaximum"]:
            last -= 1
        value = rng.randint(first, max(first, last)) * unit
        # round: 3 * 0.1 is 0.30000000000000004, which is not a multiple of 0.1 to a validator
        return int(value) if integer else round(value, 12)
    value = min(max(round(rng.uniform(low, high), 2), low), high)
    if value in (schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")):
        value = (low + high) / 2  # rounding landed on an excluded bound; the middle is inside
    return float(value)


def _resolve(schema: dict[str, Any], root: Any) -> Any:
    """A local ``$ref`` ("#/$defs/x") resolved against the requested schema; others stay."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return schema
    node: Any = root
    for token in filter(None, ref[1:].split("/")):
        token = token.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, TypeError, ValueError):
            return {}
    return node


def _array(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> list[Any]:
    low = int(schema.get("minItems", 1))
    count = min(max(low, 2), int(schema.get("maxItems", max(low, 2))))
    items = schema.get("items", {})
    values: list[Any] = []
    for _ in range(count * 8 if schema.get("uniqueItems") else count):
        value = _value(items, rng, root, depth + 1)
        if not (schema.get("uniqueItems") and value in values):
            values.append(value)
        if len(values) == count:
            break
    return values


def _value(schema: Any, rng: random.Random, root: Any, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return rng.choice(_WORDS)
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return rng.choice(_WORDS)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if isinstance(schema.get(combinator), list) and schema[combinator]:
            return _value(schema[combinator][0], rng, root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(_resolve(part, root))
        return _value(merged, rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            properties = {}
        value = {name: _value(sub, rng, root, depth + 1) for name, sub in properties.items()}
        extra = schema.get("additionalProperties", {})
        for name in schema.get("required", ()):
            if isinstance(name, str) and name not in value:
                value[name] = _value(extra if isinstance(extra, dict) else {}, rng, root, depth + 1)
        return value
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind == "string":
        return _string(schema, rng)
    if kind in ("integer", "number"):
        return _number(schema, rng, kind == "integer")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(_WORDS)


def sample(schema: Any, seed: int) -> Any:
    """One instance of ``schema``, the same for the same schema and seed (the caller validates)."""
    return _value(schema, random.Random(seed), schema, 0)
