"""The proxy's overhead: p50 latency through `langdock-mock proxy` over a direct call, one upstream.

The upstream is a `langdock-mock serve` process on loopback, and the proxy is a
`langdock-mock proxy --upstream <it>` process in front of it. Both are called with the same
completion request, in turns of `--batch` requests each, so that noise from other processes hits
both alike:

- **sequential**: one keep-alive connection and one request at a time, which is the latency a
  client sees;
- **loaded**: `--connections` keep-alive connections at once (wrk if installed, else the Python
  client), which is the latency under load, with the proxy and the upstream sharing the machine's
  two cores.

Both are run twice: against the bare upstream, which answers a completion in a fraction of a
millisecond, and against the same upstream made to take `--upstream-latency-ms` (a fault rule
adds the latency; a real completion takes hundreds of milliseconds and more). The first shows
the proxy's own cost in milliseconds; the second is the ratio a client of a real API sees.

The target is a p50 ratio of at most 1.5x. Run: `python bench/proxy.py` (about a minute), or
`--quick`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

from harness import (
    COMPLETIONS,
    VALID_BODY,
    Process,
    cpu_seconds,
    free_port,
    load,
    request_bytes,
    send,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HUGE_LIMITS = ("--rpm", "100000000", "--tpm", "10000000000")


def _exchange(sock: socket.socket, raw: bytes) -> int:
    """One request on a kept-alive connection; its status (the body is read to its length)."""
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ", 2)[1])


def sequential(
    ports: dict[str, int], requests: int, batch: int, pids: dict[str, int]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-request latency (ms) of each server, taking turns ``batch`` requests at a time.

    Also the CPU milliseconds per request of the process named for each server in ``pids``,
    counted over its own turns only: a figure a busy machine slows but does not inflate.
    """
    times: dict[str, list[float]] = {name: [] for name in ports}
    cpu: dict[str, float] = dict.fromkeys(ports, 0.0)
    raws = {name: request_bytes(COMPLETIONS, VALID_BODY, port=port) for name, port in ports.items()}
    for _ in range(max(1, requests // batch)):
        for name, port in ports.items():
            # A connection a turn: one kept idle through the other servers' turns (seconds,
            # against a slow upstream) would outlive uvicorn's 5 s keep-alive.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                before = cpu_seconds(pids[name])
                for _ in range(batch):
                    began = time.perf_counter()
                    status = _exchange(sock, raws[name])
                    times[name].append((time.perf_counter() - began) * 1000)
                    if status != 200:
                        raise RuntimeError(f"{name} answered {status}")
                cpu[name] += cpu_seconds(pids[name]) - before
    return times, {name: cpu[name] * 1000 / len(times[name]) for name in ports}


def _row(measure: str, figures: dict[str, float], digits: int = 3) -> str:
    direct, forwarder, proxy = figures["direct"], figures["forwarder"], figures["proxy"]
    return (
        f"| {measure} | {direct:.{digits}f} | {forwarder:.{digits}f} | {proxy:.{digits}f} | "
        f"{proxy / direct:.2f}x | {proxy / forwarder:.2f}x | {proxy - direct:.{digits}f} |"
    )


def _load_average() -> str:
    return " ".join(f"{figure:.1f}" for figure in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Start the upstream, the bare forwarder and the proxy, measure all three, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=4000, help="sequential requests each")
    parser.add_argument("--batch", type=int, default=200, help="requests per turn")
    parser.add_argument("--seconds", type=float, default=3.0, help="loaded run per server")
    parser.add_argument("--rounds", type=int, default=3, help="loaded runs per server")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-wrk", action="store_true", help="the Python load client")
    parser.add_argument(
        "--upstream-latency-ms", type=int, default=50, help="the slower upstream's added latency"
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.batch, args.seconds, args.rounds = 200, 50, 0.5, 1
        args.upstream_latency_ms = 5
    up_port, forwarder_port, proxy_port = free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    cli = [sys.executable, "-m", "mockserver"]

    def probe(port: int) -> bytes:
        return request_bytes(COMPLETIONS, VALID_BODY, port=port)

    upstream = Process(
        "upstream",
        [*cli, "serve", "--port", str(up_port), *HUGE_LIMITS],
        up_port,
        probe(up_port),
        ROOT,
    )
    forwarder = Process(
        "forwarder",
        [
            sys.executable,
            str(HERE / "forwarder.py"),
            "--port",
            str(forwarder_port),
            "--upstream",
            upstream_url,
        ],
        forwarder_port,
        probe(forwarder_port),
        ROOT,
    )
    proxy = Process(
        "proxy",
        [*cli, "proxy", "--port", str(proxy_port), "--upstream", upstream_url],
        proxy_port,
        probe(proxy_port),
        ROOT,
    )
    rows: list[str] = []
    tool = ""
    loads = [_load_average()]
    with upstream, forwarder, proxy:
        ports = {"direct": up_port, "forwarder": forwarder_port, "proxy": proxy_port}
        pids = {"direct": upstream.pid, "forwarder": forwarder.pid, "proxy": proxy.pid}
        sequential(ports, args.batch * 2, args.batch, pids)  # warm-up: pools, caches, first paths
        for latency in (0, args.upstream_latency_ms):
            if latency:
                rule = json.dumps({"action": {"latency_ms": latency}}).encode()
                status, _ = send(up_port, request_bytes("/__admin/faults", rule, port=up_port))
                assert status == 201, status
            requests = args.requests if not latency else max(args.batch, args.requests // 20)
            times, cpu = sequential(ports, requests, min(args.batch, requests), pids)
            label = f"upstream +{latency} ms" if latency else "bare upstream"
            p50 = {name: statistics.median(times[name]) for name in ports}
            rows.append(_row(f"sequential p50, {label} (ms)", p50))
            if not latency:
                rows.append(_row(f"CPU per sequential request, {label} (ms)", cpu))
            loaded: dict[str, list[float]] = {name: [] for name in ports}
            for _ in range(args.rounds):
                for name, port in ports.items():
                    run = load(
                        port,
                        VALID_BODY,
                        seconds=args.seconds,
                        connections=args.connections,
                        use_wrk=not args.no_wrk,
                    )
                    # wrk counts only the non-2xx answers, under -1: a zero there is a clean run.
                    failed = {status for status, n in run.statuses.items() if status != 200 and n}
                    if run.errors or failed:
                        raise RuntimeError(f"{name}: {run.statuses}, {run.errors} errors")
                    loaded[name].append(run.p50_ms)
                    tool = run.tool
            under = {name: statistics.median(loaded[name]) for name in ports}
            rows.append(
                _row(f"p50 under load ({args.connections} connections), {label} (ms)", under)
            )
    loads.append(_load_average())
    head = (
        f"proxy overhead ({args.requests} sequential requests each; load: {tool}; "
        f"load average {loads[0]} before, {loads[1]} after); target <= 1.5x"
    )
    table = [
        head,
        "| measure | direct | bare forwarder | through the proxy | proxy / direct "
        "| proxy / forwarder | added over direct |",
        "|---|---|---|---|---|---|---|",
    ]
    sys.stdout.write("\n".join([*table, *rows]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
