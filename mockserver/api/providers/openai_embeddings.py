"""POST /openai/{region}/v1/embeddings: deterministic unit vectors of text-embedding-ada-002."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

import orjson

from mockserver.api.completion import charge
from mockserver.api.outcome import Call, Reply
from mockserver.api.providers.family import prompt_tokens
from mockserver.errors import FieldError, NotFound, ValidationFailed
from mockserver.state import MockState

__all__ = ["EMBEDDING_MODELS", "embeddings", "vector"]

EMBEDDING_MODELS = {"text-embedding-ada-002": 1536}
"""The embedding models Langdock serves, with their vectors' dimension."""


def vector(seed: int, text: str | list[int], dimension: int) -> tuple[float, ...]:
    """A unit vector fixed by the seed and the input, each component exactly a float32.

    SHAKE-256 of (seed, input) gives a signed 16-bit number per component; the vector is
    normalised, then rounded to float32, so its ``float`` and ``base64`` forms are one vector.
    """
    material = orjson.dumps([seed, text])
    raw = hashlib.shake_256(material).digest(2 * dimension)
    numbers = struct.unpack(f"<{dimension}h", raw)
    norm = math.sqrt(sum(n * n for n in numbers)) or 1.0
    packed = struct.pack(f"<{dimension}f", *(n / norm for n in numbers))
    return struct.unpack(f"<{dimension}f", packed)


def _inputs(given: Any) -> list[str | list[int]]:
    # A string, a list of strings, a list of token ids, or a list of such lists.
    if isinstance(given, str):
        return [given]
    if given and all(isinstance(item, int) for item in given):
        return [given]
    return list(given)


def _count(state: MockState, inputs: list[str | list[int]]) -> int:
    texts = [item for item in inputs if isinstance(item, str)]
    ids = sum(len(item) for item in inputs if not isinstance(item, str))
    return prompt_tokens(state, "", texts) + ids


def embeddings(state: MockState, call: Call) -> Reply:
    """One vector per input, as floats or base64 little-endian float32; usage is the prompt."""
    body = call.body
    model = body["model"]
    dimension = EMBEDDING_MODELS.get(model)
    if dimension is None:
        raise NotFound(
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    if "dimensions" in body and body["dimensions"] != dimension:
        text = f"This model does not support specifying dimensions other than {dimension}."
        raise ValidationFailed((FieldError(("dimensions",), "custom", text),))
    inputs = _inputs(body["input"])
    tokens = _count(state, inputs)
    # Counted before the work: a refused request costs no vectors.
    headers = charge(state, call.principal.workspace, model, tokens, tokens, call.principal.key)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    seed = state.settings.seed
    for index, item in enumerate(inputs):
        values = vector(seed, item, dimension)
        embedding: Any = (
            base64.b64encode(struct.pack(f"<{dimension}f", *values)).decode()
            if as_base64
            else list(values)
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return Reply(
        200,
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        dict(headers),
    )
