"""Shared fixtures (an in-process client, live servers on 127.0.0.1) and the callgrind opt-in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

# httpx imports httpcore lazily, on its first request. Import it before any pytester in-process
# run: such a run drops the modules first imported inside it, and httpx would then keep mapping
# the exceptions of a discarded httpcore (a reset surfaced as httpcore.ReadError, not httpx's).
# httpx2 (under the provider SDKs) does the same with httpcore2. numpy (under bm25s, the knowledge
# search) cannot be imported twice in one process at all, so it must not be first imported there.
import httpcore  # noqa: F401
import httpcore2  # noqa: F401
import httpx
import numpy  # noqa: F401
import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from mockserver import MockServer, create_app
from mockserver.config import Settings
from tests.redis_server import RedisProcess, require_redis_server

pytest_plugins = ["pytester"]

settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci")

AUTH = {"Authorization": "Bearer sk-ld-mock"}
CALLGRIND_ENV = "LANGDOCK_MOCK_RUN_CALLGRIND"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--run-callgrind``: also run the tests marked ``callgrind`` (minutes under valgrind)."""
    parser.addoption(
        "--run-callgrind",
        action="store_true",
        help=f"run the callgrind benchmark tests too (or set {CALLGRIND_ENV}=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the ``callgrind`` tests unless asked for: a choice, not a failure."""
    if config.getoption("--run-callgrind") or os.environ.get(CALLGRIND_ENV) == "1":
        return
    deselected = [item for item in items if item.get_closest_marker("callgrind")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("callgrind")]


@pytest.fixture
def client() -> Iterator[TestClient]:
    """An in-process client of a fresh app with the embedded defaults and a frozen clock."""
    with TestClient(
        create_app(Settings(freeze_clock=True, check_responses=True)), headers=AUTH
    ) as test_client:
        yield test_client


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """A factory of in-process clients of fresh apps: ``make_client(profile="2026")``."""
    made: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(freeze_clock=True, check_responses=True).replace(**overrides)
        made.append(TestClient(create_app(settings), headers=AUTH))
        return made[-1]

    yield make
    for test_client in made:
        test_client.close()


@pytest.fixture(scope="session")
def live_server() -> Iterator[MockServer]:
    """One real server on 127.0.0.1 for the session (tests reset it through ``live``)."""
    with MockServer(check_responses=True) as server:
        yield server


@pytest.fixture
def live(live_server: MockServer) -> Iterator[MockServer]:
    """The session's live server, reset before the test and checked for mock failures after."""
    live_server.reset()
    yield live_server
    live_server.check_failures()


@pytest.fixture
def http(live: MockServer) -> Iterator[httpx.Client]:
    """An httpx client of the live server with the embedded key, over a real socket.

    Plain HTTP on loopback: verify=False spares building an SSL context (~200 ms under load).
    """
    with httpx.Client(base_url=live.url, headers=AUTH, timeout=10, verify=False) as http_client:
        yield http_client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A real redis-server for the session (skipped without it; a failure under CI=true)."""
    server = RedisProcess(require_redis_server(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of its own for each test, so tests on one Redis never see each other."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server_factory() -> Iterator[Callable[..., MockServer]]:
    """Start MockServers with overrides; stop them and re-raise mock failures at teardown."""
    started: list[MockServer] = []

    def start(**overrides: Any) -> MockServer:
        started.append(MockServer(**overrides).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()
        server.check_failures()
