"""Bench plumbing: start a server process, time its first 2xx, load it, read its memory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COMPLETIONS",
    "INVALID_BODY",
    "KEY",
    "VALID_BODY",
    "Load",
    "Process",
    "cpu_seconds",
    "free_port",
    "load",
    "python_load",
    "request_bytes",
    "rss_kib",
    "send",
    "wrk_load",
]

COMPLETIONS = "/assistant/v1/chat/completions"
KEY = "sk-ld-mock"
VALID_BODY = json.dumps(
    {
        "assistant": {"name": "Bench", "instructions": "You answer in one short paragraph."},
        "messages": [{"role": "user", "content": "Summarise the quarterly report, please."}],
    },
    separators=(",", ":"),
).encode()
# Six violations: the mock must find and report all of them (the full Zod-like issue list).
INVALID_BODY = json.dumps(
    {
        "assistant": {"name": "", "instructions": 5, "temperature": 7},
        "messages": [{"role": "bot", "content": 3}],
        "stream": "yes",
    },
    separators=(",", ":"),
).encode()


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request_bytes(
    path: str, body: bytes, *, key: str | None = KEY, method: str = "POST", port: int = 0
) -> bytes:
    """One keep-alive HTTP/1.1 request with a JSON body."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(port: int, raw: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send one raw request on a fresh connection; (status, body), or (0, b"") if refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(raw)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return 0, b""
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = _content_length(head)
            while length is not None and len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return int(head.split(b" ", 2)[1]), rest
    except OSError:
        return 0, b""


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (npx runs node under a shell)."""
    total = 0
    for member in [pid, *_descendants(pid)]:
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Process:
    """A server process we started: its start-up time to the first 2xx, and a clean stop."""

    name: str
    argv: Sequence[str]
    port: int
    probe: bytes
    cwd: Path | None = None
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0
    startup_cpu_s: float = 0.0  # CPU time to the first 2xx: what a busy machine cannot inflate

    def start(self, timeout: float = 60.0) -> Process:
        """Spawn and poll the completion route until it answers 2xx; record the time taken."""
        began = time.perf_counter()
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,  # its own process group, so stop() reaches npx's children
        )
        deadline = began + timeout
        while time.perf_counter() < deadline:
            status, _ = send(self.port, self.probe, timeout=timeout)
            if 200 <= status < 300:
                self.startup_s = time.perf_counter() - began
                self.startup_cpu_s = cpu_seconds(self.popen.pid)
                return self
            if self.popen.poll() is not None:
                break
            time.sleep(0.002)
        error = self.stop()
        raise RuntimeError(f"{self.name} did not answer 2xx: {error[-2000:]}")

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> str:
        """SIGTERM its process group (SIGKILL after 10 s); returns what it wrote to stderr."""
        if self.popen is None:
            return ""
        popen, self.popen = self.popen, None
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(10)
        assert popen.stderr is not None
        return popen.stderr.read().decode(errors="replace")

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class Load:
    """What a load run measured."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    server_cpu_s: float = 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU time per answered request, µs: throughput that noise cannot fake."""
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def load(
    port: int,
    body: bytes,
    *,
    seconds: float,
    connections: int,
    use_wrk: bool = True,
    key: str | None = KEY,
    path: str = COMPLETIONS,
) -> Load:
    """Load the route for ``seconds`` with ``connections`` keep-alive connections."""
    if use_wrk and shutil.which("wrk"):
        return wrk_load(port, body, seconds=seconds, connections=connections, key=key, path=path)
    raw = request_bytes(path, body, key=key, port=port)
    return asyncio.run(python_load(port, [raw], seconds=seconds, connections=connections))


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK-JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_load(
    port: int,
    body: bytes,
    *,
    seconds: float,
    connections: int,
    key: str | None = KEY,
    path: str = COMPLETIONS,
) -> Load:
    """Run wrk (one thread: the server has the other core) and read its summary."""
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script = _WRK_SCRIPT.format(body=body.decode(), auth=auth)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            f"http://127.0.0.1:{port}{path}",
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        os.unlink(handle.name)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK-JSON "))
    data = json.loads(line.removeprefix("WRK-JSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "timeout"))
    return Load(
        "wrk",
        data["requests"],
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        {-1: data["status"]},  # wrk only counts non-2xx/3xx answers
        errors,
    )


async def python_load(
    port: int,
    requests: Sequence[bytes],
    *,
    seconds: float,
    connections: int,
    max_requests: int = 10_000_000,
) -> Load:
    """A bounded keep-alive load client: ``connections`` tasks cycle through ``requests``.

    Stops at ``seconds`` or ``max_requests``, whichever comes first. Slower than wrk (the client
    is Python too), so its figures are only comparable with each other, in the same run.
    """
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    issued = 0
    began = time.perf_counter()
    deadline = began + seconds

    async def worker(offset: int) -> None:
        nonlocal errors, issued
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        index = offset
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            raw = requests[index % len(requests)]
            index += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                sent = time.perf_counter()
                writer.write(raw)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                length = _content_length(head) or 0
                await asyncio.wait_for(reader.readexactly(length), 30)
                latencies.append(time.perf_counter() - sent)
                status = int(head.split(b" ", 2)[1])
                statuses[status] = statuses.get(status, 0) + 1
                if b"connection: close" in head.lower():
                    writer.close()
                    writer = None
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [0.0]
    return Load(
        "python",
        len(latencies),
        elapsed,
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        statuses,
        errors,
    )
