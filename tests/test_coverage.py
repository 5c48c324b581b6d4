"""Contract coverage: what a run exercised and what it never did, over HTTP and in pytest."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pytest

from mockserver import MockServer
from mockserver.contract.coverage import (
    counts_from_json,
    counts_to_json,
    coverage_report,
    format_coverage,
    merge_counts,
)
from mockserver.schemas import load_bundle

INSTALLED = bool(entry_points(group="pytest11", name="langdock_mock"))
PLUGIN_ARGS: tuple[str, ...] = () if INSTALLED else ("-p", "pytest_plugin.plugin")


def test_the_report_names_every_gap_in_words() -> None:
    bundle = load_bundle()
    counts = {
        ("assistant.completions", 200): 3,
        ("assistant.completions", 400): 1,
        ("assistant.completions", 500): 1,
        ("assistant.models", 401): 2,
    }
    report = coverage_report(bundle, counts)
    gaps = report["gaps"]
    completions = "assistant.completions (POST /assistant/v1/chat/completions)"
    assert f"never saw a 401, 403, 404, 413 or 429 on {completions}" in gaps
    assert f"got undocumented 500 from {completions}" in gaps
    assert "never saw a successful 200 from assistant.models (GET /assistant/v1/models)" in gaps
    assert "never called assistant.create (POST /assistant/v1/create)" in gaps
    [entry] = [op for op in report["operations"] if op["operation"] == "assistant.completions"]
    assert entry["calls"] == 5
    assert entry["statuses"]["200"] == 3
    assert entry["missing"] == ["401", "403", "404", "413", "429"]
    assert entry["undocumented"] == {"500": 1}
    summary = report["summary"]
    assert summary["operations"] == len(bundle.operations)
    assert summary["exercised"] == 2
    assert summary["seen"] == 3  # completions 200 and 400, models 401
    text = format_coverage(report)
    assert text.splitlines()[0] == (
        f"langdock-mock contract coverage: 2/{summary['operations']} operations called, "
        f"3/{summary['statuses']} documented statuses seen ({summary['percent']}%)"
    )
    assert f"  never saw a 401, 403, 404, 413 or 429 on {completions}" in text


def test_full_coverage_has_no_gaps() -> None:
    bundle = load_bundle()
    counts = {(op.id, status): 1 for op in bundle.operations.values() for status in op.responses}
    report = coverage_report(bundle, counts)
    assert report["gaps"] == []
    assert report["summary"]["percent"] == 100.0
    assert format_coverage(report).endswith("\n  no gaps")


def test_counts_merge_and_travel_as_json() -> None:
    first = {("a.x", 200): 1, ("a.y", 404): 2}
    second = {("a.x", 200): 4}
    merged = merge_counts(first, second)
    assert merged == {("a.x", 200): 5, ("a.y", 404): 2}
    assert counts_to_json(merged) == [["a.x", 200, 5], ["a.y", 404, 2]]
    assert counts_from_json(counts_to_json(merged)) == merged


def test_the_admin_route_reports_the_run_across_resets(
    http: httpx.Client, live: MockServer
) -> None:
    admin = "/__admin/coverage"
    http.delete(admin)
    http.post("/assistant/v1/create", json={"name": "Covered"})
    http.post("/assistant/v1/chat/completions", json={"messages": []})
    http.get("/assistant/v1/models", headers={"Authorization": "Bearer wrong"})
    http.post("/__admin/reset")
    http.get("/assistant/v1/models")
    run = http.get(admin).json()
    assert run["since"] == "start"
    statuses = {op["operation"]: op["statuses"] for op in run["operations"]}
    assert statuses["assistant.create"]["201"] == 1
    assert statuses["assistant.completions"]["400"] == 1
    assert statuses["assistant.models"] == {"200": 1, "401": 1}
    assert "never saw a 401, 403, 404, 413 or 429 on assistant.completions" in run["text"]
    assert "never called assistant.get (GET /assistant/v1/get)" in run["gaps"]
    since_reset = http.get(admin, params={"since": "reset"}).json()
    assert since_reset["summary"]["exercised"] == 1
    text = http.get(admin, params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("langdock-mock contract coverage: 3/")
    assert http.get(admin, params={"since": "yesterday"}).status_code == 400
    assert http.delete(admin).json() == {"status": "cleared"}
    assert http.get(admin).json()["summary"]["exercised"] == 0  # admin calls are not counted


def test_the_plugin_prints_the_report_at_session_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_create(langdock_client):
            response = langdock_client.post("/assistant/v1/create", json={"name": "A"})
            assert response.status_code == 201

        def test_not_found(langdock_client):
            response = langdock_client.get(
                "/assistant/v1/get", params={"assistantId": "00000000-0000-4000-8000-000000000000"}
            )
            assert response.status_code == 404
        """
    )
    result = pytester.runpytest_inprocess(
        *PLUGIN_ARGS, "-p", "no:cacheprovider", "--langdock-mock-coverage"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*- langdock-mock contract coverage -*",
            "langdock-mock contract coverage: 2/* operations called, 2/* documented statuses seen*",
            "  never saw a 400, 401, 403, 404 or 413 on assistant.create (*)",
            "  never saw a successful 200 from assistant.get (GET /assistant/v1/get)",
            "  never called assistant.completions (POST /assistant/v1/chat/completions)",
        ],
        consecutive=False,
    )


def test_without_the_option_nothing_is_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(langdock_client):\n    pass\n")
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "contract coverage" not in result.stdout.str()


def test_the_option_without_a_server_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess(
        *PLUGIN_ARGS, "-p", "no:cacheprovider", "--langdock-mock-coverage"
    )
    result.stdout.fnmatch_lines(
        ["*langdock-mock contract coverage*", "no langdock-mock server ran"]
    )


def test_xdist_workers_hand_their_counts_to_the_controller() -> None:
    """The two halves of the xdist path, without spawning workers (that takes seconds)."""
    from types import SimpleNamespace

    from pytest_plugin import plugin

    worker = SimpleNamespace(stash=pytest.Stash(), workeroutput={})
    plugin._keep_coverage(worker, [{("assistant.create", 201): 2}])  # type: ignore[arg-type]
    plugin._keep_coverage(worker, [{("assistant.create", 201): 1}])  # type: ignore[arg-type]
    assert worker.workeroutput == {"langdock_mock_coverage": [["assistant.create", 201, 3]]}
    controller = SimpleNamespace(stash=pytest.Stash())
    for rows in (worker.workeroutput, {"langdock_mock_coverage": [["assistant.get", 404, 1]]}, {}):
        plugin.pytest_testnodedown(SimpleNamespace(config=controller, workeroutput=rows), None)
    assert controller.stash[plugin._COVERAGE] == {
        ("assistant.create", 201): 3,
        ("assistant.get", 404): 1,
    }
