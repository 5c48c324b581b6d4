"""The documentation pages as data: their fenced blocks, comments, sections and tables."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<lang>[\w+-]*)\s*$")
_COMMENT = re.compile(r"<!-- (?P<word>expect|not run|serve): ?(?P<value>.*?) -->")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it is, its language and code, and what the comments say of it."""

    page: str
    line: int
    lang: str
    code: str
    expect: dict[str, int] | None = None
    not_run: str | None = None
    output: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        """``docs/page.md:LINE``, the test id and the place to look."""
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """Every page whose examples the suite runs: the README, CONTRIBUTING.md and docs/."""
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]


def relative(path: Path) -> str:
    """The page's path from the repository root, as test ids and messages show it."""
    return path.relative_to(ROOT).as_posix()


@cache
def page_text(name: str) -> str:
    """The text of a page named by its path from the root, such as ``docs/pytest.md``."""
    return (ROOT / name).read_text(encoding="utf-8")


@cache
def blocks(name: str) -> tuple[Block, ...]:
    """The page's fenced blocks; a ```text block right after a code block is its output."""
    lines = page_text(name).splitlines()
    found: list[Block] = []
    comments: dict[str, str] = {}
    last_end = 0  # the line after the previous block's closing fence
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if not fence:
            if line.strip() and not _COMMENT.fullmatch(line.strip()):
                comments.clear()  # a comment applies to the block right below it only
            for match in _COMMENT.finditer(line):
                comments[match["word"]] = match["value"]
            index += 1
            continue
        indent, ticks, lang = fence["indent"], fence["ticks"], fence["lang"]
        end = next(
            (i for i in range(index + 1, len(lines)) if lines[i].rstrip() == indent + ticks),
            None,
        )
        if end is None:
            raise ValueError(f"{name}:{index + 1}: the fence is never closed")
        code = "\n".join(row.removeprefix(indent) for row in lines[index + 1 : end]) + "\n"
        follows = found and not any(row.strip() for row in lines[last_end:index])
        if lang == "text" and follows and found[-1].lang in RUN and found[-1].output is None:
            found[-1] = replace(found[-1], output=tuple(code.splitlines()))
        else:
            expect = None
            if "expect" in comments:
                expect = {k: int(v) for k, v in (p.split("=") for p in comments["expect"].split())}
            found.append(Block(name, index + 1, lang, code, expect, comments.get("not run")))
        comments = {}
        index = last_end = end + 1
    return tuple(found)


RUN = ("python", "bash")
"""Languages the suite runs: python as a test file or a script, bash against a live server."""

FREE = ("text", "json")
"""Languages of data shown as it is, which need no ``not run`` comment."""


def serve_flags(name: str) -> tuple[str, ...]:
    """The server options a page asks for in ``<!-- serve: ... -->`` (none by default)."""
    found = re.findall(r"<!-- serve: (.*?) -->", page_text(name))
    return tuple(flag for flags in found for flag in shlex.split(flags))


def section(name: str, title: str) -> str:
    """The text under the heading ``title`` of a page, up to the next heading of that level."""
    lines = page_text(name).splitlines()
    [start] = [i for i, line in enumerate(lines) if re.fullmatch(r"#+ " + re.escape(title), line)]
    level = lines[start].index(" ")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("#") and 0 < lines[i].index(" ") <= level
        ),
        len(lines),
    )
    return "\n".join(lines[start + 1 : end])


def table(text: str, header: str) -> list[list[str]]:
    """The body rows of the table whose header row starts with ``header``, as cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def code_spans(cell: str) -> list[str]:
    """The `code` spans of a table cell or sentence."""
    return re.findall(r"`([^`]+)`", cell)
