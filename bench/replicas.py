"""Memory store vs Redis store, one worker vs two: completions req/s, p99 and Redis round trips.

    python bench/replicas.py                 # ~1 minute: 3 rounds of 5 s per server
    python bench/replicas.py --seconds 2 --rounds 1
    python bench/replicas.py --python-client # the Python load client instead of wrk

Starts its own redis-server (no persistence) on a free port, then three servers with the
limiter on but out of the way (``--rpm 100000000``), loaded in interleaved rounds as run.py
does, by wrk (``-t1``, C: it leaves the servers more of the cores than the Python client,
which matters most to two workers) when it is on PATH. Round trips per request are Redis's
own count (``INFO commandstats``) over a load, divided by the requests answered. Ratios, not
absolute figures, are what one run can compare.
"""

from __future__ import annotations

import argparse
import json
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

from harness import (
    COMPLETIONS,
    VALID_BODY,
    Load,
    Process,
    cpu_seconds,
    free_port,
    load,
    request_bytes,
    send,
)

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


# Commands a client sends; the rest (GET, ZADD, ...) run inside the scripts, no round trip each.
_SENT = re.compile(
    r"cmdstat_(eval\w*|fcall\w*|script\|\w+|client\|\w+|hello|ping|[a-z]+):calls=(\d+)"
)
_INSIDE_SCRIPTS_ONLY = {
    "zrangebyscore",
    "zremrangebyscore",
    "hmget",
    "hincrby",
    "zadd",
    "sadd",
    "llen",
    "incr",
    "rpush",
    "ltrim",
    "zrange",
    "smembers",
    "srem",
    "exists",
    "set",
    "hget",
    "get",
    "lrange",
    "del",
}


def commands_sent(port: int) -> int:
    """Commands clients sent since the last CONFIG RESETSTAT (INFO commandstats also counts
    the commands a script runs; those cost no round trip and are left out)."""
    info = redis_command(port, "INFO", "commandstats").decode()
    return sum(
        int(calls) for name, calls in _SENT.findall(info) if name not in _INSIDE_SCRIPTS_ONLY
    )


def writes(port: int) -> int:
    """Pipelines the answering process has written to Redis (its /__admin/health says)."""
    _, body = send(port, b"GET /__admin/health HTTP/1.1\r\nHost: x\r\n\r\n")
    store = json.loads(body).get("store", {})
    return int(store.get("writes", 0))


def redis_cpu(port: int) -> float:
    """Redis's own CPU seconds so far."""
    info = redis_command(port, "INFO", "cpu").decode()
    found = dict(re.findall(r"(used_cpu_(?:sys|user)):([0-9.]+)", info))
    return float(found["used_cpu_sys"]) + float(found["used_cpu_user"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="Load with the Python client even where wrk is installed.",
    )
    args = parser.parse_args(argv)
    use_wrk = not args.python_client and shutil.which("wrk") is not None
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
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    batches: dict[str, list[float]] = {name: [] for name in cases}
    written: dict[str, int] = dict.fromkeys(cases, 0)
    redis_us: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for name, extra in cases.items():
            port = free_port()
            argv_ = [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]
            servers[name] = Process(name, [*argv_, *UNLIMITED, *extra], port, probe, env=env)
            servers[name].start()
            load(port, VALID_BODY, seconds=1, connections=args.connections, use_wrk=use_wrk)
            written[name] = writes(port)
        for _ in range(args.rounds):
            for name, process in servers.items():
                redis_command(redis_port, "CONFIG", "RESETSTAT")
                before, redis_before = cpu_seconds(process.pid), redis_cpu(redis_port)
                run = load(
                    process.port,
                    VALID_BODY,
                    seconds=args.seconds,
                    connections=args.connections,
                    use_wrk=use_wrk,
                )
                runs[name].append(run)
                refused = sum(n for status, n in run.statuses.items() if not 200 <= status < 300)
                if refused or run.errors:  # a 503 is fast: it would pass for throughput
                    sys.stderr.write(f"{name}: {refused} non-2xx answers, {run.errors} errors\n")
                answered = max(1, run.requests)
                trips[name].append(commands_sent(redis_port) / answered)
                after = writes(process.port)
                batches[name].append((after - written[name]) / answered)
                written[name] = after
                cpu[name].append((cpu_seconds(process.pid) - before) / answered * 1e6)
                redis_us[name].append((redis_cpu(redis_port) - redis_before) / answered * 1e6)
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
        f"{args.rounds} rounds of {args.seconds:g} s, {args.connections} connections, "
        f"load by {'wrk -t1' if use_wrk else 'the Python client'}",
        f"{'server':<18} {'req/s':>7} {'x memory':>9} {'p99 ms':>7} {'scripts':>8} "
        f"{'writes':>7} {'server CPU us':>14} {'Redis CPU us':>13}",
    ]
    for name in cases:
        lines.append(
            f"{name:<18} {rps[name]:>7.0f} {rps[name] / base:>9.2f} {p99[name]:>7.1f} "
            f"{statistics.median(trips[name]):>8.2f} {statistics.median(batches[name]):>7.2f} "
            f"{statistics.median(cpu[name]):>14.0f} "
            f"{statistics.median(redis_us[name]):>13.0f}"
        )
    two = rps["redis, 2 workers"] / rps["redis, 1 worker"]
    lines.append(f"redis: 2 workers / 1 worker = {two:.2f}")
    lines.append(
        "scripts: commands sent to Redis per request (INFO commandstats); writes: pipelines "
        "written per request by the process /__admin/health reached (one worker of two)"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
