"""langdock-mock: a contract-testing mock of the Langdock Assistant and Agents API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["MockServer", "Settings", "__version__", "create_app", "load_settings"]

if TYPE_CHECKING:
    from mockserver.asgi.app import create_app
    from mockserver.config import Settings, load_settings
    from mockserver.server import MockServer


def __getattr__(name: str) -> Any:
    # Lazy: `import mockserver` stays cheap for the pytest plugin and the CLI's --help.
    if name == "MockServer":
        from mockserver.server import MockServer

        return MockServer
    if name == "create_app":
        from mockserver.asgi.app import create_app

        return create_app
    if name in ("Settings", "load_settings"):
        from mockserver import config

        return getattr(config, name)
    raise AttributeError(name)
