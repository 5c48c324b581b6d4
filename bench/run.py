"""Benchmark langdock-mock against a bare Starlette ceiling (and Prism, if npx has it)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import (
    COMPLETIONS,
    INVALID_BODY,
    KEY,
    VALID_BODY,
    Load,
    Process,
    cpu_seconds,
    free_port,
    load,
    request_bytes,
    rss_kib,
    send,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# Huge limits: the "on" run measures what the limiter costs, not its refusals (the default
# 500 RPM would answer most bench traffic with 429).
HUGE_LIMITS = ("--rpm", "100000000", "--tpm", "10000000000")
PRISM = "@stoplight/prism-cli@5"


@dataclass(frozen=True)
class Summary:
    """The median figures of a body's load rounds."""

    tool: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


@dataclass
class Figures:
    """One server's measurements: start-ups, loads (one per round and body) and memory."""

    name: str
    argv_for: Callable[[int], list[str]]
    bodies: dict[str, bytes]
    key: str | None = KEY
    startup_ms: list[float] = field(default_factory=list)
    startup_cpu_ms: list[float] = field(default_factory=list)
    rounds: dict[str, list[Load]] = field(default_factory=dict)
    rss_mib: float = 0.0

    @property
    def startup(self) -> float:
        """Median start-up, ms."""
        return statistics.median(self.startup_ms) if self.startup_ms else 0.0

    @property
    def startup_cpu(self) -> float:
        """Median CPU time to the first 2xx, ms."""
        return statistics.median(self.startup_cpu_ms) if self.startup_cpu_ms else 0.0

    def load(self, body: str) -> Summary:
        """Medians over the rounds of one body, each figure on its own."""
        runs = self.rounds[body]
        return Summary(
            runs[0].tool,
            statistics.median(run.rps for run in runs),
            statistics.median(run.p50_ms for run in runs),
            statistics.median(run.p99_ms for run in runs),
            statistics.median(run.cpu_us for run in runs),
        )

    def process(self) -> Process:
        """A not yet started process of this server on a free port."""
        port = free_port()
        probe = request_bytes(COMPLETIONS, VALID_BODY, key=self.key, port=port)
        return Process(self.name, self.argv_for(port), port, probe, cwd=ROOT)

    def as_json(self) -> dict[str, Any]:
        """Every figure, for --json."""
        return {
            "name": self.name,
            "startup_ms": self.startup_ms,
            "startup_cpu_ms": self.startup_cpu_ms,
            "rss_mib": self.rss_mib,
            "rounds": {k: [asdict(run) for run in v] for k, v in self.rounds.items()},
        }


def ceiling_argv(port: int) -> list[str]:
    """The bare Starlette app."""
    return [sys.executable, str(HERE / "ceiling.py"), "--port", str(port)]


def mock_argv(port: int, *extra: str) -> list[str]:
    """langdock-mock as a user starts it."""
    return [sys.executable, "-m", "mockserver", "serve", "--port", str(port), *extra]


def measure(servers: Sequence[Figures], args: argparse.Namespace) -> None:
    """Start-ups, then load rounds, interleaved across servers so that noise hits them alike."""
    for _ in range(args.startups):
        for server in servers:
            process = server.process().start()
            server.startup_ms.append(process.startup_s * 1000)
            server.startup_cpu_ms.append(process.startup_cpu_s * 1000)
            process.stop()
    processes = [server.process() for server in servers]
    try:
        for server, process in zip(servers, processes, strict=True):
            process.start()
            for label, body in server.bodies.items():
                _check_answer(server.name, process.port, label, body, server.key)
                # A warm-up, so one-off costs (imports, caches) stay in the start-up figure.
                _load(process, server, body, args, seconds=args.warmup)
        for _ in range(args.rounds):
            for server, process in zip(servers, processes, strict=True):
                for label, body in server.bodies.items():
                    run = _load(process, server, body, args, seconds=args.seconds)
                    server.rounds.setdefault(label, []).append(run)
        for server, process in zip(servers, processes, strict=True):
            server.rss_mib = rss_kib(process.pid) / 1024
    finally:
        for process in processes:
            process.stop()


def _load(
    process: Process, server: Figures, body: bytes, args: argparse.Namespace, *, seconds: float
) -> Load:
    before = cpu_seconds(process.pid)
    run = load(
        process.port,
        body,
        seconds=seconds,
        connections=args.connections,
        use_wrk=args.wrk,
        key=server.key,
    )
    run.server_cpu_s = cpu_seconds(process.pid) - before
    return run


def _check_answer(name: str, port: int, label: str, body: bytes, key: str | None) -> None:
    """Refuse to benchmark a server that does not answer as expected."""
    status, reply = send(port, request_bytes(COMPLETIONS, body, key=key, port=port))
    expected = 200 if label == "valid" else 400
    if status != expected:
        raise RuntimeError(f"{name}: {label} answered {status}, not {expected}: {reply!r}")
    if label == "invalid" and name.startswith("langdock-mock"):
        issues = json.loads(reply)["message"]
        if len(issues) != 6:
            raise RuntimeError(f"{name}: expected 6 issues, got {issues}")


def inprocess_figures(requests: int) -> dict[str, float]:
    """CPU µs per request of the apps called directly, in a fresh interpreter (inprocess.py)."""
    out = subprocess.run(
        [sys.executable, str(HERE / "inprocess.py"), "--requests", str(requests)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
    )
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def fixture_figures() -> dict[str, float]:
    """The pytest fixtures' costs, in a fresh interpreter: import, session server start, reset."""
    code = """
import json, time
t0 = time.perf_counter()
from mockserver import MockServer
t1 = time.perf_counter()
server = MockServer().start()
t2 = time.perf_counter()
for _ in range(5):
    server.reset()
n = 200
t3 = time.perf_counter()
for _ in range(n):
    server.reset()
t4 = time.perf_counter()
server.stop()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "start_ms": (t2 - t1) * 1e3,
                  "reset_us": (t4 - t3) / n * 1e6}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def prism(args: argparse.Namespace) -> Figures | str:
    """Prism mocking our OpenAPI document, or why it was skipped."""
    if not args.prism:
        return "disabled (--no-prism)"
    if not shutil.which("npx"):
        return "npx not found"
    spec = subprocess.run(
        [sys.executable, "-m", "mockserver", "openapi"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    if spec.returncode != 0 or not spec.stdout.strip():
        return "`langdock-mock openapi` is not available"
    try:
        found = subprocess.run(
            ["npx", "--yes", "--package", PRISM, "-c", "command -v prism"],
            capture_output=True,
            text=True,
            timeout=args.prism_install_timeout,
        )
    except subprocess.TimeoutExpired:
        return f"npx could not fetch {PRISM} within {args.prism_install_timeout} s"
    binary = found.stdout.strip().splitlines()[-1] if found.stdout.strip() else ""
    if found.returncode != 0 or not binary:
        return f"npx could not provide {PRISM}: {found.stderr.strip()[-300:]}"
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(spec.stdout)
    try:

        def argv(port: int) -> list[str]:
            return [binary, "mock", "-h", "127.0.0.1", "-p", str(port), handle.name]

        figures = Figures(f"Prism {_prism_version(binary)}", argv, {"valid": VALID_BODY})
        measure([figures], args)
        return figures
    except RuntimeError as error:
        return f"Prism failed: {str(error)[:300]}"
    finally:
        Path(handle.name).unlink()


def _prism_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or "?"


def versions() -> dict[str, str]:
    """What the figures were measured with."""
    found = {"python": platform.python_version()}
    for name in ("starlette", "uvicorn", "jsonschema-rs", "orjson", "uvloop", "httptools"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        found["wrk"] = (out.stdout or out.stderr).split()[1]
    return found


def machine() -> str:
    """CPU model and core count."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def report(
    ceiling: Figures,
    mock: Figures,
    unlimited: Figures,
    fixtures: dict[str, float],
    direct: dict[str, float],
    other: Figures | str,
) -> list[str]:
    """The results as a Markdown table, ratios to the ceiling measured in the same run."""
    top = ceiling.load("valid")
    valid, invalid = mock.load("valid"), mock.load("invalid")
    off = unlimited.load("valid")
    rows = [
        ("start-up to first 2xx (ms)", ceiling.startup, mock.startup, "<= 1.5x"),
        ("start-up: CPU time to first 2xx (ms)", ceiling.startup_cpu, mock.startup_cpu, "<= 1.5x"),
        ("completions req/s", top.rps, valid.rps, ">= 0.5x"),
        ("completions: server CPU per request (µs)", top.cpu_us, valid.cpu_us, "<= 2x"),
        ("completions p50 (ms)", top.p50_ms, valid.p50_ms, ""),
        ("completions p99 (ms)", top.p99_ms, valid.p99_ms, "<= 2x"),
        ("invalid body (400) req/s", top.rps, invalid.rps, ">= 0.4x"),
        ("invalid body: server CPU per request (µs)", top.cpu_us, invalid.cpu_us, "<= 2.5x"),
        ("invalid body p99 (ms)", top.p99_ms, invalid.p99_ms, ""),
        ("completions req/s, --no-rate-limits", top.rps, off.rps, ""),
        ("RSS after load (MiB)", ceiling.rss_mib, mock.rss_mib, "<= 2x"),
    ]
    lines = [
        "| measure | ceiling | langdock-mock | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, base, value, target in rows:
        lines.append(f"| {label} | {base:,.1f} | {value:,.1f} | {_ratio(value, base)} | {target} |")
    cost = (off.rps - valid.rps) / off.rps * 100 if off.rps else 0.0
    cpu_cost = (valid.cpu_us - off.cpu_us) / valid.cpu_us * 100 if valid.cpu_us else 0.0
    lines.append(
        f"| limiter cost (on vs off): req/s, CPU | | {cost:.1f}%, {cpu_cost:.1f}% | | < 10% |"
    )
    base = direct["ceiling"]
    for label, key in (
        ("in-process, no HTTP: CPU per completion (µs)", "valid"),
        ("in-process, no HTTP: CPU per invalid body (µs)", "invalid"),
        ("in-process, no HTTP: CPU per completion, no limiter (µs)", "valid_no_limits"),
    ):
        value = direct[key]
        lines.append(f"| {label} | {base:,.1f} | {value:,.1f} | {_ratio(value, base)} | |")
    direct_cost = (direct["valid"] - direct["valid_no_limits"]) / direct["valid"] * 100
    lines.append(f"| limiter cost, in-process CPU | | {direct_cost:.1f}% | | < 10% |")
    lines.append(
        f"| fixtures: import / session server start / reset | | "
        f"{fixtures['import_ms']:.0f} ms / {fixtures['start_ms']:.0f} ms / "
        f"{fixtures['reset_us']:.0f} µs | | start <= 500 ms, reset <= 1 ms |"
    )
    if isinstance(other, Figures):
        p = other.load("valid")
        lines.append(
            f"| {other.name}: start-up / req/s / p99 / RSS | "
            f"{_ratio(other.startup, ceiling.startup)} | {_ratio(p.rps, top.rps)} | "
            f"{_ratio(p.p99_ms, top.p99_ms)} | {_ratio(other.rss_mib, ceiling.rss_mib)} |"
        )
    else:
        lines.append(f"| Prism | skipped: {other} | | | |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="Length of one load (5).")
    parser.add_argument("--rounds", type=int, default=3, help="Load rounds per figure (3).")
    parser.add_argument("--connections", type=int, default=32, help="Concurrent connections (32).")
    parser.add_argument("--warmup", type=float, default=1.0, help="Warm-up per body, s (1).")
    parser.add_argument(
        "--inprocess-requests", type=int, default=5000, help="In-process requests per round (5000)."
    )
    parser.add_argument("--startups", type=int, default=5, help="Start-ups per server (5).")
    parser.add_argument("--no-wrk", dest="wrk", action="store_false", help="Python load client.")
    parser.add_argument("--no-prism", dest="prism", action="store_false", help="Skip Prism.")
    parser.add_argument("--prism-install-timeout", type=float, default=180.0)
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    args = parser.parse_args(argv)

    started = time.strftime("%Y-%m-%d %H:%M")
    # As `pip install` does: start-up should not pay for compiling (PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "mockserver")], check=True)
    valid = {"valid": VALID_BODY}
    ceiling = Figures("ceiling", ceiling_argv, valid)
    mock = Figures(
        "langdock-mock",
        lambda port: mock_argv(port, *HUGE_LIMITS),
        {"valid": VALID_BODY, "invalid": INVALID_BODY},
    )
    unlimited = Figures(
        "langdock-mock --no-rate-limits", lambda port: mock_argv(port, "--no-rate-limits"), valid
    )
    measure([ceiling, mock, unlimited], args)
    fixtures = fixture_figures()
    direct = inprocess_figures(args.inprocess_requests)
    other = prism(args)
    tool = ceiling.load("valid").tool
    header = [
        f"# langdock-mock bench, {started}",
        f"machine: {machine()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"load: {tool}, {args.connections} connections, median of {args.rounds} rounds of "
        f"{args.seconds:g} s, interleaved; start-up: median of {args.startups}",
        "",
    ]
    lines = header + report(ceiling, mock, unlimited, fixtures, direct, other)
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        everything: dict[str, Any] = {
            "date": started,
            "machine": machine(),
            "versions": versions(),
            "servers": [f.as_json() for f in (ceiling, mock, unlimited)],
            "fixtures": fixtures,
            "inprocess_cpu_us": direct,
            "prism": other.as_json() if isinstance(other, Figures) else other,
        }
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
