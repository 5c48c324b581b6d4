"""Recording through the proxy (redacted, JSON lines and HAR), verify on it, and replay from it."""

from __future__ import annotations

import json
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
from click.testing import CliRunner

from mockserver import MockServer
from mockserver.cli import cli
from mockserver.errors import ConfigError
from mockserver.journal import fingerprint
from mockserver.proxy.recording import read_recording
from mockserver.proxy.redaction import REDACTED, Redactor
from mockserver.server import ProxyServer
from tests.upstreams import Canned, serving

KEY = "sk-ld-recorded-key-0123456789"
CREATE = "/assistant/v1/create"
CHAT = "/assistant/v1/chat/completions"
AGENT_CHAT = "/agent/v1/chat/completions"


def _client(server: MockServer, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _session(http: httpx.Client) -> list[httpx.Response]:
    """What a client does: create, get, a JSON and a streamed completion, a 404."""
    created = http.post(CREATE, json={"name": "Doc", "description": "secret plans"})
    assistant = created.json()["assistant"]["id"]
    chat = {"assistantId": assistant, "messages": [{"role": "user", "content": "Top secret"}]}
    agent = {
        "agent": {"name": "A", "instructions": "", "model": "gpt-4o"},
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}],
        "stream": True,
    }
    return [
        created,
        http.get("/assistant/v1/get", params={"assistantId": assistant}),
        http.post(CHAT, json=chat),
        http.post(AGENT_CHAT, json=agent),
        http.get(
            "/assistant/v1/get", params={"assistantId": "00000000-0000-4000-8000-000000000000"}
        ),
    ]


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, list[httpx.Response]]]:
    """A session recorded through the proxy from a langdock-mock upstream, redacted."""
    path = tmp_path_factory.mktemp("rec") / "session.jsonl"
    with MockServer() as upstream:
        upstream.add_key(KEY)
        with (
            ProxyServer(
                upstream=upstream.url,
                record=path,
                redact=("messages.*.content", "description", "assistant.description"),
            ) as proxy,
            _client(proxy) as http,
        ):
            yield path, _session(http)


def test_a_recording_holds_no_key_and_no_redacted_text(
    recorded: tuple[Path, list[httpx.Response]],
) -> None:
    path, _ = recorded
    text = path.read_text()
    assert KEY not in text
    assert "Top secret" not in text
    assert "secret plans" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert {line["keyId"] for line in lines} == {fingerprint(KEY)}
    assert json.loads(lines[0]["request_body"]) == {"name": "Doc", "description": REDACTED}
    assert json.loads(lines[0]["response_body"])["assistant"]["description"] == REDACTED
    assert json.loads(lines[2]["request_body"])["messages"][0]["content"] == REDACTED
    assert lines[0]["redacted"] == ["messages.*.content", "description", "assistant.description"]
    assert lines[4]["redacted"] == []  # nothing to redact in a 404
    stream = lines[3]
    assert stream["response_type"] == "text/event-stream"
    assert "".join(text for _, text in stream["events"]) == stream["response_body"]
    offsets = [at for at, _ in stream["events"]]
    assert offsets == sorted(offsets)


def test_verify_reads_a_proxy_recording(recorded: tuple[Path, list[httpx.Response]]) -> None:
    path, _ = recorded
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "assistant.get: 2 seen, 2 conforming, 0 drifted" in result.output
    assert "agent.completions: 1 seen, 1 conforming, 0 drifted" in result.output
    assert result.output.rstrip().endswith(
        "5 exchange(s) checked against profile seed: 5 clean, 0 with drift"
    )


def test_verify_on_a_drifting_recording_exits_1_with_each_drift_path(tmp_path: Path) -> None:
    path = tmp_path / "drift.jsonl"
    stream = b'data: {"type":"start"}\n\ndata: {"type":"text-delta","id":"t"}\n\n'
    with (
        serving(Canned(200, stream, "text/event-stream").app) as url,
        ProxyServer(upstream=url, record=path) as proxy,
        _client(proxy) as http,
    ):
        http.post(AGENT_CHAT, json={"messages": []})
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1
    assert "agent.completions: 1 seen, 0 conforming, 1 drifted" in result.output
    assert "stream $.events[1].delta (missing field)" in result.output
    assert "stream $ (stream end)" in result.output


def test_replay_answers_byte_for_byte(recorded: tuple[Path, list[httpx.Response]]) -> None:
    path, live = recorded
    with MockServer(replay=path) as replay:
        replay.add_key(KEY)
        with _client(replay) as http:
            again = _session(http)
    for before, after in zip(live, again, strict=True):
        assert after.status_code == before.status_code
        assert after.headers["content-type"] == before.headers["content-type"]
    # Redacted fields come back redacted; everything else exactly as the upstream sent it.
    assert again[2].content == live[2].content
    assert again[3].content == live[3].content
    assert again[4].content == live[4].content
    for redacted in again[:2]:
        assert redacted.json()["assistant"]["description"] == REDACTED
    replay.check_failures()


def test_an_unmatched_request_is_a_404_naming_the_closest_and_the_difference(
    recorded: tuple[Path, list[httpx.Response]],
) -> None:
    path, _ = recorded
    with MockServer(replay=path) as replay, _client(replay, replay.api_key) as http:
        response = http.post(CREATE, json={"name": "Docs", "description": "x", "emoji": "📄"})
        other = http.get("/agent/v1/models")
    assert response.status_code == 404
    message = response.json()["message"]
    assert message.startswith("No recorded exchange matches POST /assistant/v1/create. ")
    assert "Closest recorded request: #1 POST /assistant/v1/create (assistant.create)" in message
    assert '$.name: recorded "Doc", got "Docs"' in message
    assert "$.emoji was not recorded" in message
    assert "description" not in message  # redacted alike on both sides: no difference
    assert other.status_code == 404
    assert "operation: recorded" in other.json()["message"]


def test_replay_checks_keys_and_scopes_unless_told_not_to(
    recorded: tuple[Path, list[httpx.Response]],
) -> None:
    path, live = recorded
    with MockServer(replay=path) as replay:
        narrow = replay.add_key(scopes=("KNOWLEDGE_FOLDER_API",))
        with _client(replay, "sk-unknown") as http:
            assert http.post(CREATE, json={"name": "Doc", "description": "x"}).status_code == 401
        with _client(replay, narrow) as http:
            refused = http.post(CREATE, json={"name": "Doc", "description": "x"})
    assert refused.status_code == 403
    assert refused.json() == {"message": "Insufficient permissions - requires AGENT_API scope"}
    with MockServer(replay=path, replay_auth=False) as replay:
        answered = httpx.post(replay.url + CREATE, json={"name": "Doc", "description": "x"})
    assert answered.status_code == 201
    assert answered.content == _replayed(live[0])


def _replayed(response: httpx.Response) -> bytes:
    body = response.json()
    body["assistant"]["description"] = REDACTED
    return json.dumps(body, separators=(",", ":")).encode()


def test_replay_enforces_rate_limits_unless_told_not_to(
    recorded: tuple[Path, list[httpx.Response]],
) -> None:
    path, _ = recorded
    chat = json.loads(read_recording(path)[2].request_body or "{}")
    with MockServer(replay=path, default_rpm=1) as replay, _client(replay, replay.api_key) as http:
        assert http.post(CHAT, json=chat).status_code == 200
        limited = http.post(CHAT, json=chat)
        assert http.post(CREATE, json={"name": "Doc", "description": "x"}).status_code == 201
    assert limited.status_code == 429
    assert "Rate limit exceeded: 1 requests per minute" in limited.json()["message"]
    with (
        MockServer(replay=path, default_rpm=1, rate_limits=False) as replay,
        _client(replay, replay.api_key) as http,
    ):
        assert [http.post(CHAT, json=chat).status_code for _ in range(3)] == [200] * 3


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_repeated_requests_answer_in_recorded_order_then_repeat_the_last(tmp_path: Path) -> None:
    body = json.dumps({"name": "Doc"})
    records = [
        {
            "method": "POST",
            "path": CREATE,
            "status": 201,
            "request_body": body,
            "response_body": f'{{"n":{n}}}',
        }
        for n in (1, 2)
    ]
    with MockServer(replay=_write(tmp_path / "r.jsonl", records)) as replay:
        with _client(replay, replay.api_key) as http:
            answers = [http.post(CREATE, json={"name": "Doc"}).text for _ in range(3)]
        replay.reset()  # the turns start over
        with _client(replay, replay.api_key) as http:
            answers.append(http.post(CREATE, json={"name": "Doc"}).text)
    assert answers == ['{"n":1}', '{"n":2}', '{"n":2}', '{"n":1}']


def test_looser_matching_by_operation_or_ignored_paths(tmp_path: Path) -> None:
    recording = _write(
        tmp_path / "r.jsonl",
        [
            {
                "method": "POST",
                "path": CREATE,
                "status": 201,
                "request_body": json.dumps({"name": "Doc", "emoji": "x"}),
                "response_body": "{}",
            }
        ],
    )
    changed = {"name": "Other", "emoji": "y"}
    with MockServer(replay=recording) as replay, _client(replay, replay.api_key) as http:
        assert http.post(CREATE, json=changed).status_code == 404
    with (
        MockServer(replay=recording, replay_match="operation") as replay,
        _client(replay, replay.api_key) as http,
    ):
        assert http.post(CREATE, json=changed).status_code == 201
    with (
        MockServer(replay=recording, replay_ignore=("name",)) as replay,
        _client(replay, replay.api_key) as http,
    ):
        assert http.post(CREATE, json={"name": "Other", "emoji": "x"}).status_code == 201
        assert http.post(CREATE, json=changed).status_code == 404


def test_streams_replay_at_their_recorded_pace_scaled(tmp_path: Path) -> None:
    events: list[tuple[float, str]] = [
        (0.0, 'data: {"type":"start"}\n\n'),
        (0.1, "data: [DONE]\n\n"),
    ]
    record: dict[str, Any] = {
        "method": "POST",
        "path": AGENT_CHAT,
        "status": 200,
        "request_body": "{}",
        "response_type": "text/event-stream",
        "response_body": "".join(text for _, text in events),
        "events": events,
    }
    recording = _write(tmp_path / "r.jsonl", [record])
    took = []
    for speed in (0.5, 0):
        with (
            MockServer(replay=recording, replay_speed=speed) as replay,
            _client(replay, replay.api_key) as http,
        ):
            began = time.monotonic()
            with http.stream("POST", AGENT_CHAT, json={}) as response:
                chunks = list(response.iter_raw())
            took.append(time.monotonic() - began)
        assert b"".join(chunks) == record["response_body"].encode()
    # A sleep never ends early: at half speed the 0.1 s pause takes at least 0.2 s (a lower
    # bound only, from before the request: no upper bound, which a busy machine could break).
    assert took[0] >= 0.2


def test_har_recordings_are_verified_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "session.har"
    with (
        MockServer() as upstream,
        ProxyServer(upstream=upstream.url, record=path, record_format="har") as proxy,
        _client(proxy, upstream.api_key) as http,
    ):
        first = http.post(CREATE, json={"name": "Doc"})
        second = http.post(CREATE, json={"name": "Two"})
    document = json.loads(path.read_text())
    assert document["log"]["version"] == "1.2"
    assert len(document["log"]["entries"]) == 2
    assert CliRunner().invoke(cli, ["verify", str(path)]).exit_code == 0
    with MockServer(replay=path) as replay, _client(replay, replay.api_key) as http:
        assert http.post(CREATE, json={"name": "Two"}).content == second.content
        assert http.post(CREATE, json={"name": "Doc"}).content == first.content


def test_an_unreadable_recording_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="replay: line 1: not JSON"):
        MockServer(replay=bad)
    with pytest.raises(ConfigError, match="replay: cannot read"):
        MockServer(replay=tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    ("paths", "value", "expected"),
    [
        (
            ["messages.*.content"],
            {"messages": [{"content": "a"}, {"content": "b", "r": 1}]},
            {"messages": [{"content": REDACTED}, {"content": REDACTED, "r": 1}]},
        ),
        (["a.0"], {"a": ["x", "y"]}, {"a": [REDACTED, "y"]}),
        (
            ["*.secret"],
            {"x": {"secret": 1}, "y": {"open": 2}},
            {"x": {"secret": REDACTED}, "y": {"open": 2}},
        ),
        (["missing.path"], {"a": 1}, {"a": 1}),
    ],
    ids=["wildcard-items", "index", "wildcard-keys", "absent"],
)
def test_redaction_paths(paths: list[str], value: Any, expected: Any) -> None:
    redacted, changed = Redactor(paths).apply(value)
    assert redacted == expected
    assert changed == (value != expected)


SERVE_REPLAY_AND_LIST_MODULES = """
import json, sys, asyncio
from mockserver.asgi.replay_app import create_replay_app
from mockserver.config import Settings
app = create_replay_app(Settings(replay=sys.argv[1]))
print(json.dumps([m for m in ("aiohttp", "httpx", "httpcore") if m in sys.modules]))
"""


def test_replay_imports_no_http_client(recorded: tuple[Path, list[httpx.Response]]) -> None:
    path, _ = recorded
    done = subprocess.run(
        [sys.executable, "-c", SERVE_REPLAY_AND_LIST_MODULES, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


REPO = Path(__file__).resolve().parent.parent


def _run_cli(args: list[str], cwd: Path, check: Any) -> None:
    """``python -m mockserver ARGS`` on a free port; ``check(url)`` while it runs; then SIGTERM."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "mockserver", *args, "--port", "0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line)
            assert match, line + (process.stderr.read() if process.stderr else "")
            check(match.group(1))
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


def test_the_proxy_and_replay_commands(tmp_path: Path) -> None:
    recording = tmp_path / "cli.jsonl"
    answers: list[httpx.Response] = []
    with MockServer() as upstream:

        def through_proxy(url: str) -> None:
            with _client_at(url, upstream.api_key) as http:
                answers.append(http.post(CREATE, json={"name": "Doc"}))

        _run_cli(
            [
                "proxy",
                "--upstream",
                upstream.url,
                "--record",
                str(recording),
                "--validate",
                "enforce",
            ],
            tmp_path,
            through_proxy,
        )

    def from_replay(url: str) -> None:
        with _client_at(url, "sk-ld-mock") as http:
            answers.append(http.post(CREATE, json={"name": "Doc"}))

    _run_cli(["serve", "--replay", str(recording), "--replay-speed", "0"], tmp_path, from_replay)
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].content == answers[1].content


def _client_at(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["proxy"], {"LANGDOCK_MOCK_STORE": "redis://127.0.0.1:1/0"}, "the proxy keeps"),
        (["serve", "--store", "redis://127.0.0.1:1/0"], {}, "replay answers from"),
        (["serve", "--store", "redis://127.0.0.1:1/0", "--workers", "2"], {}, "replay answers"),
    ],
    ids=["proxy-by-env", "replay", "replay-workers"],
)
def test_a_shared_store_is_refused_at_start_up(
    recorded: tuple[Path, list[httpx.Response]], args: list[str], env: dict[str, str], said: str
) -> None:
    path, _ = recorded
    if args[0] == "serve":
        args = [*args, "--replay", str(path)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()  # one line, before any port is bound
    assert line.startswith("Error: store: " + said), line
    assert "redis://127.0.0.1:1/0" in line
