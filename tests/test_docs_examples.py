"""Every example of the README and docs/ runs as shown, and the site builds without a warning.

The convention (CONTRIBUTING.md, "Docs examples"): a ```python block with ``def test_`` runs as
a pytest file with the plugin, any other ```python block as a script, a ```bash block with bash
against a server started for its page, and a ```text block right after a code block is the output
it must print (``*`` matches anything). Other fences say why they do not run, in a comment
``<!-- not run: ... -->``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.docpages import FREE, RUN, Block, blocks, pages, relative, serve_flags
from tests.test_plugin import _clean_env, run  # noqa: F401  # Reason: the autouse fixture.

DOCUMENTED_URL = "http://127.0.0.1:8080"
_BIN = str(Path(sys.executable).parent)  # langdock-mock, python and pytest of this environment

EXAMPLES = [b for page in pages() for b in blocks(relative(page)) if b.lang in RUN]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGDOCK_")}
    env["PATH"] = _BIN + os.pathsep + env.get("PATH", "")
    return env


def _start(flags: tuple[str, ...], logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``langdock-mock serve`` on a free port, as the docs show it; its URL from the banner."""
    out = logs / f"serve-{abs(hash(flags))}.log"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", *flags],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_environment(),
        )
    for _ in range(300):  # 30 s at most
        if found := re.search(r"listening on (http://127\.0\.0\.1:\d+)", out.read_text()):
            return process, found[1]
        if process.poll() is not None:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.1)
    process.kill()
    raise AssertionError(f"langdock-mock serve {' '.join(flags)} did not start:\n{out.read_text()}")


@pytest.fixture(scope="session")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """The URL of a reset server for a page; one server per distinct set of ``serve`` flags."""
    logs = tmp_path_factory.mktemp("docs-servers")
    started: dict[tuple[str, ...], tuple[subprocess.Popen[bytes], str]] = {}

    def url_for(page: str) -> str:
        flags = serve_flags(page)
        if flags not in started:
            started[flags] = _start(flags, logs)
        url = started[flags][1]
        httpx.post(url + "/__admin/reset", timeout=10).raise_for_status()
        return url

    yield url_for
    for process, _ in started.values():
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pattern(line: str) -> re.Pattern[str]:
    """A shown output line as a pattern: ``*`` matches anything, everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in line.split("*")))


def assert_output(block: Block, printed: str, url: str = DOCUMENTED_URL) -> None:
    """Each line printed matches the shown line at the same place; no line more or less."""
    assert block.output is not None
    shown = [line.replace(DOCUMENTED_URL, url).rstrip() for line in block.output]
    got = printed.rstrip("\n").split("\n")
    got = [line.rstrip() for line in got]
    mismatch = [
        (number, want, have)
        for number, (want, have) in enumerate(zip(shown, got, strict=False), start=1)
        if not _pattern(want).fullmatch(have)
    ]
    report = f"{block.id} printed something else than the page shows\n--- printed:\n{printed}"
    report += "".join(f"\n--- line {n}: shown {w!r}\n           got {h!r}" for n, w, h in mismatch)
    assert not mismatch, report
    assert len(shown) == len(got), report


def _run_tests(block: Block, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{"test_" + re.sub(r"\W", "_", block.id): block.code})
    result = run(pytester)
    passed = len(re.findall(r"^\s*def test_", block.code, re.M))
    result.assert_outcomes(**(block.expect or {"passed": passed}))
    if block.output is not None:
        printed = iter(line.rstrip() for line in result.stdout.lines)
        missing = [s for s in block.output if not any(_pattern(s).fullmatch(p) for p in printed)]
        assert not missing, f"{block.id}: not printed in this order: {missing}\n{result.stdout}"


def _run_script(block: Block) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.code, block.id, "exec"), {"__name__": "__docs__"})
    if block.output is not None:
        assert_output(block, printed.getvalue())


def _run_bash(block: Block, url: str, cwd: Path) -> None:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code.replace(DOCUMENTED_URL, url)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(),
        timeout=120,
    )
    assert done.returncode == 0, f"{block.id} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    if block.output is not None:
        assert_output(block, done.stdout, url)


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.id for b in EXAMPLES])
def test_example(
    block: Block,
    pytester: pytest.Pytester,
    page_server: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The block runs and prints what its page shows (a test block: its tests pass)."""
    monkeypatch.chdir(pytester.path)
    if block.lang == "bash":
        _run_bash(block, page_server(block.page), pytester.path)
    elif "def test_" in block.code:
        _run_tests(block, pytester)
    else:
        _run_script(block)


PAGES = [relative(page) for page in pages()]


@pytest.mark.parametrize("page", PAGES)
def test_every_block_runs_or_says_why_not(page: str) -> None:
    """A block of another language than python, bash, text or json says why it does not run."""
    wrong = []
    for block in blocks(page):
        if block.lang in RUN and block.not_run is not None:
            wrong.append(f"{block.id}: a {block.lang} block always runs; use ```shell to show it")
        elif block.lang not in RUN + FREE and not block.not_run:
            wrong.append(f"{block.id}: ```{block.lang} needs <!-- not run: reason --> before it")
    assert wrong == []


def test_a_serve_command_shown_beside_a_serve_comment_has_its_options() -> None:
    """Where a page shows the server its examples run against, it shows the real options."""
    for page in PAGES:
        flags = serve_flags(page)
        for block in blocks(page):
            first = block.code.splitlines()[0] if block.code.strip() else ""
            if flags and block.not_run and first.startswith("langdock-mock serve "):
                shown = shlex.split(first.removeprefix("langdock-mock serve "))
                assert shown[:2] == ["--port", "8080"], block.id
                assert tuple(shown[2:]) == flags, f"{block.id} shows other options than serve:"


def test_the_runner_sees_every_kind_of_example() -> None:
    kinds = {("test" if "def test_" in b.code else "script") if b.lang == "python" else b.lang
             for b in EXAMPLES}  # fmt: skip
    assert kinds == {"test", "script", "bash"}
    assert any(b.output for b in EXAMPLES if b.lang == "bash")


def test_mkdocs_builds_the_site_without_a_warning(tmp_path: Path) -> None:
    """``mkdocs build --strict``: every page in nav, every link and anchor resolves."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env=_environment(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "index.html").is_file()
