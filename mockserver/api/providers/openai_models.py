"""GET /openai/{region}/v1/models: the catalogue's OpenAI models and the embedding model."""

from __future__ import annotations

from mockserver.api.outcome import Call, Reply
from mockserver.api.providers.family import family_models
from mockserver.api.providers.openai_embeddings import EMBEDDING_MODELS
from mockserver.state import MockState

__all__ = ["models"]

# When OpenAI released text-embedding-ada-002 (Unix seconds), its models list's ``created``.
_ADA_CREATED = 1_671_217_299


def models(state: MockState, call: Call) -> Reply:
    """OpenAI's list of models (``created`` in Unix seconds, as OpenAI sends it)."""
    data = [
        {"id": model.id, "object": "model", "created": model.created // 1000, "owned_by": "system"}
        for model in family_models(state, "openai")
    ]
    data += [
        {"id": name, "object": "model", "created": _ADA_CREATED, "owned_by": "system"}
        for name in EMBEDDING_MODELS
    ]
    return Reply(200, {"object": "list", "data": data})
