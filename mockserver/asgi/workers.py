"""The app factory of ``serve --workers N``: each worker builds its app from the settings."""

from __future__ import annotations

import base64
import os
import pickle

from starlette.applications import Starlette

from mockserver.asgi.app import create_app
from mockserver.config import Settings

__all__ = ["app", "hand_over"]

# The parent's merged settings (CLI, environment, file), for the workers it spawns.
_VARIABLE = "LANGDOCK_MOCK__WORKER_SETTINGS"


def hand_over(settings: Settings) -> None:
    """Leave the settings where the worker processes (spawned with this environment) find them."""
    os.environ[_VARIABLE] = base64.b64encode(pickle.dumps(settings)).decode("ascii")


def app() -> Starlette:
    """One worker's app, from the settings ``hand_over`` left."""
    # Reason: written by our own parent process just above, never by a user.
    settings: Settings = pickle.loads(base64.b64decode(os.environ[_VARIABLE]))
    return create_app(settings)
