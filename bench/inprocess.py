"""CPU per request of each app called directly (no HTTP, no sockets): the figure noise spares."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import COMPLETIONS, INVALID_BODY, VALID_BODY

ROOT = Path(__file__).resolve().parent.parent
App = Any


# The same prompts through both routes (issue 14: an OpenAI chat completion may cost no more than
# an assistant completion). A reply's length is drawn from a hash of its route and prompt, one to
# four sentences, so one fixed prompt compares a short reply with a long one by chance (the first
# measurement did: 17 characters against 119). Each case cycles through the same 32 prompts.
OPENAI_CHAT = "/openai/eu/v1/chat/completions"
_SYSTEM = "You answer in one short paragraph."
_PROMPTS = [f"Summarise the quarterly report, section {n}, please." for n in range(32)]
ASSISTANT_MIX = [
    json.dumps(
        {
            "assistant": {"name": "Bench", "instructions": _SYSTEM},
            "messages": [{"role": "user", "content": prompt}],
        },
        separators=(",", ":"),
    ).encode()
    for prompt in _PROMPTS
]
OPENAI_MIX = [
    json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": prompt},
            ],
        },
        separators=(",", ":"),
    ).encode()
    for prompt in _PROMPTS
]


def _scope(body: bytes, path: str = COMPLETIONS) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"authorization", b"Bearer sk-ld-mock"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def _requests(
    app: App, body: bytes | Sequence[bytes], count: int, path: str = COMPLETIONS
) -> int:
    """Send ``count`` requests, cycling through ``body`` when it is a list of bodies."""
    bodies = [body] if isinstance(body, bytes) else list(body)
    status = 0
    for number in range(count):
        sent = bodies[number % len(bodies)]
        delivered = False

        async def receive(sent: bytes = sent) -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": sent, "more_body": False}
            await asyncio.Event().wait()  # connected until the answer is sent
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(_scope(sent, path), receive, send)
    return status


CHUNK = 250  # requests per turn: ~10 ms, so every case sees the same moments of the machine


def measure(count: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per request of each (app, body) over turns of ``CHUNK`` requests.

    The cases take turns a chunk at a time (``count * rounds`` requests each), starting with a
    different case every turn: whatever else the machine does hits them alike, and the median
    drops the turns an interrupt landed in. Whole rounds of 5,000 a case swung the limiter's
    on/off difference (~8%) between -17% and +15%.
    """
    sys.path.insert(0, str(ROOT))
    import ceiling

    from mockserver import create_app
    from mockserver.config import Settings

    huge = Settings(default_rpm=10**9, default_tpm=10**13)
    cases: dict[str, tuple[App, bytes | list[bytes], int, str]] = {
        "ceiling": (ceiling.app, VALID_BODY, 200, COMPLETIONS),
        "valid": (create_app(huge), VALID_BODY, 200, COMPLETIONS),
        "invalid": (create_app(huge), INVALID_BODY, 400, COMPLETIONS),
        "valid_no_limits": (create_app(Settings(rate_limits=False)), VALID_BODY, 200, COMPLETIONS),
        "assistant_mix": (create_app(huge), ASSISTANT_MIX, 200, COMPLETIONS),
        "openai_chat": (create_app(huge), OPENAI_MIX, 200, OPENAI_CHAT),
    }
    loop = asyncio.new_event_loop()
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for name, (app, body, expected, path) in cases.items():
        status = loop.run_until_complete(_requests(app, body, 200, path))  # warm-up
        if status != expected:
            raise RuntimeError(f"{name}: answered {status}, expected {expected}")
    names = list(cases)
    for turn in range(max(1, count * rounds // CHUNK)):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            app, body, _, path = cases[name]
            began = time.process_time()
            loop.run_until_complete(_requests(app, body, CHUNK, path))
            figures[name].append((time.process_time() - began) / CHUNK * 1e6)
    loop.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Print the medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="Per case and round (5000).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds (3).")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.requests, args.rounds)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
