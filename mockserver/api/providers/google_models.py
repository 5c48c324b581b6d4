"""GET /google/{region}/v1beta/models: the catalogue's Gemini models as Google lists them."""

from __future__ import annotations

from typing import Any

from mockserver.api.outcome import Call, Reply
from mockserver.api.providers.family import display_name, family_models
from mockserver.state import MockState

__all__ = ["METHODS", "models", "models_body"]

METHODS = ["generateContent", "streamGenerateContent"]
"""What Langdock documents every model to support."""


def models_body(state: MockState) -> dict[str, Any]:
    """Every Gemini model of the catalogue in one page (no nextPageToken)."""
    return {
        "models": [
            {
                "name": f"models/{model.id}",
                "version": "001",
                "displayName": display_name(model.id),
                "description": f"{display_name(model.id)} (langdock-mock)",
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": METHODS,
            }
            for model in family_models(state, "google")
        ]
    }


def models(state: MockState, call: Call) -> Reply:
    """The models endpoint."""
    return Reply(200, models_body(state))
