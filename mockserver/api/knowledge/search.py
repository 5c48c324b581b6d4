"""Knowledge search: BM25 over every chunk the key can see, the best chunk of each file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from mockserver.store import KnowledgeFile, KnowledgeFolder

__all__ = ["Hit", "rank", "similarity", "tokens"]

_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased words: what BM25 counts (no stemming, no stop words, so a test can count)."""
    return _WORD.findall(text.lower())


def similarity(score: float) -> float:
    """A BM25 score mapped into [0, 1), keeping the order: score / (score + 1)."""
    return round(score / (score + 1.0), 6) if score > 0 else 0.0


class Hit(NamedTuple):
    """A file's best chunk for a query."""

    folder: KnowledgeFolder
    file: KnowledgeFile
    chunk: int
    score: float

    def as_json(self) -> dict[str, Any]:
        """The vendor's search result: text, similarity, subsource, subname, id, url, index."""
        return {
            "text": self.file.chunks[self.chunk],
            "similarity": similarity(self.score),
            "subsource": self.folder.id,
            "subname": self.file.name,
            "id": self.file.id,
            "url": self.file.url or "",
            "index": self.chunk,
        }


def rank(query: str, folders: Iterable[KnowledgeFolder]) -> list[Hit]:
    """The best-scoring chunk of every file with a positive BM25 score, best first.

    One BM25 index (bm25s, Lucene's variant, k1 1.5, b 0.75) over all the chunks of the
    folders given; ties go to the file with the smaller id, so the order is deterministic.
    """
    places: list[tuple[KnowledgeFolder, KnowledgeFile, int]] = []
    corpus: list[list[str]] = []
    for folder in folders:
        for file in folder.files.values():
            for index, text in enumerate(file.chunks):
                places.append((folder, file, index))
                corpus.append(tokens(text))
    wanted = tokens(query)
    if not wanted or not any(corpus):
        return []
    import bm25s  # type: ignore[import-untyped]  # Reason: bm25s ships no types; deferred: numpy loads on the first search

    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(corpus, show_progress=False)
    scores = retriever.get_scores(wanted)
    best: dict[str, Hit] = {}
    for (folder, file, index), score in zip(places, scores.tolist(), strict=True):
        if score <= 0:
            continue
        held = best.get(file.id)
        if held is None or score > held.score:
            best[file.id] = Hit(folder, file, index, score)
    return sorted(best.values(), key=lambda hit: (-hit.score, hit.file.id))
