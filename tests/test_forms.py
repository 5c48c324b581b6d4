"""Uploads through the proxy: recorded as their form (a file as its digest and size), replayed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner

from mockserver import MockServer
from mockserver.cli import cli
from mockserver.proxy.forms import form_summary, summarise_form
from mockserver.proxy.recording import read_recording
from mockserver.proxy.redaction import REDACTED
from mockserver.server import ProxyServer
from tests.upstreams import Canned, serving

CONTENT = b"The quarterly numbers, in confidence: 42.\n" * 50
SOURCE = "https://intranet.example/q3"


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    """A langdock-mock upstream with one knowledge folder the default key edits."""
    with MockServer() as server:
        server.add_folder("reports")
        yield server


def _client(server: MockServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _upload(http: httpx.Client, content: bytes = CONTENT) -> httpx.Response:
    files = {"file": ("q3.txt", content, "text/plain")}
    return http.post("/knowledge/reports", files=files, data={"url": SOURCE})


@pytest.mark.parametrize("fmt", ["jsonl", "har"])
def test_an_upload_is_recorded_as_its_form_verified_and_replayed(
    upstream: MockServer, tmp_path: Path, fmt: str
) -> None:
    upstream.reset()
    upstream.add_folder("reports")
    path = tmp_path / f"upload.{fmt}"
    with (
        ProxyServer(upstream=upstream.url, record=path, record_format=fmt) as proxy,
        _client(proxy, upstream.api_key) as http,
    ):
        live = _upload(http)
    assert live.status_code == 200, live.text
    text = path.read_text()
    assert "quarterly numbers" not in text  # never the file's bytes
    (recorded,) = read_recording(path)
    assert recorded.operation == "knowledge.upload"
    assert recorded.form == {
        "url": SOURCE,
        "file": {
            "name": "q3.txt",
            "mimeType": "text/plain",
            "sizeInBytes": len(CONTENT),
            "sha256": hashlib.sha256(CONTENT).hexdigest(),
        },
    }
    if fmt == "har":
        post = json.loads(text)["log"]["entries"][0]["request"]["postData"]
        assert post["mimeType"].startswith("multipart/form-data")
        assert "text" not in post
        assert {p["name"] for p in post["params"]} == {"url", "file"}
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "knowledge.upload: 1 seen, 1 conforming, 0 drifted" in result.output

    with MockServer(replay=path) as replay, _client(replay, replay.api_key) as http:
        again = _upload(http)
        assert again.status_code == 200
        assert again.content == live.content
        other = _upload(http, CONTENT + b"!")  # same name and type, other bytes
        assert other.status_code == 404
        message = other.json()["message"]
        assert "$.file.sizeInBytes" in message
        assert "$.file.sha256" in message
        replay.check_failures()


def test_a_form_field_is_redacted_and_an_upload_still_replays(
    upstream: MockServer, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.add_folder("reports")
    path = tmp_path / "upload.jsonl"
    with (
        ProxyServer(upstream=upstream.url, record=path, redact=("url",)) as proxy,
        _client(proxy, upstream.api_key) as http,
    ):
        live = _upload(http)
    (recorded,) = read_recording(path)
    assert recorded.request_body is not None
    assert SOURCE not in recorded.request_body
    assert recorded.form is not None
    assert recorded.form["url"] == REDACTED
    assert recorded.redacted == ("url",)
    with MockServer(replay=path) as replay, _client(replay, replay.api_key) as http:
        again = _upload(http)
        assert again.status_code == 200
        assert again.content == live.content


def test_a_broken_upload_is_noted_and_its_form_not_recorded(
    upstream: MockServer, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jsonl"
    headers = {"Content-Type": "multipart/form-data; boundary=zz"}
    with (
        ProxyServer(upstream=upstream.url, record=path) as proxy,
        _client(proxy, upstream.api_key) as http,
    ):
        answer = http.post("/knowledge/reports", content=b"not a form", headers=headers)
    assert "not a multipart or URL-encoded form" in answer.headers["x-mock-warnings"]
    (recorded,) = read_recording(path)
    assert recorded.request_body is None
    assert recorded.form is None


def test_form_summaries() -> None:
    request = httpx.Request(
        "POST",
        "http://mock/knowledge/f",
        files=[("file", ("a.md", b"# A", "")), ("file", ("b.md", b"# B", "text/markdown"))],
        data={"url": "u", "attachmentId": "x"},
    )
    summary = form_summary(request.headers["content-type"], request.read())
    assert summary == {
        "url": "u",
        "attachmentId": "x",
        # The first file of a name wins, as in the mock's own parsing; no type: by its name.
        "file": {
            "name": "a.md",
            "mimeType": "text/markdown",
            "sizeInBytes": 3,
            "sha256": hashlib.sha256(b"# A").hexdigest(),
        },
    }
    encoded = "application/x-www-form-urlencoded"
    assert form_summary(encoded, b"url=u&url=v&x=") == {"url": "u", "x": ""}
    assert form_summary("application/json", b"{}") is None
    assert form_summary("multipart/form-data", b"no boundary") is None


def test_a_large_form_is_read_off_the_event_loop() -> None:
    content = bytes(range(256)) * (8 * 1024)  # 2 MiB: past what is read in the loop
    request = httpx.Request("POST", "http://mock/u", files={"file": ("big.pdf", content)})
    raw, kind = request.read(), request.headers["content-type"]
    ticks = 0
    done = False

    async def tick() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await anyio.sleep(0)

    async def summarise() -> tuple[dict[str, Any] | None, int]:
        nonlocal done
        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            await anyio.sleep(0)
            before = ticks
            summary = await summarise_form(kind, raw)
            done = True
        return summary, ticks - before

    summary, ticked = anyio.run(summarise)
    assert summary is not None
    assert summary["file"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert ticked > 0  # the loop went on serving while the form was parsed and hashed


def test_an_upload_to_an_unknown_endpoint_is_recorded_as_its_form_too(tmp_path: Path) -> None:
    path = tmp_path / "unknown.jsonl"
    canned = Canned(200, b"{}")
    with (
        serving(canned.app) as url,
        ProxyServer(upstream=url, record=path) as proxy,
        _client(proxy, "sk-ld-mock") as http,
    ):
        answer = http.post("/v9/files", files={"doc": ("n.txt", CONTENT, "text/plain")})
    assert "unknown endpoint" in answer.headers["x-mock-warnings"]
    assert canned.seen[0][3].count(CONTENT) == 1  # the upstream got the file itself
    assert "quarterly numbers" not in path.read_text()
    (recorded,) = read_recording(path)
    assert recorded.form is not None
    assert recorded.form["doc"]["sha256"] == hashlib.sha256(CONTENT).hexdigest()
