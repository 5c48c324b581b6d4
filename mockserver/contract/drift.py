"""The drift checker: recorded real exchanges (HAR or JSON lines) compared with the contract."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from mockserver.contract.check import Contract, Finding, find_operation
from mockserver.contract.stream import check_stream, stream_rule
from mockserver.errors import MockServerError
from mockserver.schemas import SchemaBundle

__all__ = [
    "NO_BODY",
    "Exchange",
    "ExchangeReport",
    "RecordingError",
    "check_exchanges",
    "form_params",
    "format_reports",
    "params_form",
    "per_operation",
    "read_exchanges",
    "recording_text",
    "reports_json",
]

NO_BODY: Any = type("NoBody", (), {"__repr__": lambda self: "NO_BODY"})()
_STREAM = "text/event-stream"


class RecordingError(MockServerError):
    """A recording that cannot be read: not HAR, not JSON lines, or an exchange lacking a part."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded request and its response; a body that was not recorded is ``NO_BODY``."""

    label: str
    method: str
    path: str
    status: int
    query: dict[str, str] = field(default_factory=dict)
    request_body: Any = NO_BODY
    response_body: Any = NO_BODY
    response_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class ExchangeReport:
    """What the contract says about one exchange."""

    exchange: Exchange
    operation: str | None
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()

    @property
    def drift(self) -> bool:
        """Whether the exchange disagrees with the contract."""
        return bool(self.findings)


def _json_text(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{where}: not JSON: {exc}") from None


def _body(value: Any) -> Any:
    """A recorded body: JSON text is parsed; other text stays a string."""
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return NO_BODY
        if stripped[0] in "{[":
            try:
                return orjson.loads(stripped)
            except orjson.JSONDecodeError:
                return value
    return value


def form_params(form: dict[str, Any]) -> list[dict[str, Any]]:
    """An upload's form as HAR ``postData.params``: a file as its name, type, size and digest."""
    params: list[dict[str, Any]] = []
    for name, value in form.items():
        if isinstance(value, dict):
            params.append(
                {
                    "name": name,
                    "fileName": value.get("name"),
                    "contentType": value.get("mimeType"),
                    "_sizeInBytes": value.get("sizeInBytes"),
                    "_sha256": value.get("sha256"),
                }
            )
        else:
            params.append({"name": name, "value": value})
    return params


def params_form(params: Any) -> dict[str, Any]:
    """HAR ``postData.params`` as the form the mock validates (``form_params`` reversed)."""
    form: dict[str, Any] = {}
    for param in params if isinstance(params, list) else ():
        if not isinstance(param, dict) or "name" not in param or param["name"] in form:
            continue
        if "fileName" in param:
            file = {"name": param["fileName"], "mimeType": param.get("contentType")}
            file["sizeInBytes"] = param.get("_sizeInBytes")
            if param.get("_sha256") is not None:
                file["sha256"] = param["_sha256"]
            form[str(param["name"])] = {k: v for k, v in file.items() if v is not None}
        else:
            form[str(param["name"])] = param.get("value", "")
    return form


def _split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


def _har_exchange(index: int, entry: Any) -> Exchange:
    where = f"entry {index}"
    try:
        request, response = entry["request"], entry["response"]
        method, url, status = (
            str(request["method"]).upper(),
            str(request["url"]),
            response["status"],
        )
    except (KeyError, TypeError):
        need = "a HAR entry needs request.method, request.url and response.status"
        raise RecordingError(f"{where}: {need}") from None
    path, query = _split(url)
    post = request.get("postData") or {}
    request_body = NO_BODY
    if post.get("params"):  # an upload: its form (a file as name, type, size and digest)
        request_body = params_form(post["params"])
    elif "multipart/" not in str(post.get("mimeType", "")) and post.get("text"):
        request_body = _body(post["text"])
    content = response.get("content") or {}
    text = content.get("text")
    if text is not None and content.get("encoding") == "base64":
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise RecordingError(f"{where}: response.content.text is not base64 UTF-8") from None
    media = str(content.get("mimeType") or "application/json").split(";", 1)[0].strip()
    return Exchange(
        f"#{index} {method} {path}",
        method,
        path,
        _status(status, where),
        query,
        request_body,
        _body(text) if text is not None else NO_BODY,
        media.lower(),
    )


def _status(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RecordingError(f"{where}: status must be an integer")
    try:
        return int(value)
    except ValueError:
        raise RecordingError(f"{where}: status must be an integer") from None


def _line_exchange(index: int, record: Any) -> Exchange:
    where = f"line {index}"
    if not isinstance(record, dict):
        raise RecordingError(f"{where}: expected an object {{method, path, status, ...}}")
    try:
        method, target, status = (
            record["method"],
            record.get("path") or record["url"],
            record["status"],
        )
    except KeyError as exc:
        raise RecordingError(f"{where}: missing {exc.args[0]!r}") from None
    path, query = _split(str(target))
    query.update({str(k): str(v) for k, v in (record.get("query") or {}).items()})
    return Exchange(
        f"#{index} {str(method).upper()} {path}",
        str(method).upper(),
        path,
        _status(status, where),
        query,
        _body(record["request_body"]) if "request_body" in record else NO_BODY,
        _body(record["response_body"]) if "response_body" in record else NO_BODY,
        str(record.get("response_type") or "application/json").lower(),
    )


def recording_text(path: Path | str) -> str:
    """The text of a recording file; a RecordingError if unreadable or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        raise RecordingError(f"{path} holds no exchanges")
    return text


def read_exchanges(path: Path | str) -> list[Exchange]:
    """Exchanges from a HAR file, a JSON array of records, or JSON lines of records."""
    text = recording_text(path)
    stripped = text.strip()
    whole: Any = NO_BODY
    if stripped[0] in "{[":
        try:
            whole = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            whole = NO_BODY  # several JSON objects, one a line
    if isinstance(whole, dict) and "log" in whole:
        entries = whole["log"].get("entries") if isinstance(whole["log"], dict) else None
        if not isinstance(entries, list):
            raise RecordingError(f"{path}: a HAR file needs log.entries")
        return [_har_exchange(i, entry) for i, entry in enumerate(entries, 1)]
    if isinstance(whole, list):
        return [_line_exchange(i, record) for i, record in enumerate(whole, 1)]
    records = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    return [_line_exchange(n, _json_text(line, f"line {n}")) for n, line in records]


def check_exchanges(
    bundle: SchemaBundle, exchanges: Iterable[Exchange], *, ignore_unknown: bool = False
) -> list[ExchangeReport]:
    """Each exchange against the bundle's profile: request, status and response, strictly."""
    contract = Contract(bundle)
    reports = []
    for exchange in exchanges:
        op = find_operation(bundle, exchange.method, exchange.path)
        if op is None:
            text = f"{exchange.method} {exchange.path} is not an operation of the contract"
            if ignore_unknown:
                reports.append(ExchangeReport(exchange, None, (), (text,)))
            else:
                finding = Finding("request", "unknown endpoint", "", text)
                reports.append(ExchangeReport(exchange, None, (finding,)))
            continue
        findings: list[Finding] = []
        notes: list[str] = []
        body = None if exchange.request_body is NO_BODY else exchange.request_body
        if exchange.status < 400:
            # The real API took this request, so the contract must describe it.
            findings += contract.request(op, body, exchange.query)
        if exchange.status not in op.responses:
            findings += contract.response(op, exchange.status, None)
        elif exchange.response_type == _STREAM:
            if isinstance(exchange.response_body, str) and stream_rule(contract, op):
                findings += check_stream(contract, op, exchange.response_body.encode())
            else:
                notes.append("stream body not compared (no recorded events, or no stream rule)")
        elif exchange.response_body is NO_BODY:
            notes.append("no response body recorded")
        else:
            findings += contract.response(op, exchange.status, exchange.response_body)
        reports.append(ExchangeReport(exchange, op.id, tuple(findings), tuple(notes)))
    return reports


def per_operation(reports: list[ExchangeReport]) -> dict[str, dict[str, Any]]:
    """Per operation (in order of first sight): exchanges seen, conforming, drifted, drift paths."""
    table: dict[str, dict[str, Any]] = {}
    for report in reports:
        row = table.setdefault(
            report.operation or f"{report.exchange.method} {report.exchange.path}",
            {"seen": 0, "conforming": 0, "drifted": 0, "paths": []},
        )
        row["seen"] += 1
        row["drifted" if report.drift else "conforming"] += 1
        for finding in report.findings:
            path = f"{finding.where} {finding.path or '$'} ({finding.kind})"
            if path not in row["paths"]:
                row["paths"].append(path)
    return table


def format_reports(reports: list[ExchangeReport], profile: str) -> str:
    """One block per exchange with drift, a line per operation, then the summary line."""
    lines: list[str] = []
    for report in reports:
        if not report.drift:
            continue
        ex = report.exchange
        lines.append(f"{ex.label} -> {ex.status} ({report.operation or 'no operation'})")
        lines += [f"  {finding}" for finding in report.findings]
    lines.append("per operation: seen, conforming, drifted")
    for name, row in per_operation(reports).items():
        lines.append(
            f"  {name}: {row['seen']} seen, {row['conforming']} conforming, "
            f"{row['drifted']} drifted"
        )
        lines += [f"    {path}" for path in row["paths"]]
    kinds = Counter(f.kind for r in reports for f in r.findings)
    drifted = sum(r.drift for r in reports)
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    lines.append(
        f"{len(reports)} exchange(s) checked against profile {profile}: "
        f"{len(reports) - drifted} clean, {drifted} with drift"
        + (f" ({sum(kinds.values())} finding(s): {detail})" if kinds else "")
    )
    return "\n".join(lines)


def reports_json(reports: list[ExchangeReport], profile: str) -> dict[str, Any]:
    """The reports as JSON, for tools."""
    return {
        "profile": profile,
        "exchanges": [
            {
                "label": r.exchange.label,
                "status": r.exchange.status,
                "operation": r.operation,
                "drift": r.drift,
                "findings": [
                    {"where": f.where, "kind": f.kind, "path": f.path, "message": f.message}
                    for f in r.findings
                ],
                "notes": list(r.notes),
            }
            for r in reports
        ],
        "operations": per_operation(reports),
        "drift": sum(r.drift for r in reports),
    }
