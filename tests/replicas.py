"""Real server processes on one real Redis: `python -m mockserver serve --store redis://…`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

LISTENING = re.compile(rb"listening on (http://127\.0\.0\.1:\d+)")


def start(
    url: str, namespace: str, *flags: str, timeout: float = 20.0
) -> tuple[subprocess.Popen[bytes], str]:
    """One `serve` process on a free port; returns it and its base URL once it listens."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver",
            "serve",
            "--port",
            "0",
            "--store",
            url,
            "--store-namespace",
            namespace,
            "--freeze-clock",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        found = LISTENING.search(line)
        if found:
            base = found.group(1).decode()
            # Worker processes announce through their parent before they all accept requests.
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/__admin/health", timeout=2).status_code == 200:
                        return process, base
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            break
        if not line and process.poll() is not None:
            break
    stop(process)
    raise RuntimeError(f"serve did not start: {seen.decode(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process (by its PID) and wait; SIGKILL if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def replicas(url: str, namespace: str, count: int, *flags: str) -> Iterator[list[str]]:
    """``count`` replicas of one namespace; yields their base URLs."""
    started: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            process, base = start(url, namespace, *flags)
            started.append(process)
            urls.append(base)
        yield urls
    finally:
        for process in started:
            stop(process)
