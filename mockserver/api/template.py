"""JSON documents of a fixed shape: orjson encodes the shape once, each use only its values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["JsonTemplate"]

_dumps = orjson.dumps


class JsonTemplate:
    """A JSON document whose shape is fixed and whose named values change per use.

    ``shape`` is the document with a placeholder string ``"{name}"`` where each value goes (dict
    order is kept, so the encoding is orjson's own). The encoded shape becomes a bytes format
    once; ``fill`` puts in ``orjson.dumps`` of each value, so the result is byte for byte
    ``orjson.dumps`` of the filled document, without building it; ``integers`` go in by ``%d``;
    ``inside`` names stand inside a string (``"chatcmpl-{id}"``) and go in as the string's
    encoded characters, without quotes.
    ``fill_encoded`` takes the values already encoded (a caller that knows some as constants):
    without ``fill``'s loop, the OpenAI chat completion body costs half of building and encoding
    its dict (bench/README.md). ``bind`` fixes some values for good: a template with fewer
    places to fill, each of which costs a ``%`` substitution.
    """

    __slots__ = ("_format", "_kinds", "_parts", "names")

    def __init__(
        self,
        shape: Mapping[str, Any],
        names: tuple[str, ...],
        *,
        integers: frozenset[str] = frozenset(),
        inside: frozenset[str] = frozenset(),
    ) -> None:
        rest = _dumps(shape)
        parts: list[bytes] = []
        for name in names:
            marker = b"{" + name.encode() + b"}" if name in inside else _dumps("{" + name + "}")
            before, found, rest = rest.partition(marker)
            if not found or marker in rest:
                raise ValueError(f"placeholder {{{name}}} must occur once, in the order named")
            parts.append(before)
        parts.append(rest)
        kinds = tuple("d" if n in integers else "s" if n in inside else "b" for n in names)
        self._setup(tuple(parts), names, kinds)

    def _setup(
        self, parts: tuple[bytes, ...], names: tuple[str, ...], kinds: tuple[str, ...]
    ) -> None:
        # The literal parts between the places, and each place's kind: b(ytes), d(igits) or
        # s(tring contents); the format escapes the parts' own percent signs.
        self._parts, self.names, self._kinds = parts, names, kinds
        escaped = [part.replace(b"%", b"%%") for part in parts]
        specs = [b"%d" if kind == "d" else b"%b" for kind in kinds]
        pairs = zip(escaped[:-1], specs, strict=True)
        self._format = b"".join([p for pair in pairs for p in pair]) + escaped[-1]

    def fill(self, *values: Any) -> bytes:
        """The document with ``values`` in the places of ``names``, in that order, encoded."""
        if len(values) != len(self.names):
            raise TypeError(f"fill takes {len(self.names)} values, got {len(values)}")
        return self._format % tuple(
            [
                value if kind == "d" else _literal(value, kind)
                for value, kind in zip(values, self._kinds, strict=True)
            ]
        )

    def fill_encoded(self, values: tuple[bytes | int, ...]) -> bytes:
        """``fill`` of values already encoded: ``orjson.dumps`` of each, ``integers`` as they are,
        ``inside`` ones as the characters between the quotes of their ``orjson.dumps``.

        Unchecked (one ``%`` and nothing else): a value of the wrong kind or count is a
        ``TypeError``, a hand-encoded one is the caller's to get right.
        """
        return self._format % values

    def bind(self, **values: Any) -> JsonTemplate:
        """This template with the named values fixed (given as to ``fill``): the rest to fill."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ValueError(f"no placeholders named {sorted(unknown)}")
        parts, names, kinds = [self._parts[0]], [], []
        for name, kind, after in zip(self.names, self._kinds, self._parts[1:], strict=True):
            if name in values:
                parts[-1] += _literal(values[name], kind) + after
            else:
                names.append(name)
                kinds.append(kind)
                parts.append(after)
        bound = object.__new__(JsonTemplate)
        bound._setup(tuple(parts), tuple(names), tuple(kinds))
        return bound


def _literal(value: Any, kind: str) -> bytes:
    """``value`` as it stands in the document: inside a string, without the quotes."""
    encoded = _dumps(value)
    return encoded[1:-1] if kind == "s" else encoded
