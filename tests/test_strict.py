"""Strict mode's report: which journaled requests broke the contract, and how it reads."""

from __future__ import annotations

from starlette.testclient import TestClient

from mockserver.contract.strict import EXCERPT_CHARS, find_violations, format_violations
from mockserver.state import MockState

CREATE = "/assistant/v1/create"
COMPLETE = "/assistant/v1/chat/completions"


def _violations(client: TestClient) -> str:
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    found = find_violations(state.journal.entries())
    return format_violations(found) if found else ""


def test_clean_requests_are_no_violation(client: TestClient) -> None:
    assert client.post(CREATE, json={"name": "Doc"}).status_code == 201
    assert client.get("/assistant/v1/models").status_code == 200
    assert _violations(client) == ""


def test_unknown_fields_accepted_by_a_lenient_server_are_reported_with_their_paths(
    client: TestClient,
) -> None:
    body = {
        "assistant": {"name": "a", "instructions": "b", "temprature": 1},
        "messages": [{"role": "user", "content": "hi", "nme": "x"}],
    }
    assert client.post(COMPLETE, json=body).status_code == 200
    report = _violations(client)
    assert report.splitlines()[:2] == [
        "langdock-mock strict mode: 1 request(s) broke the API contract",
        f"POST {COMPLETE} -> 200",
    ]
    assert (
        "  broke: $.assistant.temprature unrecognized_keys: Unrecognized key: 'temprature' "
        "(accepted here, the real API drops it)"
    ) in report
    assert "  broke: $.messages[0].nme unrecognized_keys: Unrecognized key: 'nme'" in report


def test_a_400_names_each_rule_and_what_was_sent(client: TestClient) -> None:
    assert client.post(CREATE, json={"name": "", "creativity": 3}).status_code == 400
    lines = _violations(client).splitlines()
    assert lines[1:] == [
        f"POST {CREATE} -> 400",
        '  sent: {"name":"","creativity":3}',
        "  broke: $.creativity too_big: Number must be less than or equal to 1 (rejected)",
        "  broke: $.name too_small: String must contain at least 1 character(s) (rejected)",
    ]


def test_an_unreadable_body_is_reported_without_an_excerpt(client: TestClient) -> None:
    sent = client.post(CREATE, content=b"{not json", headers={"Content-Type": "application/json"})
    assert sent.status_code == 400
    lines = _violations(client).splitlines()
    assert lines[2] == "  sent: (no readable JSON body)"
    assert lines[3].startswith("  broke: $ invalid_body: ")


def test_the_excerpt_is_bounded(client: TestClient) -> None:
    client.post(CREATE, json={"name": "Doc", "instruction": "x" * 5000, "extra": 1})
    sent = _violations(client).splitlines()[2].removeprefix("  sent: ")
    assert len(sent) == EXCERPT_CHARS
    assert sent.endswith("…")


def test_an_injected_400_is_not_the_clients_fault(client: TestClient) -> None:
    rule = {"action": {"status": 400}, "times": 1}
    assert client.post("/__admin/faults", json=rule).status_code == 201
    assert client.post(CREATE, json={"name": "Doc"}).status_code == 400
    assert _violations(client) == ""


def test_only_the_offending_requests_are_listed(client: TestClient) -> None:
    client.post(CREATE, json={"name": "Doc"})
    client.post(CREATE, json={"name": "Doc", "colour": "red"})
    client.post(CREATE, json={})
    report = _violations(client)
    assert report.startswith("langdock-mock strict mode: 2 request(s)")
    assert "$.colour unrecognized_keys" in report
    assert "$.name invalid_type: Required" in report
