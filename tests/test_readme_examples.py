"""The README's examples run as tests, and its tables name only what exists, so it cannot drift."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mockserver.server import MockServer
from pytest_plugin import plugin
from tests.test_plugin import _clean_env, run  # noqa: F401  # Reason: the autouse fixture.

README = Path(__file__).resolve().parents[1] / "README.md"
PYTEST_SECTION = "Testing your client with pytest"
_EXPECT = re.compile(r"<!-- expect: (.*) -->")


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced code block of the README: its language, code, line and what it should do."""

    lang: str
    code: str
    line: int
    expect: dict[str, int] | None = None
    output: tuple[str, ...] = ()


def section(title: str) -> list[str]:
    """The lines under ``## title``, up to the next second-level heading."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def blocks(title: str) -> list[Block]:
    """A section's fenced blocks; an ``expect`` comment before and ``text`` after attach to code."""
    lines = section(title)
    offset = README.read_text(encoding="utf-8").splitlines().index(f"## {title}") + 2
    found: list[Block] = []
    expect: dict[str, int] | None = None
    index = 0
    while index < len(lines):
        text = lines[index]
        if match := _EXPECT.fullmatch(text.strip()):
            expect = {k: int(v) for k, v in (p.split("=") for p in match.group(1).split())}
        elif text.startswith("```") and len(text) > 3:
            end = lines.index("```", index + 1)
            code = "\n".join(lines[index + 1 : end]) + "\n"
            if text[3:] == "text" and found:
                last = found.pop()
                found.append(
                    Block(last.lang, last.code, last.line, last.expect, tuple(code.splitlines()))
                )
            else:
                found.append(Block(text[3:], code, offset + index, expect))
            expect = None
            index = end
        index += 1
    return found


PYTHON_BLOCKS = [b for b in blocks(PYTEST_SECTION) if b.lang == "python"]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"README.md:{b.line}" for b in PYTHON_BLOCKS])
def test_pytest_section_examples_run(pytester: pytest.Pytester, block: Block) -> None:
    if "def test_" not in block.code:  # a script: run it as it stands
        exec(compile(block.code, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})
        return
    pytester.makepyfile(block.code)
    result = run(pytester)
    result.assert_outcomes(
        **(block.expect or {"passed": len(re.findall(r"^def test_", block.code, re.M))})
    )
    if block.output:
        result.stdout.fnmatch_lines(list(block.output))


def _table(title: str, header: str) -> list[list[str]]:
    lines = section(title)
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def _code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_fixture_table_lists_exactly_the_plugins_fixtures() -> None:
    rows = _table(PYTEST_SECTION, "| fixture |")
    named = [_code(row[0])[0] for row in rows]
    assert named == ["langdock_mock_server", "langdock_mock", "langdock_client", "langdock_env"]
    scopes = {"langdock_mock_server": "session"}
    for name, row in zip(named, rows, strict=True):
        assert row[1] == scopes.get(name, "function")


def test_the_options_table_matches_the_plugins_options(pytester: pytest.Pytester) -> None:
    rows = _table(PYTEST_SECTION, "| command line |")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    help_text = run(pytester, "--help").stdout.str()
    names = []
    for row in rows:
        flag, env, ini, default = (_code(cell)[0] for cell in row[:4])
        name = ini.removeprefix("langdock_mock_")
        names.append(name)
        assert flag.split("=")[0] == "--langdock-mock-" + name.replace("_", "-")
        assert env == "LANGDOCK_MOCK_" + name.upper()
        assert flag.split("=")[0] in help_text
        assert f"{ini} (string)" in help_text
        assert default == plugin._OPTIONS[name][1]
    assert names == list(plugin._OPTIONS)


def test_the_marker_signature_and_handle_members_exist() -> None:
    text = "\n".join(section(PYTEST_SECTION))
    [signature] = set(re.findall(r"@pytest\.mark\.langdock_mock\((\w+=(?:, \w+=)*)\)", text))
    assert tuple(part.rstrip("=") for part in signature.split(", ")) == tuple(plugin._MARKER_KWARGS)
    for row in _table(PYTEST_SECTION, "| member |"):
        for member in _code(row[0]):
            name = member.split("(")[0]
            assert hasattr(MockServer, name) or name in ("url", "api_key"), name


def run_section_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, title: str
) -> None:
    """Run each python block of a README section as a test file; every test in it must pass."""
    for name in list(os.environ):
        if name.startswith("LANGDOCK_"):
            monkeypatch.delenv(name)
    python = [b for b in blocks(title) if b.lang == "python"]
    assert python, f"no python example under '## {title}'"
    for block in python:
        pytester.makepyfile(block.code)
        run(pytester).assert_outcomes(passed=len(re.findall(r"^def test_", block.code, re.M)))


def test_quick_start_example_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_section_tests(pytester, monkeypatch, "Quick start")
