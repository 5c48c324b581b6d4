"""Headless Chromium for the inspector's tests and screenshots: the system's, through Playwright.

Browser downloads are impossible here, so Playwright drives Debian's ``chromium``; each launch
gets a fresh profile folder and no network of its own (no updates, sync or QUIC).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

__all__ = ["ARGS", "INSTALL", "chromium_path", "launch"]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install chromium"


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def launch(executable: str, **context: object) -> Iterator[BrowserContext]:
    """A browser context of a fresh Chromium with a profile folder of its own, closed after."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="langdock-mock-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=ARGS,
            env={**os.environ, "HOME": profile},
            **context,  # type: ignore[arg-type]  # Reason: Playwright's keyword options.
        )
        try:
            yield browser
        finally:
            browser.close()
