"""pytest11 entry point of langdock-mock: fixtures for a live mock server (imports only pytest)."""

from __future__ import annotations
