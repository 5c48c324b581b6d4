"""The drift checker: recorded exchanges (HAR, JSON lines) against the contract; exit codes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from mockserver import MockServer
from mockserver.cli import cli
from mockserver.contract.drift import (
    NO_BODY,
    RecordingError,
    check_exchanges,
    read_exchanges,
    reports_json,
)
from mockserver.schemas import load_bundle

RECORDED = Path(__file__).parent / "data" / "recorded"


def _verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_a_clean_recording_exits_0() -> None:
    code, output = _verify(str(RECORDED / "clean.jsonl"))
    assert code == 0, output
    assert "8 exchange(s) checked against profile seed: 8 clean, 0 with drift" in output


def test_every_kind_of_drift_is_reported_per_exchange_with_exit_1() -> None:
    code, output = _verify(str(RECORDED / "drift.jsonl"))
    assert code == 1
    blocks = output.split("\n#")
    tool_result = blocks[0]
    assert tool_result.startswith("#1 POST /assistant/v1/chat/completions -> 200")
    assert "missing field at $.result[1].content[0].result" in tool_result
    assert "new field at $.result[1].content[0].output" in tool_result
    created = blocks[1]
    for name in ("$.assistant.folderId", "$.assistant.createdBy", "$.requestId"):
        assert f"response: new field at {name}" in created
    assert "type change at $.data[0].created" in blocks[2]
    assert "HTTP 422 is not a documented status of assistant.create" in blocks[3]
    assert "missing field at $.assistant.emojiIcon" in blocks[4]
    assert "request: new field at $.instructions" in blocks[5]
    assert "DELETE /assistant/v1/delete is not an operation of the contract" in blocks[6]
    assert output.rstrip().endswith(
        "8 exchange(s) checked against profile seed: 1 clean, 7 with drift (10 finding(s): "
        "2 missing field, 5 new field, 1 type change, 1 undocumented status, 1 unknown endpoint)"
    )


def test_a_har_recording_with_prefixes_query_strings_base64_and_streams() -> None:
    reports = check_exchanges(load_bundle(), read_exchanges(RECORDED / "drift.har"))
    by_label = {r.exchange.label: r for r in reports}
    created = by_label["#1 POST /api/public/assistant/v1/create"]
    assert created.operation == "assistant.create"
    assert not created.drift
    fetched = by_label["#2 GET /assistant/v1/get"]
    assert fetched.exchange.query["assistantId"].startswith("e3e70682")
    assert [(f.kind, f.path) for f in fetched.findings] == [
        ("type change", "$.assistant.temperature")
    ]
    streamed = by_label["#3 POST /assistant/v1/chat/completions"]
    assert not streamed.drift  # an AI SDK 4 stream that ends with its d: line
    assert streamed.notes == ()
    limited = by_label["#4 GET /assistant/v1/models"]
    assert [f.kind for f in limited.findings] == ["undocumented status"]
    code, _ = _verify(str(RECORDED / "drift.har"))
    assert code == 1


def test_the_profile_decides_what_counts_as_drift(tmp_path: Path) -> None:
    item = {
        "id": "gpt-5",
        "object": "model",
        "created": 1754524800000,
        "owned_by": "system",
        "region": "global",
        "supportsExtendedThinking": True,
    }
    record = {
        "method": "GET",
        "path": "/assistant/v1/models",
        "status": 200,
        "response_body": {"object": "list", "data": [item]},
    }
    recording = tmp_path / "models.jsonl"
    recording.write_text(json.dumps(record) + "\n")
    assert _verify(str(recording), "--profile", "2026")[0] == 0
    code, output = _verify(str(recording), "--profile", "seed")
    assert code == 1
    assert "new field at $.data[0].region" in output
    assert "new field at $.data[0].supportsExtendedThinking" in output


def test_a_rejected_request_may_break_the_request_schema() -> None:
    # The real API answered 400, so the contract and the API agree that the request was bad.
    reports = check_exchanges(load_bundle(), read_exchanges(RECORDED / "clean.jsonl"))
    rejected = [r for r in reports if r.exchange.status == 400]
    assert rejected
    assert not any(r.drift for r in rejected)


def test_unknown_endpoints_can_be_skipped(tmp_path: Path) -> None:
    recording = tmp_path / "other.json"
    recording.write_text(json.dumps([{"method": "GET", "url": "/v1/files", "status": 200}]))
    code, output = _verify(str(recording), "--ignore-unknown")
    assert code == 0, output
    [report] = check_exchanges(load_bundle(), read_exchanges(recording), ignore_unknown=True)
    assert report.notes == ("GET /v1/files is not an operation of the contract",)


def test_json_output_lists_every_exchange() -> None:
    code, output = _verify(str(RECORDED / "drift.jsonl"), "--json")
    assert code == 1
    data = json.loads(output)
    assert data["profile"] == "seed"
    assert data["drift"] == 7
    assert len(data["exchanges"]) == 8
    first = data["exchanges"][0]
    assert first["operation"] == "assistant.completions"
    assert {"where": "response", "kind": "missing field"}.items() <= first["findings"][0].items()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "holds no exchanges"),
        ("{not json\n", "line 1: not JSON"),
        ('{"method": "GET", "status": 200}\n', "line 1: missing 'url'"),
        ('[{"method": "GET", "path": "/x", "status": "two hundred"}]', "status must be an integer"),
        ('{"log": {"entries": "none"}}', "a HAR file needs log.entries"),
        ('{"log": {"entries": [{"request": {}}]}}', "entry 1: a HAR entry needs"),
        ("[1]", "line 1: expected an object"),
    ],
    ids=["empty", "not-json", "no-path", "bad-status", "har-no-entries", "har-bad-entry", "scalar"],
)
def test_an_unreadable_recording_exits_2(tmp_path: Path, content: str, reason: str) -> None:
    recording = tmp_path / "broken.jsonl"
    recording.write_text(content)
    with pytest.raises(RecordingError, match=re.escape(reason)):
        read_exchanges(recording)
    code, output = _verify(str(recording))
    assert code == 2
    assert reason in output


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, output = _verify(str(tmp_path / "absent.har"))
    assert code == 2
    assert "cannot read" in output


def test_har_bodies_that_are_not_json_or_not_recorded(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
        {
            "request": {"method": "GET", "url": "https://x/assistant/v1/models"},
            "response": {"status": 200, "content": {"mimeType": "application/json"}},
        },
        {
            "request": {"method": "GET", "url": "https://x/assistant/v1/models"},
            "response": {
                "status": 401,
                "content": {
                    "text": base64.b64encode(b"Unauthorized").decode(),
                    "encoding": "base64",
                },
            },
        },
        {
            "request": {"method": "GET", "url": "https://x/assistant/v1/models"},
            "response": {"status": 200, "content": {"text": "!!", "encoding": "base64"}},
        },
    ]
    recording = tmp_path / "odd.har"
    recording.write_text(json.dumps({"log": {"entries": entries[:2]}}))
    unrecorded, text = check_exchanges(load_bundle(), read_exchanges(recording))
    assert unrecorded.notes == ("no response body recorded",)
    assert text.exchange.response_body == "Unauthorized"
    assert [f.kind for f in text.findings] == ["type change"]
    recording.write_text(json.dumps({"log": {"entries": entries[2:]}}))
    with pytest.raises(RecordingError, match="not base64"):
        read_exchanges(recording)


def test_traffic_recorded_from_the_mock_itself_shows_no_drift(
    http: httpx.Client, live: MockServer, tmp_path: Path
) -> None:
    """Round trip: every exchange the mock answers is, by construction, within its contract."""
    lines = []

    def record(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = http.request(method, path, **kwargs)
        row: dict[str, Any] = {
            "method": method,
            "path": str(response.request.url.raw_path.decode()),
        }
        row["status"] = response.status_code
        if "json" in kwargs:
            row["request_body"] = kwargs["json"]
        row["response_body"] = response.json()
        lines.append(json.dumps(row))
        return response

    created = record("POST", "/assistant/v1/create", json={"name": "Round trip", "emoji": "x"})
    assistant_id = created.json()["assistant"]["id"]
    record("GET", "/assistant/v1/get", params={"assistantId": assistant_id})
    record("PATCH", "/assistant/v1/update", json={"assistantId": assistant_id, "emoji": None})
    record("PATCH", "/assistant/v1/disable", json={"assistantId": assistant_id, "disabled": False})
    record(
        "POST",
        "/api/public/assistant/v1/chat/completions",
        json={
            "assistant": {"name": "Inline", "instructions": "Be short."},
            "messages": [{"role": "user", "content": "Hi"}],
            "output": {"type": "enum", "enum": ["yes", "no"]},
        },
    )
    record("GET", "/assistant/v1/get", params={"assistantId": "not-a-uuid"})
    record("POST", "/assistant/v1/create", json={"name": "x", "model": "no-such-model"})
    recording = tmp_path / "mock.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    reports = check_exchanges(live.state.bundle, read_exchanges(recording))
    assert [r.exchange.status for r in reports] == [201, 200, 200, 200, 200, 400, 404]
    assert reports_json(reports, "seed")["drift"] == 0, [
        str(f) for r in reports for f in r.findings
    ]
    assert reports[0].exchange.request_body == {"name": "Round trip", "emoji": "x"}
    assert reports[1].exchange.request_body is NO_BODY
