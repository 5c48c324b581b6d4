"""The Usage Export API: CSV files of the completions the mock served, by data type and range."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mockserver.api.outcome import Call, Completion, Reply
from mockserver.errors import BadRequest, NotFound
from mockserver.journal import UsageKey
from mockserver.state import MockState

__all__ = ["COLUMNS", "DOWNLOAD_PREFIX", "OPERATIONS", "export"]

DOWNLOAD_PREFIX = "/__admin/exports/"
NO_DATA = "No data found"
_PERIOD = ("period_start", "period_end", "org_id")
# The documented columns the mock can fill (a user is an API key: the mock has no people).
COLUMNS = {
    "users": (
        *_PERIOD,
        "user_id",
        "name",
        "messages_total",
        "assistants_messaged",
        "input_tokens",
        "output_tokens",
    ),
    "assistants": (
        *_PERIOD,
        "assistant_id",
        "messages",
        "active_users",
        "input_tokens",
        "output_tokens",
    ),
    "api-keys": (
        *_PERIOD,
        "api_key_id",
        "api_key_name",
        "requests",
        "input_tokens",
        "output_tokens",
    ),
    "projects": (*_PERIOD, "project_id", "project_name", "messages"),
    "models": (*_PERIOD, "model", "requests", "active_users", "input_tokens", "output_tokens"),
}


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Invalid timezone: {name}") from None


def _instant(point: dict[str, str]) -> tuple[datetime, tzinfo]:
    zone = _zone(point["timezone"])
    try:
        moment = datetime.fromisoformat(point["date"])
    except ValueError:
        raise BadRequest(f"Invalid date: {point['date']}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment, zone


def _year_after(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


def _entity(data_type: str, key: UsageKey, group_by: str | None) -> tuple[str, ...] | None:
    """The row a served completion counts towards (None: not part of this export)."""
    if data_type == "users":
        entity: tuple[str, ...] = (key.key_id, key.key_mask)
    elif data_type == "assistants":
        if key.target_id is None:  # an inline configuration is no stored assistant
            return None
        entity = (key.target_id,)
    elif data_type == "api-keys":
        entity = (key.key_id, key.key_mask)
    elif data_type == "models":
        entity = (key.model,)
    else:  # projects: the mock has none
        return None
    return (*entity, key.model) if group_by == "model" else entity


def _rows(
    data_type: str, usage: Iterable[tuple[UsageKey, list[int]]], group_by: str | None
) -> list[list[Any]]:
    totals: dict[tuple[str, ...], list[Any]] = {}
    for key, (requests, input_tokens, output_tokens) in usage:
        entity = _entity(data_type, key, group_by)
        if entity is None:
            continue
        row = totals.setdefault(entity, [0, set(), set(), 0, 0])
        row[0] += requests
        row[1].add(key.target_id)
        row[2].add(key.key_id)
        row[3] += input_tokens
        row[4] += output_tokens
    rows: list[list[Any]] = []
    for entity, (requests, targets, users, input_tokens, output_tokens) in sorted(totals.items()):
        if data_type == "users":
            middle = [requests, len(targets - {None})]
        elif data_type == "assistants" or data_type == "models":
            middle = [requests, len(users)]
        else:
            middle = [requests]
        rows.append([*entity, *middle, input_tokens, output_tokens])
    return rows


def _csv(header: tuple[str, ...], prefix: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([*prefix, *row] for row in rows)
    return out.getvalue()


def export(state: MockState, call: Call) -> Reply:
    """POST /export/<dataType>: the served usage of the key's workspace in the range, as a CSV.

    Counted on the mock clock from every completion served (either family, stored or inline):
    requests and the tokens the rate limiter charged. The answer says where the CSV is.
    """
    path_type = call.operation.path.rsplit("/", 1)[1]
    data_type = "assistants" if path_type == "agents" else path_type
    body = call.body
    start, zone = _instant(body["from"])
    end, _ = _instant(body["to"])
    group_by = body.get("group_by")
    if end < start:
        raise BadRequest("The from date must be before the to date")
    if end > _year_after(start):
        raise BadRequest("Date range cannot exceed 12 months")
    if group_by is not None and data_type in ("projects", "models"):
        raise BadRequest(f"group_by is not supported for {data_type} exports")
    workspace = call.principal.workspace
    low, high = start.timestamp(), end.timestamp()
    served = [
        (key, counts)
        for key, counts in state.usage.items()
        if key.workspace == workspace and low <= key.second <= high
    ]
    rows = _rows(data_type, served, group_by)
    if not rows:
        raise NotFound(NO_DATA)
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    header = COLUMNS[data_type]
    if group_by == "model":  # the model column follows the entity's own
        at = len(_PERIOD) + (2 if data_type in ("users", "api-keys") else 1)
        header = (*header[:at], "model", *header[at:])
    text = _csv(header, [first.isoformat(), last.isoformat(), workspace], rows)
    name = f"{data_type}-usage-{first.isoformat()}-{last.isoformat()}-{state.new_id()[:8]}.csv"
    file_path = f"{data_type}-usage/{workspace}/{name}"
    state.exports[file_path] = text
    return Reply(
        200,
        {
            "success": True,
            "data": {
                "filePath": file_path,
                "downloadUrl": call.base_url + DOWNLOAD_PREFIX + file_path,
                "dataType": data_type,
                "recordCount": len(rows),
                "dateRange": {
                    "from": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "to": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                },
            },
        },
    )


OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    f"export.{name}": export
    for name in ("users", "assistants", "agents", "api-keys", "projects", "models")
}
