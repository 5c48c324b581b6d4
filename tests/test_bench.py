"""bench/ keeps working: a short pass of run.py and soak.py (their figures are not asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, timeout=180
    )


def test_run_py_measures_every_row_with_the_python_client() -> None:
    done = _run(
        "bench/run.py",
        *("--seconds", "0.5", "--rounds", "1", "--startups", "1", "--warmup", "0.2"),
        *("--connections", "4", "--inprocess-requests", "100", "--no-wrk", "--no-prism"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert "load: python, 4 connections" in table
    for row in (
        "start-up to first 2xx",
        "completions req/s",
        "completions: server CPU per request",
        "invalid body (400) req/s",
        "completions req/s, --no-rate-limits",
        "RSS after load",
        "limiter cost",
        "in-process, no HTTP",
        "fixtures:",
        "| Prism | skipped: disabled (--no-prism)",
    ):
        assert row in table, table


def test_soak_py_sends_every_kind_of_request_and_sees_no_5xx() -> None:
    done = _run("bench/soak.py", "--total", "2000", "--connections", "4")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    first = done.stdout.splitlines()[0]
    for status in ("200:", "400:", "401:", "403:", "404:", "429:"):
        assert status in first, first


def test_instructions_py_names_an_unknown_case() -> None:
    done = _run("bench/instructions.py", "valid", "nonsense")
    assert done.returncode == 2
    assert "unknown case(s) nonsense" in done.stderr


@pytest.mark.callgrind
@pytest.mark.skipif(
    shutil.which("valgrind") is None, reason="valgrind is not installed (apt-get install valgrind)"
)
def test_instructions_py_counts_a_request_of_the_ceiling() -> None:
    done = _run("bench/instructions.py", "ceiling", "--small", "5", "--large", "25", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    count = json.loads(done.stdout)["ceiling"]
    # A Starlette request in process is tens of thousands of instructions, not a few, not millions.
    assert 10_000 < count < 1_000_000, count


@pytest.mark.parametrize(("route", "piece"), [("openai", "check"), ("assistant", "renderer")])
def test_pieces_py_runs_a_routes_piece_in_a_loop(route: str, piece: str) -> None:
    # The measured program itself (callgrind counts it); a wrong endpoint or call would raise.
    done = _run("bench/pieces.py", "--run", route, piece, "64")
    assert done.returncode == 0, done.stderr[-3000:]


def test_pieces_py_names_an_unknown_piece() -> None:
    done = _run("bench/pieces.py", "nonsense")
    assert done.returncode == 2
    assert "unknown piece(s) nonsense" in done.stderr


def test_proxy_py_measures_the_proxy_against_a_direct_call() -> None:
    done = _run("bench/proxy.py", "--quick", "--no-wrk")
    assert done.returncode == 0, done.stderr[-3000:]
    for row in (
        "| sequential p50, bare upstream (ms) |",
        "| p50 under load (8 connections), bare upstream (ms) |",
        "| sequential p50, upstream +5 ms (ms) |",
    ):
        assert row in done.stdout, done.stdout


def test_inspector_py_times_every_request_the_page_makes() -> None:
    done = _run("bench/inspector.py", "--entries", "300", "--rounds", "1", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # no task left pending, no warning
    figures = json.loads(done.stdout)
    assert figures["entries"] == 300
    for name in ("page", "first 100 rows", "state", "limits", "one stream in full"):
        assert figures["requests_ms"][name] > 0, name
    assert figures["open_ms"] > 0
