"""Cutting a file's text into the chunks search ranks: paragraphs, packed up to a size."""

from __future__ import annotations

import re

__all__ = ["CHUNK_CHARS", "chunk"]

CHUNK_CHARS = 1000  # about 250 tokens, a common retrieval chunk
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")


def _pack(items: list[str], size: int, joiner: str) -> list[str]:
    """Items joined greedily into runs of at most ``size`` characters (a longer item alone)."""
    packed: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + len(joiner) + len(item) > size:
            packed.append(current)
            current = item
        else:
            current = f"{current}{joiner}{item}" if current else item
    if current:
        packed.append(current)
    return packed


def chunk(text: str, size: int = CHUNK_CHARS) -> tuple[str, ...]:
    """The text as chunks of at most ``size`` characters (but for single long words).

    Paragraphs (blank-line separated) stay whole where they fit and are packed together while
    the chunk stays under ``size``; a longer one is cut at word boundaries. Whitespace inside a
    paragraph becomes single spaces. Same text, same chunks: a search result's index is stable.
    """
    pieces: list[str] = []
    for raw in _PARAGRAPHS.split(text):
        paragraph = _SPACE.sub(" ", raw).strip()
        if len(paragraph) > size:
            pieces.extend(_pack(paragraph.split(" "), size, " "))
        elif paragraph:
            pieces.append(paragraph)
    return tuple(_pack(pieces, size, "\n\n"))
