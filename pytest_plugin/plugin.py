"""pytest11 entry point of langdock-mock: fixtures for a live mock server (imports only pytest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from mockserver.config import Settings
    from mockserver.server import MockServer

__all__ = [
    "langdock_client",
    "langdock_env",
    "langdock_mock",
    "langdock_mock_server",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "pytest_terminal_summary",
]

# Option name -> (help, default as the ini file would spell it).
_OPTIONS = {
    "profile": ("contract profile: seed or 2026", "seed"),
    "seed": ("seed for deterministic ids, replies and fault rolls", "0"),
    "strict": ("fail a test whose client sent unknown fields or got a 400", "false"),
    "store": ("memory, or redis://HOST:PORT/DB to share state with other servers", "memory"),
    "store_namespace": (
        "key prefix in a shared store (xdist workers add their id)",
        "langdock-mock",
    ),
}
_SETTINGS = pytest.StashKey["Settings"]()
_COVERAGE = pytest.StashKey[dict[tuple[str, int], int]]()
# Marker argument -> the types it accepts (None always means "as the session has it").
_MARKER_KWARGS: dict[str, tuple[type, ...]] = {
    "profile": (str,),
    "seed": (int,),
    "scopes": (list, tuple, str),
    "rpm": (int,),
    "tpm": (int,),
    "strict": (bool,),
}
_MARKER = (
    "langdock_mock(profile=None, seed=None, scopes=None, rpm=None, tpm=None, strict=None): "
    "configure the langdock-mock server for this test"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--langdock-mock-{profile,seed,strict,store,store-namespace}`` and ini twins."""
    group = parser.getgroup("langdock_mock", "langdock-mock (contract mock of the Langdock API)")
    group.addoption(
        "--langdock-mock-profile", metavar="NAME", default=None, help=_OPTIONS["profile"][0]
    )
    group.addoption("--langdock-mock-seed", metavar="N", default=None, help=_OPTIONS["seed"][0])
    group.addoption(
        "--langdock-mock-strict", action="store_true", default=None, help=_OPTIONS["strict"][0]
    )
    group.addoption("--langdock-mock-store", metavar="URL", default=None, help=_OPTIONS["store"][0])
    group.addoption(
        "--langdock-mock-store-namespace",
        metavar="NAME",
        default=None,
        help=_OPTIONS["store_namespace"][0],
    )
    group.addoption(
        "--langdock-mock-coverage",
        action="store_true",
        default=False,
        help="print which operations and statuses the tests exercised, and which never",
    )
    for name, (text, default) in _OPTIONS.items():
        # An empty default lets an absent ini value give way to a LANGDOCK_MOCK_CONFIG file.
        parser.addini(f"langdock_mock_{name}", f"{text} (default: {default})", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``langdock_mock`` marker; check the options once, before any test runs."""
    from mockserver.errors import MockServerError

    config.addinivalue_line("markers", _MARKER)
    try:
        config.stash[_SETTINGS] = _settings_from(config)
    except MockServerError as error:
        raise pytest.UsageError(f"langdock-mock: {error}") from None


def pytest_report_header(config: pytest.Config) -> str:
    """``langdock-mock: N operations, profile P``."""
    from mockserver.errors import MockServerError
    from mockserver.schemas import load_bundle

    settings = config.stash[_SETTINGS]
    try:
        bundle = load_bundle(settings.schema_dir, settings.profile)
    except MockServerError as error:  # the fixtures will raise it; the header only says so
        return f"langdock-mock: schemas unusable: {error}"
    return f"langdock-mock: {len(bundle.operations)} operations, profile {settings.profile}"


def _settings_from(config: pytest.Config) -> Settings:
    """Settings for the session: CLI > LANGDOCK_MOCK_* > ini > LANGDOCK_MOCK_CONFIG > default."""
    from mockserver.config import ENV_PREFIX, load_settings

    chosen: dict[str, Any] = {}
    for name in _OPTIONS:
        cli = config.getoption(f"langdock_mock_{name}")
        env = os.environ.get(ENV_PREFIX + name.upper())
        ini = str(config.getini(f"langdock_mock_{name}")).strip()
        value = next((v for v in (cli, env, ini) if v not in (None, "")), None)
        if value is not None:
            chosen[name] = value
    # A fixture server always takes a free port on loopback, whatever a config file says.
    settings = load_settings(overrides=chosen).replace(host="127.0.0.1", port=0)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and settings.store != "memory":  # each worker resets its own namespace only
        settings = settings.replace(store_namespace=f"{settings.store_namespace}:{worker}")
    return settings


class _Servers:
    """The servers a session started, one per distinct Settings, stopped together at the end."""

    def __init__(self) -> None:
        self._running: dict[Settings, MockServer] = {}

    def get(self, settings: Settings) -> MockServer:
        server = self._running.get(settings)
        if server is None:
            from mockserver.server import MockServer

            server = self._running[settings] = MockServer(settings).start()
        return server

    def stop(self) -> None:
        for server in self._running.values():
            server.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def _langdock_mock_servers(pytestconfig: pytest.Config) -> Iterator[_Servers]:
    """Every langdock-mock server of the session (one set per xdist worker), stopped at the end."""
    servers = _Servers()
    yield servers
    if pytestconfig.getoption("langdock_mock_coverage"):
        _keep_coverage(pytestconfig, [s.state.run_coverage for s in servers._running.values()])
    servers.stop()


def _keep_coverage(config: pytest.Config, counts: list[dict[tuple[str, int], int]]) -> None:
    from mockserver.contract.coverage import counts_to_json, merge_counts

    merged = merge_counts(
        *([config.stash[_COVERAGE]] if _COVERAGE in config.stash else []), *counts
    )
    config.stash[_COVERAGE] = merged
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller prints the report
        config.workeroutput["langdock_mock_coverage"] = counts_to_json(merged)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: add a finished worker's contract coverage to the session's."""
    rows = getattr(node, "workeroutput", {}).get("langdock_mock_coverage")
    if rows is not None:
        from mockserver.contract.coverage import counts_from_json

        _keep_coverage(node.config, [counts_from_json(rows)])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """``--langdock-mock-coverage``: the contract coverage report of the session's servers."""
    if not config.getoption("langdock_mock_coverage"):
        return
    from mockserver.contract.coverage import coverage_report, format_coverage
    from mockserver.schemas import load_bundle

    terminalreporter.write_sep("-", "langdock-mock contract coverage")
    if _COVERAGE not in config.stash:
        terminalreporter.write_line("no langdock-mock server ran")
        return
    settings = config.stash[_SETTINGS]
    bundle = load_bundle(settings.schema_dir, settings.profile)
    counts: dict[tuple[str, int], int] = config.stash[_COVERAGE]
    terminalreporter.write_line(format_coverage(coverage_report(bundle, counts)))


@pytest.fixture(scope="session")
def langdock_mock_server(
    pytestconfig: pytest.Config, _langdock_mock_servers: _Servers
) -> MockServer:
    """The session's live langdock-mock server on 127.0.0.1; never reset (use ``isolated()``)."""
    return _langdock_mock_servers.get(pytestconfig.stash[_SETTINGS])


def _marker_kwargs(node: pytest.Item) -> dict[str, Any]:
    from mockserver.errors import ConfigError

    merged: dict[str, Any] = {}
    for marker in node.iter_markers("langdock_mock"):  # the closest marker wins
        if marker.args:
            raise ConfigError("@pytest.mark.langdock_mock takes keyword arguments only")
        for name, value in marker.kwargs.items():
            if name not in _MARKER_KWARGS:
                raise ConfigError(
                    f"@pytest.mark.langdock_mock: unknown argument {name!r}; "
                    f"expected one of {', '.join(_MARKER_KWARGS)}"
                )
            kinds = _MARKER_KWARGS[name]
            if value is not None and (
                not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
            ):
                raise ConfigError(
                    f"@pytest.mark.langdock_mock: {name}={value!r}, expected {kinds[0].__name__}"
                )
            merged.setdefault(name, value)
    return merged


@pytest.fixture
def langdock_mock(
    request: pytest.FixtureRequest,
    langdock_mock_server: MockServer,
    _langdock_mock_servers: _Servers,
) -> Iterator[MockServer]:
    """The langdock-mock server, reset before the test, configured by its marker, checked after."""
    from mockserver.contract.strict import find_violations, format_violations

    options = _marker_kwargs(request.node)
    server = langdock_mock_server
    changes = {k: options[k] for k in ("profile", "seed", "strict") if options.get(k) is not None}
    # Settings are immutable: other ones need a server of their own (shared by such tests).
    if changes and server.settings.replace(**changes) != server.settings:
        server = _langdock_mock_servers.get(server.settings.replace(**changes))
    server.reset()  # at set-up, so a test that crashed mid-way cannot leak into this one
    if options.get("scopes") is not None:
        scopes = options["scopes"]
        server.api_key = server.add_key(scopes=[scopes] if isinstance(scopes, str) else scopes)
    if options.get("rpm") is not None or options.get("tpm") is not None:
        server.set_limits(rpm=options.get("rpm"), tpm=options.get("tpm"))
    yield server
    server.check_failures()
    if server.settings.strict:
        with server.state.lock:
            violations = find_violations(server.state.journal.entries())
        if violations:
            pytest.fail(format_violations(violations), pytrace=False)


@pytest.fixture
def langdock_client(langdock_mock: MockServer) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` with the mock's ``base_url`` and ``Authorization: Bearer`` key."""
    import httpx

    headers = {"Authorization": f"Bearer {langdock_mock.api_key}"}
    with httpx.Client(base_url=langdock_mock.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def langdock_env(langdock_mock: MockServer, monkeypatch: pytest.MonkeyPatch) -> MockServer:
    """``LANGDOCK_BASE_URL`` and ``LANGDOCK_API_KEY`` set to the mock for this test only."""
    monkeypatch.setenv("LANGDOCK_BASE_URL", langdock_mock.url)
    monkeypatch.setenv("LANGDOCK_API_KEY", langdock_mock.api_key)
    return langdock_mock
