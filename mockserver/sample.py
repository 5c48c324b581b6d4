"""Deterministic example values for a JSON Schema: the structured ``output`` of a reply.

Hypothesis is an optional dependency and generates far more than a reply needs, so the server
builds one plain instance per request from a seeded ``random.Random``; the caller validates it.
"""

from __future__ import annotations

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
    if integer:
        first, last = int(-(-low // 1)), int(high // 1)
        if "exclusiveMinimum" in schema and first == low:
            first += 1
        if "exclusiveMaximum" in schema and last == high:
            last -= 1
        return rng.randint(first, max(first, last))
    value = round(rng.uniform(low, high), 2)
    return float(min(max(value, low), high))


def _value(schema: Any, rng: random.Random, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return rng.choice(_WORDS)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if isinstance(schema.get(combinator), list) and schema[combinator]:
            return _value(schema[combinator][0], rng, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return _value(merged, rng, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            properties = {}
        return {name: _value(sub, rng, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        count = min(max(low, 2), int(schema.get("maxItems", max(low, 2))))
        return [_value(schema.get("items", {}), rng, depth + 1) for _ in range(count)]
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
    """One instance of ``schema``, the same for the same schema and seed."""
    return _value(schema, random.Random(seed), 0)
