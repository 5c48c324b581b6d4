"""What the pytest plugin costs: session-server start-up and the per-test reset, measured two ways.

Run from the repository root: ``python bench/plugin_cost.py [--tests 300] [--resets 5000]``.

1. Directly: ``MockServer(settings).start()`` (what ``langdock_mock_server`` does, imports
   excluded and reported apart) and the mean of ``reset()`` (what ``langdock_mock`` does per test).
2. Through pytest: N trivial tests in-process, once bare and once taking ``langdock_mock``; the
   first set-up holds the session start; the difference of the median set-up + teardown of the
   others is what the fixture adds per test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest


def direct(resets: int) -> dict[str, float]:
    """Import, start and reset times of a MockServer, in milliseconds."""
    began = time.perf_counter()
    from mockserver.config import load_settings
    from mockserver.server import MockServer

    imported = time.perf_counter()
    settings = load_settings(env={}).replace(port=0)
    server = MockServer(settings)
    built = time.perf_counter()
    server.start()
    started = time.perf_counter()
    try:
        times = []
        for _ in range(resets):
            t0 = time.perf_counter()
            server.reset()
            times.append(time.perf_counter() - t0)
    finally:
        server.stop()
    return {
        "import_ms": (imported - began) * 1e3,
        "build_app_ms": (built - imported) * 1e3,
        "start_ms": (started - built) * 1e3,
        "reset_mean_us": statistics.fmean(times) * 1e6,
        "reset_p99_us": sorted(times)[int(len(times) * 0.99)] * 1e6,
    }


class _Timings:
    """Collects set-up and teardown durations of each test."""

    def __init__(self) -> None:
        self.setup: list[float] = []
        self.teardown: list[float] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "setup":
            self.setup.append(report.duration)
        elif report.when == "teardown":
            self.teardown.append(report.duration)


def _run(tests: int, fixture: str, name: str) -> _Timings:
    timings = _Timings()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"test_cost_{name}.py"
        path.write_text(
            "import pytest\n\n"
            f"@pytest.mark.parametrize('n', range({tests}))\n"
            f"def test_n({fixture}n):\n    pass\n"
        )
        quiet = ["-qq", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        args = [str(path), *quiet, "-o", "addopts="]
        code = pytest.main(args, plugins=[timings])
    if code != 0:
        raise SystemExit(f"the generated tests failed (exit {code})")
    return timings


def through_pytest(tests: int) -> dict[str, float]:
    """Session start and per-test fixture cost as pytest reports them, in milliseconds."""
    bare = _run(tests, "", "bare")
    mocked = _run(tests, "langdock_mock, ", "mock")

    def per_test(timings: _Timings) -> list[float]:
        pairs = zip(timings.setup[1:], timings.teardown[1:], strict=True)
        return [setup + teardown for setup, teardown in pairs]

    return {
        "first_setup_ms": mocked.setup[0] * 1e3,
        "bare_per_test_us": statistics.median(per_test(bare)) * 1e6,
        "mock_per_test_us": statistics.median(per_test(mocked)) * 1e6,
        "fixture_cost_us": (statistics.median(per_test(mocked)) - statistics.median(per_test(bare)))
        * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    """Print both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--resets", type=int, default=5000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    figures = direct(args.resets)
    figures.update(through_pytest(args.tests))
    for name, value in figures.items():
        print(f"{name:>20}: {value:10.1f}")  # noqa: T201  # Reason: a script's report.


if __name__ == "__main__":
    main()
