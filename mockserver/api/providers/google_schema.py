"""Google's response Schema (an OpenAPI 3.0 subset, upper-case types) as a JSON Schema (pure).

``generationConfig.responseSchema`` is Google's own Schema object; the structured-output sampler
and the validator that checks its answer speak JSON Schema. ``responseJsonSchema`` is JSON Schema
already and is used as it is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["response_json_schema", "to_json_schema"]

# Keywords whose meaning is the same in both (the counts may arrive as int64 strings).
_KEPT = ("title", "description", "pattern", "minimum", "maximum", "required")
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
# Formats JSON Schema validates the same way; int32, float, double and enum only restate the type.
_FORMATS = frozenset({"date-time", "date", "time", "email", "uuid", "uri"})


def to_json_schema(schema: Any) -> Any:
    """The JSON Schema that accepts what ``schema`` (a Google Schema object) describes."""
    if not isinstance(schema, dict):
        return {}
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, str) and kind.upper() not in ("", "TYPE_UNSPECIFIED"):
        lowered = kind.lower()
        out["type"] = [lowered, "null"] if schema.get("nullable") is True else lowered
    for key in _KEPT:
        if key in schema:
            out[key] = schema[key]
    for key in _COUNTS:
        value = schema.get(key)
        if isinstance(value, int | str) and str(value).isdigit():
            out[key] = int(value)
    if schema.get("format") in _FORMATS:
        out["format"] = schema["format"]
    if isinstance(schema.get("enum"), list):
        out["enum"] = list(schema["enum"])
        if schema.get("nullable") is True:
            out["enum"].append(None)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {
            name: to_json_schema(sub) for name, sub in schema["properties"].items()
        }
    if "items" in schema:
        out["items"] = to_json_schema(schema["items"])
    if isinstance(schema.get("anyOf"), list):
        out["anyOf"] = [to_json_schema(sub) for sub in schema["anyOf"]]
    return out


def response_json_schema(config: dict[str, Any]) -> Any | None:
    """The JSON Schema a reply must follow under ``generationConfig``, or None for free text.

    Only ``responseMimeType: application/json`` asks for JSON (Google ignores a schema without
    it); ``responseJsonSchema`` wins over ``responseSchema``; JSON without either is any object.
    """
    if config.get("responseMimeType") != "application/json":
        return None
    if "responseJsonSchema" in config:
        return config["responseJsonSchema"]
    if "responseSchema" in config:
        return to_json_schema(config["responseSchema"])
    return {"type": "object"}
