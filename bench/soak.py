"""Soak: 100,000 mixed requests; resident memory after 100k must stay within 10% of after 10k."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    COMPLETIONS,
    INVALID_BODY,
    VALID_BODY,
    Process,
    free_port,
    python_load,
    request_bytes,
    rss_kib,
    send,
)

ROOT = Path(__file__).resolve().parent.parent
NO_SCOPE_KEY = "sk-ld-soak-no-scopes"
BATCH = 5_000  # the mock clock moves 61 s after each batch, so valid requests pass again


def mix(port: int) -> list[bytes]:
    """One of each kind: 200 (or 429 once the window is full), 400, 401, 403, 404 twice."""
    return [
        request_bytes(COMPLETIONS, VALID_BODY, port=port),
        request_bytes(COMPLETIONS, INVALID_BODY, port=port),
        request_bytes(COMPLETIONS, VALID_BODY, key="sk-ld-unknown", port=port),
        request_bytes(COMPLETIONS, VALID_BODY, key=NO_SCOPE_KEY, port=port),
        request_bytes("/assistant/v1/get?assistantId=nope", b"", method="GET", port=port),
        request_bytes("/assistant/v1/nowhere", b"{}", port=port),
        request_bytes(COMPLETIONS, VALID_BODY.replace(b"Summarise", b"Sum up"), port=port),
    ]


def admin(port: int, method: str, path: str, body: dict[str, object]) -> None:
    """One admin call that must succeed."""
    raw = request_bytes(path, json.dumps(body).encode(), key=None, method=method, port=port)
    status, reply = send(port, raw)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {reply!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak and print RSS after 10k and after the total; exit 1 past the tolerance."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total", type=int, default=100_000, help="Requests in all (100000).")
    parser.add_argument("--connections", type=int, default=16, help="Connections (16).")
    parser.add_argument("--tolerance", type=float, default=0.10, help="Allowed growth (0.10).")
    args = parser.parse_args(argv)

    port = free_port()
    argv_ = [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--freeze-clock"]
    probe = request_bytes(COMPLETIONS, VALID_BODY, port=port)
    statuses: dict[int, int] = {}
    marks: dict[int, float] = {}
    began = time.perf_counter()
    with Process("langdock-mock", argv_, port, probe, cwd=ROOT) as server:
        admin(port, "POST", "/__admin/keys", {"key": NO_SCOPE_KEY, "scopes": []})
        requests = mix(port)
        sent = 0
        while sent < args.total:
            batch = min(BATCH, args.total - sent)
            run = asyncio.run(
                python_load(
                    port,
                    requests,
                    seconds=600,
                    connections=args.connections,
                    max_requests=batch,
                )
            )
            if run.errors:
                raise RuntimeError(f"{run.errors} transport errors in a batch")
            for status, count in run.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            sent += run.requests
            admin(port, "POST", "/__admin/clock", {"advance": 61})
            if sent == 10_000 or sent >= args.total:
                marks[sent] = rss_kib(server.pid) / 1024
    first, last = marks[min(marks)], marks[max(marks)]
    growth = (last - first) / first
    lines = [
        f"soak: {sent:,} requests in {time.perf_counter() - began:.0f} s, statuses "
        + ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())),
        f"RSS after {min(marks):,}: {first:.1f} MiB; after {max(marks):,}: {last:.1f} MiB; "
        f"growth {growth * 100:+.1f}% (limit {args.tolerance * 100:.0f}%)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if any(status >= 500 for status in statuses):
        sys.stdout.write("FAIL: server errors\n")
        return 1
    return 0 if growth <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
