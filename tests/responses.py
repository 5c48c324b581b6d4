"""The response type of the tests' clients: httpx's, or httpx2's once an SDK brings httpx2.

Starlette's TestClient builds on httpx2 when it is installed (the openai, anthropic and
google-genai SDKs depend on it), and on httpx otherwise; helpers accept either.
"""

from __future__ import annotations

import httpx
import httpx2

__all__ = ["Response"]

Response = httpx.Response | httpx2.Response
