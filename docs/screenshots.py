"""Retake the inspector's screenshots in docs/images/: ``python docs/screenshots.py``.

Starts a mock, sends the traffic a small test run would (completions, a 400 with an unknown
field, a stream, 429s, resources in two workspaces, a fault rule and a scripted reply), opens
the inspector in the system's headless Chromium and saves one picture per view.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockserver import MockServer  # noqa: E402
from tests.browser import INSTALL, chromium_path, launch  # noqa: E402

IMAGES = ROOT / "docs" / "images"
COMPLETIONS = "/assistant/v1/chat/completions"
TEAM_KEY = "sk-ld-team-0123456789abcdef"


def _traffic(http: httpx.Client) -> int:
    admin = "/__admin"
    http.post(admin + "/keys", json={"key": TEAM_KEY, "workspace": "team", "scopes": ["AGENT_API"]})
    helper = http.post("/assistant/v1/create", json={"name": "Support bot", "model": "gpt-4o"})
    http.post("/assistant/v1/create", json={"name": "<img src=x onerror=alert(1)>"})
    assistant_id = helper.json()["assistant"]["id"]
    team = {"Authorization": f"Bearer {TEAM_KEY}"}
    http.post("/agent/v1/create", json={"name": "Team agent"}, headers=team)
    http.post(admin + "/replies", json={"text": "Scripted answer", "times": 2})
    http.post(admin + "/faults", json={"match": {"path": "/agent/*"}, "action": {"status": 503}})
    ask = {"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hello"}]}
    http.post(COMPLETIONS, json={**ask, "stream": True})
    stream = int(http.get(admin + "/requests").json()["last"])
    for _ in range(8):  # --rpm 8: with the stream, the eighth is a 429
        http.post(COMPLETIONS, json=ask)
        http.post(admin + "/clock", json={"advance": 4})
    bad = {
        "assistant": {"name": "Inline", "instructions": "x", "temperature": "warm"},
        "messages": [{"role": "user", "content": "Hi"}],
        "metadata": {"ticket": 42},
    }
    http.post(COMPLETIONS, json=bad)
    agent = {"agent": {"name": "a", "instructions": "x"}, "messages": []}
    http.post("/agent/v1/chat/completions", json=agent, headers=team)  # the fault's 503
    http.get("/assistant/v1/models")
    refund = {"text": "Refunds take 5 days.", "match": {"contains": "refund"}, "times": 3}
    http.post(admin + "/replies", json=refund)
    return stream


def main() -> int:
    """Take the pictures; 2 without Chromium."""
    executable = chromium_path()
    if executable is None:
        sys.stderr.write(f"needs the system Chromium: {INSTALL}\n")
        return 2
    IMAGES.mkdir(parents=True, exist_ok=True)
    with MockServer(freeze_clock=True, default_rpm=8) as server:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": "Bearer sk-ld-mock"}, timeout=10
        ) as http:
            stream = _traffic(http)
        with launch(executable, viewport={"width": 1440, "height": 900}) as browser:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            page.goto(server.url + "/__admin/ui")
            page.locator("#rows tbody tr[data-status='400']").click()
            page.locator("#request-body .mark.issue").wait_for()
            page.screenshot(path=str(IMAGES / "inspector-journal.png"))
            page.locator(f"#rows tbody tr[data-seq='{stream}']").click()
            page.locator("#response-body ol.events li").first.wait_for()
            page.locator("#response-body").scroll_into_view_if_needed()
            page.screenshot(path=str(IMAGES / "inspector-stream.png"))
            for tab, ready in [
                ("limits", ".limit-card canvas"),
                ("state", "#state .workspace"),
                ("coverage", "table.coverage"),
            ]:
                page.click(f"#tabs button[data-tab={tab}]")
                page.locator(ready).first.wait_for()
                page.screenshot(path=str(IMAGES / f"inspector-{tab}.png"), full_page=True)
    sys.stdout.write(f"saved {len(list(IMAGES.glob('inspector-*.png')))} pictures in {IMAGES}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
