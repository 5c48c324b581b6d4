"""Settings: embedded defaults, TOML file, LANGDOCK_MOCK_* variables, overrides, and precedence."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.config import (
    ALL_SCOPES,
    DEFAULT_API_KEY,
    KeySpec,
    Settings,
    default_schema_dir,
    load_settings,
)
from mockserver.errors import ConfigError
from tests.docpages import blocks, page_text

REPO_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EXAMPLE = """
profile = "2026"
seed = 7
strict = true
api_key = "sk-ld-root"
unshared_status = 403
journal_size = 50

[[workspaces]]
id = "acme"
default_model = "gpt-5"

[[workspaces]]
id = "globex"

[[keys]]
key = "sk-acme-reader"
workspace = "acme"
scopes = ["ASSISTANT_API"]

[[keys]]
key = "sk-globex-admin"
workspace = "globex"
scopes = ["AGENT_API", "KNOWLEDGE_FOLDER_API"]
admin = true

[[models]]
id = "gpt-5"
created = 1754524800000
region = "global"
supports_extended_thinking = true

[[models]]
id = "mistral-large-2411"

[[limits]]
workspace = "acme"
model = "gpt-5"
rpm = 10
tpm = 1000
"""


def write(tmp_path: Path, text: str, name: str = "mock.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_defaults() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.profile, settings.seed) == (
        "127.0.0.1",
        8080,
        "seed",
        0,
    )
    [key] = settings.all_keys()
    assert key == KeySpec(DEFAULT_API_KEY, "default", ALL_SCOPES, admin=True)
    assert [w.id for w in settings.workspaces] == ["default"]
    assert len(settings.models) >= 4


def test_a_toml_file_declares_everything(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EXAMPLE), env={})
    assert (settings.profile, settings.seed, settings.strict) == ("2026", 7, True)
    assert (settings.unshared_status, settings.journal_size) == (403, 50)
    assert [w.id for w in settings.workspaces] == ["acme", "globex"]
    assert [k.key for k in settings.all_keys()] == [
        "sk-ld-root",
        "sk-acme-reader",
        "sk-globex-admin",
    ]
    assert settings.all_keys()[0].workspace == "acme"  # the embedded key joins the first one
    assert [m.id for m in settings.models] == ["gpt-5", "mistral-large-2411"]
    [limit] = settings.limits
    assert (limit.workspace, limit.model, limit.rpm, limit.tpm) == ("acme", "gpt-5", 10, 1000)


def test_a_server_from_the_example_file_behaves_as_declared(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EXAMPLE), env={})
    client = TestClient(create_app(settings.replace(freeze_clock=True)))
    reader = {"Authorization": "Bearer sk-acme-reader"}
    admin = {"Authorization": "Bearer sk-globex-admin"}
    created = client.post("/assistant/v1/create", json={"name": "A"}, headers=reader)
    assert created.status_code == 201
    assert created.json()["assistant"]["model"] == "gpt-5"  # acme's default model
    assert "extendedThinking" in created.json()["assistant"]  # profile 2026
    assistant_id = created.json()["assistant"]["id"]
    other = client.get("/assistant/v1/get", params={"assistantId": assistant_id}, headers=admin)
    assert other.status_code == 404  # another workspace
    strict = client.post("/assistant/v1/create", json={"name": "B", "x": 1}, headers=reader)
    assert strict.status_code == 400
    models = client.get("/assistant/v1/models", headers=admin).json()["data"]
    assert [(m["id"], m["region"]) for m in models] == [
        ("gpt-5", "global"),
        ("mistral-large-2411", "eu"),
    ]
    root = {"Authorization": "Bearer sk-ld-root"}
    assert client.get("/assistant/v1/models", headers=root).status_code == 200
    with client.app.state.mock.lock:  # type: ignore[attr-defined]
        limits = client.app.state.mock.limiter.limits_for("acme", "gpt-5")  # type: ignore[attr-defined]
    assert tuple(limits) == (10, 1000)


def test_a_file_may_redefine_the_embedded_key(tmp_path: Path) -> None:
    text = '[[keys]]\nkey = "sk-ld-mock"\nscopes = ["AGENT_API"]\n'
    [key] = load_settings(write(tmp_path, text), env={}).all_keys()
    assert key == KeySpec("sk-ld-mock", "default", ("AGENT_API",), admin=False)


# Every scalar setting has a LANGDOCK_MOCK_* variable.
SCALARS = {
    name: hint
    for name, hint in typing.get_type_hints(Settings).items()
    if name not in ("workspaces", "keys", "models", "limits")
}
ENV_VALUES: dict[str, tuple[str, Any]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("9000", 9000),
    "profile": ("2026", "2026"),
    "seed": ("42", 42),
    "strict": ("true", True),
    "api_key": ("sk-env", "sk-env"),
    "schema_dir": (str(REPO_SCHEMAS), REPO_SCHEMAS),
    "max_body_bytes": ("2048", 2048),
    "max_upload_bytes": ("4096", 4096),
    "max_knowledge_bytes": ("8192", 8192),
    "journal_size": ("5", 5),
    "rate_limit_headers": ("yes", True),
    "rate_limits": ("off", False),
    "default_rpm": ("7", 7),
    "default_tpm": ("70", 70),
    "chars_per_token": ("3", 3),
    "unshared_status": ("403", 403),
    "check_responses": ("1", True),
    "allow_fault_header": ("on", True),
    "admin_token": ("secret", "secret"),
    "admin_open": ("TRUE", True),
    "allow_browser": ("yes", True),
    "freeze_clock": ("1", True),
    "clock_start": ("1700000000.5", 1_700_000_000.5),
    "stream_chunk_chars": ("8", 8),
    "stream_delay_ms": ("5", 5),
    "store": ("redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/1"),
    "store_namespace": ("suite-b", "suite-b"),
    "workers": ("1", 1),  # more than one needs a store too: tests/test_stores.py
    "upstream": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    "upstream_timeout": ("2.5", 2.5),
    "upstream_connect_timeout": ("1", 1.0),
    "validate": ("enforce", "enforce"),
    "record": ("rec.jsonl", Path("rec.jsonl")),
    "record_format": ("har", "har"),
    "redact": ("messages.*.content, description", ("messages.*.content", "description")),
    "replay": ("rec.jsonl", Path("rec.jsonl")),
    "replay_match": ("operation", "operation"),
    "replay_ignore": ("messages.*.id", ("messages.*.id",)),
    "replay_speed": ("0", 0.0),
    "replay_auth": ("off", False),
}


def test_every_scalar_setting_has_an_env_example() -> None:
    assert set(ENV_VALUES) == set(SCALARS)


@pytest.mark.parametrize(("name", "raw", "expected"), [(n, *v) for n, v in ENV_VALUES.items()])
def test_every_setting_reads_its_environment_variable(name: str, raw: str, expected: Any) -> None:
    settings = load_settings(env={f"LANGDOCK_MOCK_{name.upper()}": raw})
    assert getattr(settings, name) == expected


def test_an_empty_admin_token_variable_means_none() -> None:
    assert load_settings(env={"LANGDOCK_MOCK_ADMIN_TOKEN": ""}).admin_token is None


@pytest.mark.parametrize(
    ("file", "env", "cli", "expected"),
    [
        (None, None, None, 0),
        (1, None, None, 1),
        (1, 2, None, 2),
        (1, 2, 3, 3),
        (None, 2, 3, 3),
        (1, None, 3, 3),
    ],
    ids=["default", "file", "env-over-file", "cli-over-all", "cli-over-env", "cli-over-file"],
)
def test_precedence_cli_env_file_default(
    tmp_path: Path, file: int | None, env: int | None, cli: int | None, expected: int
) -> None:
    config = write(tmp_path, f"seed = {file}\n") if file is not None else None
    variables = {"LANGDOCK_MOCK_SEED": str(env)} if env is not None else {}
    settings = load_settings(config, env=variables, overrides={"seed": cli})
    assert settings.seed == expected


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, 'profile = "2026"\n')
    assert load_settings(env={"LANGDOCK_MOCK_CONFIG": str(path)}).profile == "2026"
    other = write(tmp_path, 'profile = "seed"\n', "other.toml")
    # An explicit path (the --config option) wins over the variable.
    assert load_settings(other, env={"LANGDOCK_MOCK_CONFIG": str(path)}).profile == "seed"


BAD_FILES = [
    ("profile = 2025\n", "profile: '2025' is not one of seed, 2026"),
    ("colour = 'blue'\n", "unknown option 'colour'"),
    ("seed = 'many'\n", "seed: 'many' is not a number"),
    ("strict = 'maybe'\n", "strict: 'maybe' is not a boolean"),
    ("port = true\n", "port: True is not a number"),
    ("port = 70000\n", "port: 70000 is not between 0 and 65535"),
    ("unshared_status = 500\n", "unshared_status: must be 403 or 404"),
    ("max_body_bytes = 0\n", "max_body_bytes: must be at least 1"),
    ("journal_size = -1\n", "journal_size: must be at least 1"),
    ("models = []\n", "models: the catalogue needs at least one model"),
    ("workspaces = []\n", "workspaces: at least one workspace is needed"),
    ("[[keys]]\nkey = 'k'\nworkspace = 'nowhere'\n", "names unknown workspace 'nowhere'"),
    ("[[keys]]\nkey = 'k'\nscopes = 'AGENT_API'\n", "scopes must be a list of strings"),
    ("[[keys]]\nworkspace = 'default'\n", "bad table"),
    ("[[keys]]\nkey = 'k'\nrole = 'x'\n", "bad table"),
    ("[[workspaces]]\nid = 'w'\nactions = 'a'\n", "actions must be a list of strings"),
    ("[[models]]\nname = 'x'\n", "bad table"),
    ("this is not toml\n", "is not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(write(tmp_path, text), env={})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.toml", env={})


def test_bad_variables_and_overrides_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="rate_limits: 'sometimes' is not a boolean"):
        load_settings(env={"LANGDOCK_MOCK_RATE_LIMITS": "sometimes"})
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(env={}, overrides={"colour": "blue"})


def test_settings_are_immutable_and_replace_validates() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1  # type: ignore[misc]
    assert settings.replace(seed=3).seed == 3
    with pytest.raises(ConfigError, match="profile"):
        settings.replace(profile="2027")


def test_schema_dir_order_setting_env_packaged_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANGDOCK_MOCK_SCHEMA_DIR", raising=False)
    assert default_schema_dir(tmp_path) == tmp_path
    found = default_schema_dir()
    assert (found / "api.json").is_file()
    assert found.name in ("schemas", "_schemas")
    monkeypatch.setenv("LANGDOCK_MOCK_SCHEMA_DIR", str(tmp_path))
    assert default_schema_dir() == tmp_path
    assert default_schema_dir(REPO_SCHEMAS) == REPO_SCHEMAS


def page_rows(name: str) -> list[list[str]]:
    """The table rows of a docs page, as lists of cells."""
    return [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in page_text(name).splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def test_the_configuration_table_matches_the_settings() -> None:
    """Every setting is documented with its option, its variable and its real default."""
    from click.testing import CliRunner

    from mockserver.cli import cli

    help_text = "".join(
        CliRunner().invoke(cli, [command, "--help"]).output for command in ("serve", "proxy")
    )
    # The proxy's and replay's settings are documented on their own page.
    table = page_rows("docs/configuration.md") + page_rows("docs/proxy-record-replay.md")
    rows = {row[0].strip("`"): row for row in table if row[0].startswith("`") and len(row) == 5}
    assert set(SCALARS) <= set(rows)
    defaults = Settings()
    for name in SCALARS:
        _, option, variable, default, _ = rows[name]
        assert variable == f"`LANGDOCK_MOCK_{name.upper()}`"
        for flag in re.findall(r"--[a-z-]+", option):
            assert flag in help_text, flag
        if re.fullmatch(r"`[^`]+`", default):
            literal, actual = default.strip("`"), getattr(defaults, name)
            if isinstance(actual, bool):
                assert literal == str(actual).lower(), name
            elif isinstance(actual, int | float):
                assert float(literal) == actual, name
            elif isinstance(actual, tuple):
                assert (literal, actual) == ("[]", ()), name
            else:
                assert literal == actual, name


@pytest.mark.parametrize("page", ["docs/configuration.md", "docs/rate-limits.md"])
def test_the_toml_files_of_the_docs_load(page: str, tmp_path: Path) -> None:
    [block] = [b for b in blocks(page) if b.lang == "toml"]
    config = tmp_path / "mock.toml"
    config.write_text(block.code, encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings.limits, "both files declare [[limits]]"
    if page == "docs/configuration.md":
        assert (settings.profile, settings.seed, settings.strict) == ("2026", 7, True)
        assert [w.id for w in settings.workspaces] == ["acme", "globex"]
