"""The inspector page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from mockserver import MockServer
from tests.browser import INSTALL, chromium_path, launch

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Error, Page

KEY = "sk-ld-mock"
AUTH = {"Authorization": f"Bearer {KEY}"}
XSS = "<img src=x onerror=alert(1)>"
WAIT = 10_000  # ms: a Playwright wait that passes in well under a second when things work
INLINE = {"assistant": {"name": "Helper", "instructions": "Be brief."}}


def _message(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system Chromium: a skip without it locally, a failure under CI=true."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is missing and CI=true: {INSTALL}")
        pytest.skip(f"needs the system Chromium: {INSTALL}")
    pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install '.[test]'")
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[BrowserContext]:
    """One headless Chromium for the module."""
    with launch(chromium, viewport={"width": 1400, "height": 900}) as context:
        yield context


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    """A live mock with a frozen clock and a small rate limit, so 429s are a few requests away."""
    with MockServer(freeze_clock=True, default_rpm=3) as live:
        yield live


@pytest.fixture
def api(server: MockServer) -> Iterator[httpx.Client]:
    """A client of the reset server with the embedded key."""
    server.reset()
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        yield client


class Watched:
    """A page with every dialog, page error and console error it raised."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", self._page_error)
        page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _page_error(self, error: Error) -> None:
        self.errors.append(str(error))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def ui(browser: BrowserContext, server: MockServer, api: httpx.Client) -> Iterator[Watched]:
    """The inspector open in a new tab, its journal loaded and its live feed connected."""
    browser.clear_cookies()
    page = browser.new_page()
    page.set_default_timeout(WAIT)
    watched = Watched(page)
    response = page.goto(server.url + "/__admin/ui")
    assert response is not None
    assert response.status == 200
    page.wait_for_function(
        "() => document.querySelector('#empty') && !document.querySelector('#notice:not([hidden])')"
    )
    yield watched
    page.close()
    assert watched.errors == []


def _rows(page: Page) -> Any:
    return page.locator("#rows tbody tr")


def test_a_request_appears_live_without_a_reload(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    page.evaluate("window.sameDocument = true")
    assert _rows(page).count() == 0
    api.post("/assistant/v1/chat/completions", json={**INLINE, "messages": _message("hi")})
    row = page.locator("#rows tbody tr[data-status='200']")
    row.wait_for(timeout=WAIT)
    cells = row.first.locator("td").all_inner_texts()
    assert cells[1:] == [
        "200",
        "",  # no badge: a clean request
        "POST",
        "/assistant/v1/chat/completions",
        "assistant.completions",
        "default",
        "sk-…",  # the embedded key is too short to show more than its head
        "gpt-4o",
        cells[-1],
    ]
    assert float(cells[-1]) > 0  # milliseconds until the answer was ready
    assert KEY not in page.content()  # masked, as everywhere on the page
    assert page.evaluate("window.sameDocument") is True  # no reload happened


def test_a_400_shows_each_issue_at_its_path_and_dropped_fields(
    ui: Watched, api: httpx.Client
) -> None:
    page = ui.page
    body = {
        "assistant": {"name": "a", "instructions": "x", "temperature": "hot"},
        "messages": _message("hi"),
        "bogus": 1,
    }
    assert api.post("/assistant/v1/chat/completions", json=body).status_code == 400
    row = page.locator("#rows tbody tr[data-status='400']")
    row.wait_for(timeout=WAIT)
    assert "1 issue" in row.inner_text()
    assert "1 dropped" in row.inner_text()
    row.click()
    issue = page.locator("#request-body .node[data-path='/assistant/temperature'] > .line .issue")
    issue.wait_for(timeout=WAIT)
    assert issue.inner_text() == "✖ invalid_type: Expected number, received string"
    dropped = page.locator("#request-body .node.is-dropped[data-path='/bogus']")
    assert "dropped" in dropped.inner_text()
    assert page.locator("#detail .issues li code").inner_text() == "$.assistant.temperature"
    # Headers and the curl line carry the key masked; the variable form never a key at all.
    detail = page.locator("#detail").inner_text()
    assert KEY not in detail
    assert "authorization\tBearer sk-…" in detail or "Bearer sk-…" in detail
    curl = page.locator("pre.curl")
    assert curl.inner_text().startswith("curl -X POST")
    assert "Bearer sk-…" in curl.inner_text()
    page.locator("#curl-variable").check()
    assert "Bearer $LANGDOCK_API_KEY" in curl.inner_text()


def test_a_streamed_answer_shows_as_its_events(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    body = {"agent": {"name": "a", "instructions": "x"}, "stream": True}
    body["messages"] = [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]
    response = api.post("/agent/v1/chat/completions", json=body)
    assert response.status_code == 200
    sent = [line for line in response.text.splitlines() if line.startswith("data: ")]
    page.locator("#rows tbody tr[data-status='200']").click(timeout=WAIT)
    events = page.locator("#response-body ol.events li")
    events.first.wait_for(timeout=WAIT)
    assert events.all_inner_texts() == sent  # the very events the client read, in order
    assert len(sent) > 5


def test_an_assistant_named_like_markup_renders_as_text(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    created = api.post("/assistant/v1/create", json={"name": XSS, "instructions": "x"})
    assert created.status_code == 201
    _rows(page).first.wait_for(timeout=WAIT)
    page.click("#tabs button[data-tab=state]")
    cell = page.locator("#state table.records tbody td").first
    cell.wait_for(timeout=WAIT)
    assert cell.inner_text() == XSS
    page.click("#tabs button[data-tab=journal]")
    _rows(page).first.click()  # the journal's body view shows the name too
    page.locator("#request-body .string").first.wait_for(timeout=WAIT)
    assert f'"{XSS}"' in page.locator("#request-body").inner_text()
    assert page.locator("img").count() == 0
    page.wait_for_timeout(200)  # an onerror handler would have fired by now
    assert ui.dialogs == []


def test_the_limits_chart_follows_the_mock_clock(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    for _ in range(4):  # the server's limit is 3 RPM: the fourth is a 429
        api.post("/assistant/v1/chat/completions", json={**INLINE, "messages": _message("hi")})
        api.post("/__admin/clock", json={"advance": 5})
    page.click("#tabs button[data-tab=limits]")
    card = page.locator(".limit-card[data-workspace='default'][data-model='gpt-4o']")
    card.wait_for(timeout=WAIT)
    [usage] = [u for u in api.get("/__admin/limits").json()["limits"] if u["requests"]]
    assert usage["requests"] == 3
    expected = f"3 / 3 requests · {usage['tokens']} / 60000 tokens · 1 refused (429)"
    assert card.locator(".usage").inner_text() == expected
    assert card.locator("canvas").count() == 2  # uPlot drew both charts
    points = int(card.get_attribute("data-points") or 0)
    assert points == 6  # the window's start, three counted, one refused, now
    page.fill("#advance-seconds", "61")
    page.click("#advance")
    page.wait_for_function(
        "() => document.querySelector('.limit-card').dataset.requests === '0'", timeout=WAIT
    )
    emptied = "0 / 3 requests · 0 / 60000 tokens · 0 refused (429)"
    assert card.locator(".usage").inner_text() == emptied
    assert page.locator("#clock").inner_text() == "2025-01-01T00:01:21.000Z"


def test_reset_empties_the_journal(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    api.post("/assistant/v1/create", json={"name": "Kept?", "instructions": "x"})
    api.post("/assistant/v1/chat/completions", json={"messages": "bad"})
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 2")
    page.click("#reset")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 0")
    assert page.locator("#empty").is_visible()
    assert api.get("/__admin/requests").json()["requests"] == []
    # Live again afterwards: the next request shows up.
    api.post("/assistant/v1/chat/completions", json={**INLINE, "messages": _message("hi")})
    page.locator("#rows tbody tr").first.wait_for(timeout=WAIT)
    assert _rows(page).count() == 1


def test_filters_and_pause(ui: Watched, api: httpx.Client) -> None:
    page = ui.page
    api.post("/assistant/v1/chat/completions", json={**INLINE, "messages": _message("hi")})
    api.post("/assistant/v1/chat/completions", json={"messages": "bad"})
    api.get("/assistant/v1/models")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 3")
    page.select_option("#filters select[name=status]", "4xx")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 1")
    assert _rows(page).first.get_attribute("data-status") == "400"
    page.select_option("#filters select[name=status]", "")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 3")
    page.fill("#filters input[name=q]", "models")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows tbody tr')].map((tr) => tr.dataset.status)"
        ".join() === '200' && document.querySelector('#rows tbody tr').textContent"
        ".includes('assistant.models')"
    )
    page.fill("#filters input[name=q]", "")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 3")
    page.check("#pause")
    api.get("/assistant/v1/models")
    page.wait_for_function("() => document.querySelector('#buffered').textContent !== ''")
    assert page.locator("#buffered").inner_text() == "1 new while paused"
    assert _rows(page).count() == 3
    page.uncheck("#pause")
    assert _rows(page).count() == 4


def test_the_csp_blocks_inline_script_and_posts_need_the_csrf_token(
    ui: Watched, api: httpx.Client, server: MockServer
) -> None:
    page = ui.page
    response = api.get("/__admin/ui")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    blocked = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation",
                (event) => resolve([event.violatedDirective, window.inlineRan === true]));
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true";
            document.body.append(script);
        })"""
    )
    assert blocked == ["script-src-elem", False]
    ui.errors.clear()  # the browser logs the refused script: that is the point
    api.post("/assistant/v1/chat/completions", json={"messages": "bad"})
    _rows(page).first.wait_for(timeout=WAIT)
    refused = page.evaluate(
        """async () => {
            const response = await fetch("/__admin/ui/api/reset", {method: "POST"});
            return [response.status, (await response.json()).message];
        }"""
    )
    assert refused[0] == 403
    assert "CSRF" in refused[1]
    assert len(api.get("/__admin/requests").json()["requests"]) == 1  # nothing was reset
    ui.errors[:] = [e for e in ui.errors if not re.search(r"status of 403", e)]


def test_an_admin_token_becomes_a_cookie_and_leaves_the_url(browser: BrowserContext) -> None:
    with MockServer(admin_token="s3cret-admin", freeze_clock=True) as guarded:
        browser.clear_cookies()
        page = browser.new_page()
        try:
            assert page.goto(guarded.url + "/__admin/ui").status == 401  # type: ignore[union-attr]
            response = page.goto(guarded.url + "/__admin/ui?token=s3cret-admin")
            assert response is not None
            assert response.status == 200
            assert page.url == guarded.url + "/__admin/ui"
            [cookie] = browser.cookies()
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
            assert "s3cret-admin" not in cookie["value"]
            with httpx.Client(base_url=guarded.url, headers=AUTH, timeout=10) as client:
                client.post("/assistant/v1/chat/completions", json={"messages": "bad"})
            page.locator("#rows tbody tr").first.wait_for(timeout=WAIT)  # feed and JSON work
            page.click("#reset")
            page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 0")
        finally:
            page.close()
            browser.clear_cookies()
