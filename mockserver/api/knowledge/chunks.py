"""Cutting a file's text into the chunks search ranks: paragraphs, packed up to a size."""

from __future__ import annotations

import re

__all__ = ["CHUNK_CHARS", "chunk"]

CHUNK_CHARS = 1000  # about 250 tokens, a common retrieval chunk
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph longer than ``size`` cut at word boundaries (a longer word stands alone)."""
    pieces: list[str] = []
    current = ""
    for word in paragraph.split(" "):
        if current and len(current) + 1 + len(word) > size:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def chunk(text: str, size: int = CHUNK_CHARS) -> tuple[str, ...]:
    """The text as chunks of at most ``size`` characters (but for single long words).

    Paragraphs (blank-line separated) stay whole where they fit and are packed together while
    the chunk stays under ``size``; whitespace inside a paragraph becomes single spaces. Same
    text, same chunks: the index a search result names is stable.
    """
    chunks: list[str] = []
    current = ""
    for raw in _PARAGRAPHS.split(text):
        paragraph = _SPACE.sub(" ", raw).strip()
        if not paragraph:
            continue
        for piece in _pieces(paragraph, size) if len(paragraph) > size else [paragraph]:
            if current and len(current) + 2 + len(piece) > size:
                chunks.append(current)
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return tuple(chunks)
