"""Memory store vs Redis store, one worker vs two: completions req/s, p99 and Redis round trips.

    python bench/replicas.py                 # ~1 minute: 3 rounds of 5 s per server
    python bench/replicas.py --seconds 2 --rounds 1

Starts its own redis-server (no persistence) on a free port, then three servers with the
limiter on but out of the way (``--rpm 100000000``), loaded in interleaved rounds as run.py
does. Round trips per request are Redis's own count (``INFO commandstats``) over a load,
divided by the requests answered. Ratios, not absolute figures, are what one run can compare.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import COMPLETIONS, VALID_BODY, Load, Process, free_port, load, request_bytes

UNLIMITED = ("--rpm", "100000000", "--tpm", "10000000000")


def redis_command(port: int, *args: str) -> bytes:
    """One command's raw reply over a plain socket."""
    parts = "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"*{len(args)}\r\n{parts}".encode())
        sock.settimeout(0.3)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def commands(port: int) -> int:
    """Commands Redis has run since the last CONFIG RESETSTAT (each is one round trip)."""
    info = redis_command(port, "INFO", "commandstats").decode()
    return sum(int(n) for n in re.findall(r"cmdstat_\w+:calls=(\d+)", info))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    binary = shutil.which("redis-server")
    if binary is None:
        sys.stderr.write("redis-server is not on PATH: apt-get install redis-server\n")
        return 2
    redis_port = free_port()
    workdir = tempfile.mkdtemp()
    flags = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    redis = subprocess.Popen(
        [binary, "--port", str(redis_port), *flags],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{redis_port}/0"
    probe = request_bytes(COMPLETIONS, VALID_BODY)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cases = {
        "memory, 1 worker": (),
        "redis, 1 worker": ("--store", url, "--store-namespace", "bench-1"),
        "redis, 2 workers": ("--store", url, "--store-namespace", "bench-2", "--workers", "2"),
    }
    servers: dict[str, Process] = {}
    runs: dict[str, list[Load]] = {name: [] for name in cases}
    trips: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for name, extra in cases.items():
            port = free_port()
            argv_ = [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]
            servers[name] = Process(name, [*argv_, *UNLIMITED, *extra], port, probe, env=env)
            servers[name].start()
            load(port, VALID_BODY, seconds=1, connections=args.connections, use_wrk=False)
        for _ in range(args.rounds):
            for name, process in servers.items():
                redis_command(redis_port, "CONFIG", "RESETSTAT")
                run = load(
                    process.port,
                    VALID_BODY,
                    seconds=args.seconds,
                    connections=args.connections,
                    use_wrk=False,
                )
                runs[name].append(run)
                trips[name].append(commands(redis_port) / run.requests if run.requests else 0)
    finally:
        for process in servers.values():
            process.stop()
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    rps = {name: statistics.median(r.rps for r in runs[name]) for name in cases}
    p99 = {name: statistics.median(r.p99_ms for r in runs[name]) for name in cases}
    base = rps["memory, 1 worker"]
    lines = [
        f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"{args.rounds} rounds of {args.seconds:g} s, {args.connections} connections",
        f"{'server':<20} {'req/s':>8} {'x memory':>9} {'p99 ms':>8} {'Redis calls/req':>16}",
    ]
    for name in cases:
        lines.append(
            f"{name:<20} {rps[name]:>8.0f} {rps[name] / base:>9.2f} {p99[name]:>8.1f} "
            f"{statistics.median(trips[name]):>16.2f}"
        )
    two = rps["redis, 2 workers"] / rps["redis, 1 worker"]
    lines.append(f"redis: 2 workers / 1 worker = {two:.2f}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
