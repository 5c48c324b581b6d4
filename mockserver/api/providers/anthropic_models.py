"""GET /anthropic/{region}/v1/models: the catalogue's Claude models as Anthropic lists them."""

from __future__ import annotations

from typing import Any

from mockserver.api.outcome import Call, Reply
from mockserver.api.providers.family import display_name, family_models
from mockserver.clock import isoformat
from mockserver.state import MockState

__all__ = ["models", "models_body"]


def models_body(state: MockState) -> dict[str, Any]:
    """One page of ModelInfo: every Claude model of the catalogue, newest first as Anthropic."""
    data = [
        {
            "type": "model",
            "id": model.id,
            "display_name": display_name(model.id),
            "created_at": isoformat(model.created / 1000),
            "lifecycle": "active",
        }
        for model in sorted(family_models(state, "anthropic"), key=lambda m: -m.created)
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def models(state: MockState, call: Call) -> Reply:
    """The models endpoint."""
    return Reply(200, models_body(state))
