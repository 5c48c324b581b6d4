"""The command line: --help, serve's options, check, routes, and a real `serve` process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from mockserver.cli import cli, main
from mockserver.config import Settings
from tests.test_schemas import copy_schemas, edit_schema

REPO = Path(__file__).resolve().parent.parent
FIELDS = "defs/assistant-fields.json"
MODELS = "responses/models.json"


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("serve", "check", "routes", "health"):
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE), command
    assert "LANGDOCK_MOCK_" in result.output


# Every option of serve: its flag, the value given, the Settings field it sets.
SERVE_OPTIONS = [
    (["--host", "0.0.0.0"], "host", "0.0.0.0"),
    (["--port", "9001"], "port", 9001),
    (["--seed", "11"], "seed", 11),
    (["--profile", "2026"], "profile", "2026"),
    (["--strict"], "strict", True),
    (["--api-key", "sk-cli"], "api_key", "sk-cli"),
    (["--rate-limit-headers"], "rate_limit_headers", True),
    (["--no-rate-limits"], "rate_limits", False),
    (["--rpm", "9"], "default_rpm", 9),
    (["--tpm", "99"], "default_tpm", 99),
    (["--freeze-clock"], "freeze_clock", True),
    (["--unshared-status", "403"], "unshared_status", 403),
    (["--max-body-bytes", "512"], "max_body_bytes", 512),
    (["--max-upload-bytes", "1024"], "max_upload_bytes", 1024),
    (["--stream-chunk-chars", "4"], "stream_chunk_chars", 4),
    (["--stream-delay-ms", "3"], "stream_delay_ms", 3),
    (["--admin-token", "tok"], "admin_token", "tok"),
    (["--admin-open"], "admin_open", True),
    (["--allow-fault-header"], "allow_fault_header", True),
    (["--check-responses"], "check_responses", True),
    (["--journal-size", "12"], "journal_size", 12),
    (["--chars-per-token", "2"], "chars_per_token", 2),
    (["--schemas", str(REPO / "schemas")], "schema_dir", REPO / "schemas"),
]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Settings]]:
    """serve's Settings, captured instead of running uvicorn."""
    captured: list[Settings] = []

    def run(self: uvicorn.Server, sockets: Any = None) -> None:
        app: Any = self.config.app
        captured.append(app.state.mock.settings)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    previous = signal.getsignal(signal.SIGTERM)
    yield captured
    signal.signal(signal.SIGTERM, previous)


def test_serve_help_documents_every_option() -> None:
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    for flags, field, _ in SERVE_OPTIONS:
        assert flags[0] in result.output
        assert f"LANGDOCK_MOCK_{field.upper()}" in result.output.replace("\n", "")
    assert "--config" in result.output
    assert "--limit" in result.output


@pytest.mark.parametrize(
    ("flags", "field", "expected"), SERVE_OPTIONS, ids=[f[0] for f, _, _ in SERVE_OPTIONS]
)
def test_serve_options_set_their_setting(
    served: list[Settings], flags: list[str], field: str, expected: Any
) -> None:
    result = invoke("serve", *flags, env={})
    assert result.exit_code == 0, result.output
    [settings] = served
    assert getattr(settings, field) == expected
    assert getattr(Settings(), field) != expected  # the flag changed something


def test_serve_precedence_option_env_file(served: list[Settings], tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('seed = 1\nprofile = "2026"\napi_key = "sk-file"\n', encoding="utf-8")
    env = {"LANGDOCK_MOCK_SEED": "2", "LANGDOCK_MOCK_API_KEY": "sk-env"}
    assert invoke("serve", "--config", str(config), "--seed", "3", env=env).exit_code == 0
    assert (served[0].seed, served[0].api_key, served[0].profile) == (3, "sk-env", "2026")


def test_serve_reports_bad_configuration(served: list[Settings], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 1
    assert "config: cannot read" in result.output
    result = CliRunner().invoke(cli, ["serve", "--profile", "2027"])
    assert result.exit_code == 2
    assert "2027" in result.output
    assert served == []


def test_check_validates_every_schema_of_both_profiles() -> None:
    result = invoke("check")
    assert (result.exit_code, result.output) == (0, "schemas ok\n")


def test_check_fails_on_a_broken_schema_folder(tmp_path: Path) -> None:
    broken = copy_schemas(tmp_path)
    # The 2026 patches leave inputType alone, so both profiles see the damage.
    edit_schema(broken, FIELDS, lambda d: d["$defs"]["inputType"].update(enum="PROMPT"))
    edit_schema(broken, MODELS, lambda d: d["properties"].update(object={"pattern": "("}))
    result = CliRunner().invoke(cli, ["check", "--schemas", str(broken)])
    assert result.exit_code == 1
    assert "defs/assistant-fields.json" in result.output
    assert "responses/models.json" in result.output  # one broken file does not hide another
    assert "seed:" in result.output
    assert "2026:" in result.output


def test_routes_lists_the_operations() -> None:
    result = invoke("routes")
    assert result.exit_code == 0
    for line in (
        r"POST\s+/assistant/v1/create\s+assistant\.create\s+AGENT_API",
        r"GET\s+/assistant/v1/models\s+assistant\.models\s+-",
        r"POST\s+/assistant/v1/chat/completions\s+assistant\.completions\s+AGENT_API",
    ):
        assert re.search(line, result.output), line


def test_main_takes_argv(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "langdock-mock" in capsys.readouterr().out


def test_python_dash_m_serve_prints_url_and_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "LANGDOCK_MOCK_API_KEY": "sk-ld-subprocess"}
    # --open hands the inspector's URL to $BROWSER: here a script that writes it down.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env["BROWSER"] = str(browser)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--seed", "5", "--open"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until the server announces itself
            match = re.fullmatch(
                r"langdock-mock \S+ listening on (http://127\.0\.0\.1:\d+) "
                r"\(profile seed, seed 5\) API key: (\S+)\n",
                line,
            )
            assert match, line
            url, key = match.groups()
            assert key == "sk-ld-subprocess"
            assert process.stdout.readline() == f"inspector: {url}/__admin/ui\n"
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
                assert http.get("/__admin/health").json()["status"] == "ok"
                created = http.post("/assistant/v1/create", json={"name": "Process"})
                assert created.status_code == 201
                assert http.get("/__admin/ui").status_code == 200
            for _ in range(100):  # the browser is launched from a thread: bounded wait
                if opened.exists() and opened.read_text():
                    break
                time.sleep(0.05)
            assert opened.read_text() == f"{url}/__admin/ui\n"
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in errors


def test_check_names_an_unresolvable_reference(tmp_path: Path) -> None:
    broken = copy_schemas(tmp_path)
    missing = {"$ref": "../defs/missing.json"}
    edit_schema(broken, MODELS, lambda d: d["properties"].update(object=missing))
    result = CliRunner().invoke(cli, ["check", "--schemas", str(broken)])
    assert result.exit_code == 1
    assert "defs/missing.json" in result.output
