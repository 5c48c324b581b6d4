"""Contract coverage: which operations and statuses a test run exercised, and which it never did."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mockserver.schemas import SchemaBundle

__all__ = [
    "Counts",
    "counts_from_json",
    "counts_to_json",
    "coverage_report",
    "format_coverage",
    "merge_counts",
]

Counts = Mapping[tuple[str, int], int]


def merge_counts(*counts: Counts) -> dict[tuple[str, int], int]:
    """The sum of several servers' (operation, status) counts."""
    merged: dict[tuple[str, int], int] = {}
    for part in counts:
        for key, number in part.items():
            merged[key] = merged.get(key, 0) + number
    return merged


def counts_to_json(counts: Counts) -> list[list[Any]]:
    """Counts as ``[[operation, status, n], ...]``: what pytest-xdist ships between processes."""
    return [[operation, status, number] for (operation, status), number in sorted(counts.items())]


def counts_from_json(rows: Iterable[Iterable[Any]]) -> dict[tuple[str, int], int]:
    """The inverse of ``counts_to_json``."""
    return {(str(op), int(status)): int(number) for op, status, number in rows}


def _statuses(numbers: Iterable[int]) -> str:
    items = [str(n) for n in numbers]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def coverage_report(bundle: SchemaBundle, counts: Counts) -> dict[str, Any]:
    """Per operation: calls, each documented status's count, the ones never seen, and prose."""
    operations: list[dict[str, Any]] = []
    lines: list[str] = []
    documented_total = seen_total = exercised = 0
    for op in bundle.operations.values():
        statuses = {str(s): counts.get((op.id, s), 0) for s in sorted(op.responses)}
        extra = {str(s): n for (o, s), n in sorted(counts.items()) if o == op.id and n}
        for status in statuses:
            extra.pop(status, None)
        calls = sum(statuses.values()) + sum(extra.values())
        missing = [int(s) for s, n in statuses.items() if n == 0]
        documented_total += len(statuses)
        seen_total += len(statuses) - len(missing)
        exercised += calls > 0
        operations.append(
            {
                "operation": op.id,
                "method": op.method,
                "path": op.path,
                "calls": calls,
                "statuses": statuses,
                "missing": [str(s) for s in missing],
                "undocumented": extra,
            }
        )
        where = f"{op.id} ({op.method} {op.path})"
        if not calls:
            lines.append(f"never called {where}")
            continue
        success = [s for s in missing if s < 300]
        errors = [s for s in missing if s >= 400]
        if success:
            lines.append(f"never saw a successful {_statuses(success)} from {where}")
        if errors:
            lines.append(f"never saw a {_statuses(errors)} on {where}")
        if extra:
            lines.append(f"got undocumented {_statuses(int(s) for s in extra)} from {where}")
    percent = round(100 * seen_total / documented_total, 1) if documented_total else 100.0
    summary = {
        "operations": len(operations),
        "exercised": exercised,
        "statuses": documented_total,
        "seen": seen_total,
        "percent": percent,
    }
    return {"summary": summary, "operations": operations, "gaps": lines}


def format_coverage(report: Mapping[str, Any]) -> str:
    """The report as text: a summary line, then one line per gap."""
    s = report["summary"]
    head = (
        f"langdock-mock contract coverage: {s['exercised']}/{s['operations']} operations called, "
        f"{s['seen']}/{s['statuses']} documented statuses seen ({s['percent']}%)"
    )
    gaps = report["gaps"]
    return "\n".join([head, *(f"  {line}" for line in gaps)] if gaps else [head, "  no gaps"])
