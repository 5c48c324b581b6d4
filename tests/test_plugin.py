"""The pytest plugin, driven through pytester: fixtures, marker, options, strict mode, xdist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from mockserver.schemas import load_bundle
from pytest_plugin import plugin
from tests.docpages import code_spans, page_text, table

# Without an installed distribution (a bare checkout), load the module by name instead.
INSTALLED = bool(entry_points(group="pytest11", name="langdock_mock"))
PLUGIN_ARGS: tuple[str, ...] = () if INSTALLED else ("-p", "pytest_plugin.plugin")
needs_entry_point = pytest.mark.skipif(not INSTALLED, reason="langdock-mock is not installed")

UNRELATED_PLUGINS = ("cacheprovider", "schemathesis", "anyio", "faker", "hypothesispytest")

CREATE = "/assistant/v1/create"
COMPLETE = "/assistant/v1/chat/completions"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own LANGDOCK_* settings must not change what the inner runs see.
    for name in list(os.environ):
        if name.startswith(("LANGDOCK_MOCK_", "LANGDOCK_BASE_URL", "LANGDOCK_API_KEY")):
            monkeypatch.delenv(name)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process run of the files made so far, with the plugin loaded."""
    return pytester.runpytest_inprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)


def test_the_module_imports_only_pytest() -> None:
    code = (
        "import sys, pytest_plugin.plugin; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mockserver', 'uvicorn', 'httpx', 'starlette', 'jsonschema_rs', 'hypothesis'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@needs_entry_point
def test_the_entry_point_is_named_langdock_mock_and_can_be_disabled(
    pytester: pytest.Pytester,
) -> None:
    [entry] = entry_points(group="pytest11", name="langdock_mock")
    assert entry.value == "pytest_plugin.plugin"
    pytester.makepyfile("def test_uses(langdock_mock):\n    pass\n")
    result = run(pytester, "-p", "no:langdock_mock")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'langdock_mock' not found*"])


def test_fixtures_show_one_line_docstrings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester, "--fixtures")
    for name in ("langdock_mock_server", "langdock_mock", "langdock_client", "langdock_env"):
        fixture = getattr(plugin, name)
        doc = (fixture.__doc__ or "").strip()
        assert doc, name
        assert "\n" not in doc, name
        result.stdout.fnmatch_lines([f"{name}*", f"    {doc}"])


def test_report_header_names_operations_and_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    count = len(load_bundle(None, "2026").operations)
    result = run(pytester, "--langdock-mock-profile=2026")
    result.stdout.fnmatch_lines([f"langdock-mock: {count} operations, profile 2026"])


def test_report_header_says_when_the_schemas_are_unusable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGDOCK_MOCK_SCHEMA_DIR", str(pytester.path / "nowhere"))
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["langdock-mock: schemas unusable: api.json: cannot read*"])


def test_handle_fixtures_and_isolation_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import httpx
        from mockserver import MockServer

        SEEN = {{}}
        CLIENTS = []

        def test_first(langdock_mock, langdock_mock_server, langdock_client):
            assert isinstance(langdock_mock, MockServer)
            assert langdock_mock is langdock_mock_server
            assert langdock_mock.url.startswith("http://127.0.0.1:")
            assert not langdock_mock.url.endswith(":8080")
            assert str(langdock_client.base_url).rstrip("/") == langdock_mock.url
            assert langdock_client.headers["Authorization"] == "Bearer " + langdock_mock.api_key
            created = langdock_client.post("{CREATE}", json={{"name": "Doc", "instruction": "Hi"}})
            assert created.status_code == 201
            langdock_mock.assert_called("{CREATE}", times=1, method="POST")
            [entry] = langdock_mock.requests
            assert (entry.method, entry.path, entry.status) == ("POST", "{CREATE}", 201)
            assert entry.json == {{"name": "Doc", "instruction": "Hi"}}
            SEEN["url"] = langdock_mock.url
            SEEN["id"] = created.json()["assistant"]["id"]
            CLIENTS.append(langdock_client)

        def test_second_sees_nothing_of_the_first(langdock_mock, langdock_client):
            assert CLIENTS[0].is_closed
            assert langdock_mock.url == SEEN["url"]
            assert langdock_mock.requests == []
            got = langdock_client.get("/assistant/v1/get", params={{"assistantId": SEEN["id"]}})
            assert got.status_code == 404
            langdock_mock.assert_called("/assistant/v1/get", times=1)

        def test_handle_helpers(langdock_mock, langdock_client):
            key = langdock_mock.add_key(scopes=["KNOWLEDGE_FOLDER_API"])
            denied = langdock_client.post(
                "{CREATE}", json={{"name": "x"}}, headers={{"Authorization": "Bearer " + key}}
            )
            assert denied.status_code == 403
            langdock_mock.set_limits(rpm=1)
            body = {{"assistant": {{"name": "a", "instructions": "b"}},
                    "messages": [{{"role": "user", "content": "hi"}}]}}
            langdock_mock.reply_with("scripted")
            first = langdock_client.post("{COMPLETE}", json=body)
            assert first.json()["result"][0]["content"][0]["text"] == "scripted"
            assert langdock_client.post("{COMPLETE}", json=body).status_code == 429
            langdock_mock.advance_clock(61)
            assert langdock_client.post("{COMPLETE}", json=body).status_code == 200
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_langdock_env_is_set_for_the_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os

        def test_env(langdock_env):
            assert os.environ["LANGDOCK_BASE_URL"] == langdock_env.url
            assert os.environ["LANGDOCK_API_KEY"] == langdock_env.api_key

        def test_after():
            assert "LANGDOCK_BASE_URL" not in os.environ
            assert "LANGDOCK_API_KEY" not in os.environ
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_marker_configures_one_test(pytester: pytest.Pytester) -> None:
    long_name = "n" * 100  # under 255 (seed profile), over 80 (2026 profile)
    pytester.makepyfile(
        f"""
        import pytest

        URLS = {{}}
        BODY = {{"assistant": {{"name": "a", "instructions": "b"}},
                "messages": [{{"role": "user", "content": "hi"}}]}}

        def test_default(langdock_mock, langdock_client):
            URLS["default"] = langdock_mock.url
            created = langdock_client.post("{CREATE}", json={{"name": "{long_name}"}})
            assert created.status_code == 201

        @pytest.mark.langdock_mock(profile="2026")
        def test_profile(langdock_mock, langdock_client):
            assert langdock_mock.url != URLS["default"]
            assert langdock_mock.settings.profile == "2026"
            refused = langdock_client.post("{CREATE}", json={{"name": "{long_name}"}})
            assert refused.status_code == 400
            URLS["2026"] = langdock_mock.url

        @pytest.mark.langdock_mock(profile="2026")
        def test_same_settings_reuse_the_dedicated_server(langdock_mock):
            assert langdock_mock.url == URLS["2026"]
            assert langdock_mock.requests == []

        @pytest.mark.langdock_mock(seed=7)
        def test_seed(langdock_mock):
            assert langdock_mock.settings.seed == 7
            assert langdock_mock.url not in URLS.values()

        @pytest.mark.langdock_mock(scopes="KNOWLEDGE_FOLDER_API")
        def test_one_scope_as_a_string(langdock_client):
            assert langdock_client.post("{CREATE}", json={{"name": "x"}}).status_code == 403

        @pytest.mark.langdock_mock(scopes=["KNOWLEDGE_FOLDER_API"])
        def test_scopes(langdock_mock, langdock_client):
            assert langdock_mock.api_key != "sk-ld-mock"
            assert langdock_mock.url == URLS["default"]
            denied = langdock_client.post("{CREATE}", json={{"name": "x"}})
            assert denied.status_code == 403
            assert "AGENT_API" in denied.json()["message"]

        def test_scopes_do_not_leak(langdock_mock):
            assert langdock_mock.api_key == "sk-ld-mock"

        @pytest.mark.langdock_mock(rpm=1)
        def test_rpm(langdock_client):
            assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 200
            assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 429

        @pytest.mark.langdock_mock(tpm=5)
        def test_tpm(langdock_client):
            long = {{**BODY, "messages": [{{"role": "user", "content": "x" * 40}}]}}
            refused = langdock_client.post("{COMPLETE}", json=long)
            assert refused.status_code == 429
            assert "5 tokens per minute" in refused.json()["message"]

        @pytest.mark.langdock_mock(rpm=1)
        class TestOnAClass:
            @pytest.mark.langdock_mock(rpm=2)
            def test_closest_marker_wins(self, langdock_client):
                for _ in range(2):
                    assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 200
                assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 429
        """
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=10)


def test_a_conftest_can_override_the_session_server(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from mockserver import MockServer

        @pytest.fixture(scope="session")
        def langdock_mock_server():
            with MockServer(api_key="sk-ld-team", default_rpm=1) as server:
                yield server
        """
    )
    pytester.makepyfile(
        f"""
        import pytest

        BODY = {{"assistant": {{"name": "a", "instructions": "b"}},
                "messages": [{{"role": "user", "content": "hi"}}]}}

        def test_uses_the_override(langdock_mock, langdock_client):
            assert langdock_mock.api_key == "sk-ld-team"
            assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 200
            assert langdock_client.post("{COMPLETE}", json=BODY).status_code == 429

        @pytest.mark.langdock_mock(seed=3)
        def test_a_marker_builds_on_the_override(langdock_mock, langdock_mock_server):
            assert langdock_mock is not langdock_mock_server
            assert (langdock_mock.settings.seed, langdock_mock.api_key) == (3, "sk-ld-team")
            assert langdock_mock.settings.default_rpm == 1
        """
    )
    run(pytester).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("colour='blue'", "*unknown argument 'colour'; expected one of profile, seed, scopes*"),
        ("'2026'", "*takes keyword arguments only*"),
        ("profile='1999'", "*profile: '1999' is not one of seed, 2026*"),
        ("seed='7'", "*seed='7', expected int*"),
        ("strict=1", "*strict=1, expected bool*"),
        ("rpm=True", "*rpm=True, expected int*"),
        ("rpm=-1", "*rpm and tpm must not be negative*"),
    ],
    ids=[
        "unknown-kwarg",
        "positional",
        "bad-profile",
        "seed-type",
        "strict-type",
        "rpm-bool",
        "rpm",
    ],
)
def test_bad_marker_arguments_are_errors_naming_them(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.langdock_mock({marker})
        def test_it(langdock_mock):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ConfigError*", message])


SETTINGS_PROBE = """
def test_probe(langdock_mock_server):
    s = langdock_mock_server.settings
    assert (s.profile, s.seed, s.strict) == ({expected})
"""


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        ((), {}, {}, ("seed", 0, False)),
        ((), {}, {"profile": "2026", "seed": "3", "strict": "true"}, ("2026", 3, True)),
        (
            (),
            {"PROFILE": "seed", "SEED": "5", "STRICT": "false"},
            {"profile": "2026", "seed": "3", "strict": "true"},
            ("seed", 5, False),
        ),
        (
            ("--langdock-mock-profile=2026", "--langdock-mock-seed=7", "--langdock-mock-strict"),
            {"PROFILE": "seed", "SEED": "5", "STRICT": "false"},
            {"profile": "seed", "seed": "3"},
            ("2026", 7, True),
        ),
    ],
    ids=["default", "ini", "env-over-ini", "cli-over-env"],
)
def test_option_precedence_cli_env_ini_default(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cli: tuple[str, ...],
    env: dict[str, str],
    ini: dict[str, str],
    expected: tuple[str, int, bool],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv("LANGDOCK_MOCK_" + name, value)
    lines = "".join(f"langdock_mock_{name} = {value}\n" for name, value in ini.items())
    pytester.makeini("[pytest]\n" + lines)
    pytester.makepyfile(SETTINGS_PROBE.format(expected=repr(expected)[1:-1]))
    result = run(pytester, *cli)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"langdock-mock: * operations, profile {expected[0]}"])


def test_other_settings_pass_through_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGDOCK_MOCK_CHECK_RESPONSES", "true")
    monkeypatch.setenv("LANGDOCK_MOCK_PORT", "8999")  # ignored: fixtures take a free port
    pytester.makepyfile(
        """
        def test_probe(langdock_mock):
            assert langdock_mock.settings.check_responses
            assert not langdock_mock.url.endswith(":8999")
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_bad_option_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester, "--langdock-mock-seed=many")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*langdock-mock: seed: 'many' is not a number*"])


STRICT_TESTS = f"""
import pytest

def test_unknown_field(langdock_client):
    langdock_client.post("{CREATE}", json={{"name": "Doc", "instructions": "typo", "emoji": "x"}})

def test_invalid_body(langdock_client):
    langdock_client.post("{CREATE}", json={{"name": "", "creativity": 3}})

def test_clean(langdock_client):
    assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 201

@pytest.mark.langdock_mock(strict=False)
def test_opted_out(langdock_client):
    assert langdock_client.post("{CREATE}", json={{"name": "x", "bogus": 1}}).status_code == 201
"""


def test_strict_mode_fails_tests_with_what_was_sent_and_which_rule(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(STRICT_TESTS)
    result = run(pytester, "--langdock-mock-strict")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unknown_field*",
            "langdock-mock strict mode: 1 request(s) broke the API contract",
            f"POST {CREATE} -> 400",
            '  sent: {"name":"Doc","instructions":"typo","emoji":"x"}',
            "  broke: $.instructions unrecognized_keys: Unrecognized key: 'instructions' *",
            "*ERROR at teardown of test_invalid_body*",
            f"POST {CREATE} -> 400",
            "  broke: $.creativity too_big: Number must be less than or equal to 1*",
            "  broke: $.name too_small: String must contain at least 1 character(s)*",
        ]
    )


def test_without_strict_mode_the_same_tests_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(STRICT_TESTS)
    run(pytester).assert_outcomes(passed=4)


def test_strict_marker_on_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.langdock_mock(strict=True)
        def test_strict(langdock_mock, langdock_client):
            assert langdock_mock.settings.strict
            langdock_client.post("{CREATE}", json={{"name": "Doc", "colour": "red"}})

        def test_lenient(langdock_mock, langdock_client):
            assert not langdock_mock.settings.strict
            langdock_client.post("{CREATE}", json={{"name": "Doc", "colour": "red"}})
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*$.colour unrecognized_keys*"])


def test_an_exception_inside_the_mock_fails_the_test_that_caused_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        def explode(body):
            raise RuntimeError("boom in the reply function")

        def test_causes(langdock_mock, langdock_client):
            langdock_mock.reply_with(explode)
            body = {{"assistant": {{"name": "a", "instructions": "b"}},
                    "messages": [{{"role": "user", "content": "hi"}}]}}
            assert langdock_client.post("{COMPLETE}", json=body).status_code == 500

        def test_next_is_clean(langdock_mock):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_causes*",
            "*MockServerError: langdock-mock failed while serving:*",
            "*in explode*",
            "*RuntimeError: boom in the reply function*",
        ]
    )


def test_a_crashed_test_leaks_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_crashes(langdock_mock, langdock_client):
            langdock_client.post("{CREATE}", json={{"name": "Doc"}})
            langdock_mock.set_limits(rpm=0)
            raise ValueError("crash")

        def test_clean_slate(langdock_mock, langdock_client):
            assert langdock_mock.requests == []
            assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 201
        """
    )
    run(pytester).assert_outcomes(passed=1, failed=1)


def test_fail_next_is_on_the_handle(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_fault(langdock_mock, langdock_client):
            langdock_mock.fail_next(status=503, times=1)
            assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 503
            assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 201

        def test_faults_are_reset(langdock_client):
            assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 201

        def test_an_injected_400_is_not_a_contract_violation(langdock_mock, langdock_client):
            langdock_mock.fail_next(status=400)
            assert langdock_client.post("{CREATE}", json={{"name": "Doc"}}).status_code == 400
        """
    )
    run(pytester, "--langdock-mock-strict").assert_outcomes(passed=3)


def test_xdist_workers_have_their_own_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = pytester.path / "seen"
    out.mkdir()
    pytester.makepyfile(
        f"""
        import json, os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_worker(langdock_mock, langdock_client, n):
            created = langdock_client.post("{CREATE}", json={{"name": f"Doc {{n}}"}})
            assert created.status_code == 201
            assert [r.json for r in langdock_mock.requests] == [{{"name": f"Doc {{n}}"}}]
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open(os.path.join({str(out)!r}, f"{{n}}.json"), "w") as f:
                json.dump([worker, langdock_mock.url], f)
        """
    )
    # The workers run in pytester's folder: make this checkout importable there.
    repo = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    )
    # Plugins this run does not need only slow down the start of each worker.
    unrelated = [arg for name in UNRELATED_PLUGINS for arg in ("-p", f"no:{name}")]
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, *unrelated, "-n", "2")
    result.assert_outcomes(passed=4)
    seen = [json.loads(p.read_text()) for p in sorted(out.iterdir())]
    urls = dict(seen)
    assert len(urls) == 2, seen
    assert len(set(urls.values())) == 2, seen


PYTEST_PAGE = "docs/pytest.md"


def test_the_fixture_table_lists_exactly_the_plugins_fixtures() -> None:
    rows = table(page_text(PYTEST_PAGE), "| fixture |")
    named = [code_spans(row[0])[0] for row in rows]
    assert named == ["langdock_mock_server", "langdock_mock", "langdock_client", "langdock_env"]
    scopes = {"langdock_mock_server": "session"}
    for name, row in zip(named, rows, strict=True):
        assert row[1] == scopes.get(name, "function")


def test_the_options_table_matches_the_plugins_options(pytester: pytest.Pytester) -> None:
    rows = table(page_text(PYTEST_PAGE), "| command line |")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    help_text = run(pytester, "--help").stdout.str()
    names = []
    for row in rows:
        flag, env, ini, default = (code_spans(cell)[0] for cell in row[:4])
        name = ini.removeprefix("langdock_mock_")
        names.append(name)
        assert flag.split("=")[0] == "--langdock-mock-" + name.replace("_", "-")
        assert env == "LANGDOCK_MOCK_" + name.upper()
        assert flag.split("=")[0] in help_text
        assert f"{ini} (string)" in help_text
        assert default == plugin._OPTIONS[name][1]
    assert names == list(plugin._OPTIONS)


def test_the_marker_signature_and_handle_members_exist() -> None:
    from mockserver.server import MockServer

    text = page_text(PYTEST_PAGE)
    [signature] = set(re.findall(r"@pytest\.mark\.langdock_mock\((\w+=(?:, \w+=)*)\)", text))
    assert tuple(part.rstrip("=") for part in signature.split(", ")) == tuple(plugin._MARKER_KWARGS)
    for row in table(text, "| member |"):
        for member in code_spans(row[0]):
            name = member.split("(")[0]
            assert hasattr(MockServer, name) or name in ("url", "api_key"), name
