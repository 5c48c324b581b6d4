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
def test_the_node_consumer_sees_403_a_scripted_reply_429_and_503() -> None:
    assert NODE is not None
    # An admin token, as on a shared CI network: the example must send it to /__admin.
    with MockServer(admin_token="ci-admin-token") as server:
        env = {
            **os.environ,
            "LANGDOCK_MOCK_URL": server.url,
            "LANGDOCK_MOCK_ADMIN_TOKEN": "ci-admin-token",
            "NODE_NO_WARNINGS": "1",
        }
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
        completions = [r for r in server.requests if r.operation == "assistant.completions"]
        assert [r.status for r in completions] == [503, 200]
        server.check_failures()
