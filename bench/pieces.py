"""Instructions per call of each piece of a completion, by route: where two routes' costs differ.

``instructions.py`` counts whole requests; this counts the three pieces that differ between the
assistant and the OpenAI chat route (bench/README.md, issue 14), each called alone in a loop on
the app's own endpoint over the same 32 prompts as ``inprocess.py``: request validation
(``check``), the operation (``handler``) and the encoding of its reply (``renderer``). Like
``instructions.py``, each runs twice under callgrind (320 and 1,600 calls) and the difference is
divided by 1,280, so imports and start-up cancel out; ``none`` is the loop alone.

    python bench/pieces.py                      # every piece of both routes (~2 min)
    python bench/pieces.py handler renderer     # some pieces

Needs valgrind (``apt-get install valgrind``); without it, says so and exits 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUTES = {"assistant": "assistant.completions", "openai": "openai.chat"}
PIECES = ("none", "check", "handler", "renderer")
_SMALL, _LARGE = 320, 1600
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _run(route: str, piece: str, count: int) -> None:
    """The measured program: ``count`` calls of one route's piece."""
    sys.path.insert(0, str(HERE))
    import inprocess
    import orjson

    from mockserver import create_app
    from mockserver.api.outcome import Call
    from mockserver.asgi.endpoint import ApiEndpoint
    from mockserver.config import Settings
    from mockserver.validation import check

    create_app(Settings(default_rpm=10**9, default_tpm=10**13, seed=1))
    endpoint = next(
        found
        for found in gc.get_objects()
        if isinstance(found, ApiEndpoint) and found.operation.id == ROUTES[route]
    )
    state, operation = endpoint.state, endpoint.operation
    raw = inprocess.ASSISTANT_MIX if route == "assistant" else inprocess.OPENAI_MIX
    bodies = [orjson.loads(body) for body in raw]
    principal = next(iter(state.keys.values()))
    calls = [
        Call.make(operation=operation, principal=principal, body=body, params=endpoint.params)
        for body in bodies
    ]
    handler, renderer, bundle, schema = (
        endpoint.handler,
        endpoint.renderer,
        state.bundle,
        operation.body_schema,
    )
    assert renderer is not None
    assert schema is not None
    outcomes = [handler(state, call) for call in calls]
    for i in range(count):
        n = i & 31
        if piece == "check":
            check(bundle, schema, bodies[n])
        elif piece == "handler":
            handler(state, calls[n])
        elif piece == "renderer":
            renderer(state, calls[n], outcomes[n])  # type: ignore[arg-type]


def _collected(route: str, piece: str, count: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--run",
        route,
        piece,
        str(count),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, env=env, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {done.stderr[-500:]!r}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="*", help=f"of {', '.join(PIECES)} (default: all)")
    parser.add_argument(
        "--run", nargs=3, metavar=("ROUTE", "PIECE", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run:
        route, piece, count = args.run
        _run(route, piece, int(count))
        return 0
    unknown = [piece for piece in args.pieces if piece not in PIECES]
    if unknown:
        parser.error(f"unknown piece(s) {', '.join(unknown)}: choose from {', '.join(PIECES)}")
    if shutil.which("valgrind") is None:
        sys.stderr.write("valgrind is not installed: apt-get install valgrind\n")
        return 2
    for piece in args.pieces or PIECES:
        for route in ROUTES:
            small, large = (_collected(route, piece, n) for n in (_SMALL, _LARGE))
            per_call = (large - small) / (_LARGE - _SMALL)
            sys.stdout.write(f"{piece:9} {route:10} {per_call:10,.0f} instructions per call\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
