"""How fast the Hypothesis strategies generate: examples per second, per operation and strategy.

    python bench/strategies_speed.py [--examples 200] [--profile seed --profile 2026] [--json FILE]

Each figure is ``examples / seconds`` of a derandomized ``@given`` run with the generate phase
only and no database, so it is generation plus the validator filter, without a server. Building
the strategies (schemas split into branches, leaves compiled) happens once per operation and is
reported apart, as ``build_s``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockserver.strategies import (  # after the sys.path insert
    boundary_payloads,
    invalid_payloads,
    payload_operations,
    payloads,
)

STRATEGIES: dict[str, Callable[..., st.SearchStrategy[Any]]] = {
    "payloads": payloads,
    "boundary_payloads": boundary_payloads,
    "invalid_payloads": invalid_payloads,
}


def rate(strategy: st.SearchStrategy[Any], examples: int) -> float:
    """Examples per second of one strategy (after a short warm-up that builds it)."""
    quiet = settings(
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    drawn = 0

    @settings(quiet, max_examples=examples)
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal drawn
        drawn += 1

    start = time.perf_counter()
    run()
    return drawn / (time.perf_counter() - start)


def measure(profile: str, examples: int) -> list[dict[str, Any]]:
    """One row per operation: build time and examples/s of each strategy."""
    rows = []
    for operation in payload_operations(profile=profile):
        row: dict[str, Any] = {"profile": profile, "operation": operation}
        start = time.perf_counter()
        for make in STRATEGIES.values():
            rate(make(operation, profile=profile), 1)
        row["build_s"] = round(time.perf_counter() - start, 3)
        for name, make in STRATEGIES.items():
            row[name] = round(rate(make(operation, profile=profile), examples))
        rows.append(row)
        rates = "  ".join(f"{name} {row[name]:5}/s" for name in STRATEGIES)
        sys.stderr.write(f"{profile:5} {operation:24} build {row['build_s']:6.2f} s  {rates}\n")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Measure, print a markdown table, optionally write the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--profile", action="append", choices=("seed", "2026"))
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    rows = [row for p in args.profile or ["seed", "2026"] for row in measure(p, args.examples)]
    lines = [
        f"{platform.python_implementation()} {platform.python_version()}, {args.examples} "
        "examples each, examples per second:",
        "",
        "| profile | operation | payloads | boundary_payloads | invalid_payloads | build (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row['profile']} | `{row['operation']}` | {row['payloads']} | "
        f"{row['boundary_payloads']} | {row['invalid_payloads']} | {row['build_s']} |"
        for row in rows
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
