"""Instructions per request of each app in process, counted by valgrind: a figure noise cannot move.

Wall and CPU time on a shared 2-core machine move by 10% from run to run; callgrind counts
instructions, which repeat exactly for the same code and inputs. Each case runs twice in a fresh
interpreter, with ``--small`` and ``--large`` requests after the same warm-up; the difference
divided by the difference in requests is the cost of one request, start-up and imports cancelled
out. Used to decide each optimisation of the hot path (bench/README.md lists them).

    python bench/instructions.py              # every case (~2.5 min)
    python bench/instructions.py valid        # one case
    python bench/instructions.py valid redis  # the valid completion on each store
    python bench/instructions.py redis redis2 # one replica on Redis, and two of one namespace

Needs valgrind (``apt-get install valgrind``); without it, says so and exits 2. The ``redis``
case (the valid completion under ``--store redis://`` on uvloop, 32 requests in flight as under
load; this process's instructions only, Redis's are its own) starts a redis-server of its own,
and is left out without one; so is ``redis2``, two replicas of one namespace in one process
with 16 requests in flight each, which learn of each other's requests as two workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES = ("ceiling", "valid", "invalid", "assistant_mix", "openai_chat", "redis", "redis2")
_SHARED = ("redis", "redis2")  # the cases on a Redis store
_REDIS_URL = "LANGDOCK_MOCK_BENCH_REDIS"  # the redis case's server, set by main
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _serve(case: str, count: int) -> None:
    """The measured program: warm up, then ``count`` requests of ``case``."""
    sys.path.insert(0, str(HERE))
    import inprocess
    from harness import INVALID_BODY, VALID_BODY

    if case == "ceiling":
        import ceiling

        app, body = ceiling.app, VALID_BODY
    else:
        from mockserver import create_app
        from mockserver.config import Settings

        # Limits out of reach, as in run.py: the cost of the limiter, not of its refusals.
        store = {}
        if case in _SHARED:
            store = {"store": os.environ[_REDIS_URL], "store_namespace": f"{case}-{count}"}
        settings = Settings(default_rpm=10**9, default_tpm=10**13, seed=1, **store)
        app = create_app(settings)
        body = INVALID_BODY if case == "invalid" else VALID_BODY
    bodies: bytes | list[bytes] = body
    path = inprocess.COMPLETIONS
    # Issue 14: an OpenAI chat completion no dearer than an assistant one, over the same prompts.
    if case == "assistant_mix":
        bodies = inprocess.ASSISTANT_MIX
    elif case == "openai_chat":
        bodies, path = inprocess.OPENAI_MIX, inprocess.OPENAI_CHAT
    # uvloop for the redis case, as uvicorn serves: the default loop's transports are Python.
    if case in _SHARED:  # 32 requests in flight, as under load: their scripts share writes
        # redis2: two replicas of one namespace in this process, 16 requests in flight each,
        # so each learns of the other's requests as two worker processes do.
        apps = [app] if case == "redis" else [app, create_app(settings)]
        loop = _uvloop()
        loop.run_until_complete(_in_flight(inprocess._requests, apps, bodies, 320, path))
        loop.run_until_complete(_in_flight(inprocess._requests, apps, bodies, count, path))
        return
    loop = asyncio.new_event_loop()
    loop.run_until_complete(inprocess._requests(app, bodies, 320, path))
    loop.run_until_complete(inprocess._requests(app, bodies, count, path))


async def _in_flight(requests: Any, apps: list[Any], bodies: Any, count: int, path: str) -> None:
    width = 32
    await asyncio.gather(
        *(requests(apps[n % len(apps)], bodies, count // width, path) for n in range(width))
    )


def _uvloop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


def _redis_server() -> subprocess.Popen[bytes] | None:
    """A redis-server without persistence on a free port, named in the environment."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    from harness import free_port

    port = free_port()
    flags = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, "--port", str(port), *flags, "--dir", tempfile.mkdtemp()],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.01)  # not listening yet
    os.environ[_REDIS_URL] = f"redis://127.0.0.1:{port}/0"
    return process


def _instructions(case: str, count: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--serve",
            case,
            str(count),
        ],
        capture_output=True,
        timeout=900,
        check=True,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total for {case}: {done.stderr[-500:]!r}")
    return int(found.group(1))


def per_request(case: str, small: int, large: int) -> int:
    """Instructions one request of ``case`` costs (the difference of two runs)."""
    return (_instructions(case, large) - _instructions(case, small)) // (large - small)


def main(argv: Sequence[str] | None = None) -> int:
    """Print instructions per request of each case, and each case's ratio to the ceiling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"Any of {', '.join(CASES)} (all).")
    parser.add_argument("--small", type=int, default=500, help="Requests of the short run (500).")
    parser.add_argument("--large", type=int, default=2500, help="Of the long run (2500).")
    parser.add_argument("--serve", nargs=2, metavar=("CASE", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]))
        return 0
    cases = list(dict.fromkeys(args.cases or CASES))
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if shutil.which("valgrind") is None:
        sys.stderr.write("instructions.py needs valgrind (apt-get install valgrind)\n")
        return 2
    shared = [case for case in cases if case in _SHARED]
    redis = _redis_server() if shared else None
    if shared and redis is None:
        sys.stderr.write("no redis-server on PATH: the redis cases are left out\n")
        cases = [case for case in cases if case not in _SHARED]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind per core
            found = pool.map(lambda case: per_request(case, args.small, args.large), cases)
            counts = dict(zip(cases, found, strict=True))
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
    if args.json:
        sys.stdout.write(json.dumps(counts) + "\n")
        return 0
    ceiling = counts.get("ceiling")
    for case, count in counts.items():
        ratio = f"  {count / ceiling:.2f}x the ceiling" if ceiling and case != "ceiling" else ""
        sys.stdout.write(f"{case:8s} {count:>9,} instructions per request{ratio}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
