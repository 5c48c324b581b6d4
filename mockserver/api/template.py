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
    ``orjson.dumps`` of the filled document, without building it; ``integers`` go in by ``%d``.
    ``fill_encoded`` takes the values already encoded (a caller that knows some as constants):
    without ``fill``'s loop, the OpenAI chat completion body costs half of building and encoding
    its dict (bench/README.md).
    """

    __slots__ = ("_format", "_plain", "names")

    def __init__(
        self,
        shape: Mapping[str, Any],
        names: tuple[str, ...],
        *,
        integers: frozenset[str] = frozenset(),
    ) -> None:
        rest = _dumps(shape).replace(b"%", b"%%")
        format_ = b""
        for name in names:
            marker = _dumps("{" + name + "}")
            before, found, rest = rest.partition(marker)
            if not found or marker in rest:
                raise ValueError(f"placeholder {{{name}}} must occur once, in the order named")
            format_ += before + (b"%d" if name in integers else b"%b")
        self._format = format_ + rest
        self._plain = tuple(name in integers for name in names)
        self.names = names

    def fill(self, *values: Any) -> bytes:
        """The document with ``values`` in the places of ``names``, in that order, encoded."""
        if len(values) != len(self.names):
            raise TypeError(f"fill takes {len(self.names)} values, got {len(values)}")
        return self._format % tuple(
            [
                value if plain else _dumps(value)
                for value, plain in zip(values, self._plain, strict=True)
            ]
        )

    def fill_encoded(self, values: tuple[bytes | int, ...]) -> bytes:
        """``fill`` of values already encoded: ``orjson.dumps`` of each, ``integers`` as they are.

        Unchecked (one ``%`` and nothing else): a value of the wrong kind or count is a
        ``TypeError``, a hand-encoded one is the caller's to get right.
        """
        return self._format % values
