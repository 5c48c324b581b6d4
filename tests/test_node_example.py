"""The Node consumer example (examples/node) passes against a live server, when node is here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mockserver import MockServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
def test_the_node_consumer_sees_403_a_scripted_reply_429_and_503(live: MockServer) -> None:
    assert NODE is not None
    env = {**os.environ, "LANGDOCK_MOCK_URL": live.url, "NODE_NO_WARNINGS": "1"}
    result = subprocess.run(
        [NODE, "--test", "consumer.test.mjs"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# pass 4" in result.stdout
    assert "# fail 0" in result.stdout
    # Each Node test resets the server first; the last one's calls prove it talked to this one.
    assert [r.status for r in live.requests if r.operation == "assistant.completions"] == [503, 200]
