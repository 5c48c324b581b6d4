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


class _Index(NamedTuple):
    key: tuple[tuple[str, str, int], ...]
    places: list[tuple[int, int]]  # (position in the files searched, chunk number) per document
    retriever: Any  # bm25s.BM25, or None for a corpus without a single word


def _index(files: list[tuple[KnowledgeFolder, KnowledgeFile]], cache: dict[str, Any]) -> _Index:
    """The BM25 index of these folders' chunks, rebuilt only when a file changed.

    Keyed by folder, file and the hash of the file's chunks (str hashes are cached, so the key
    costs a pass over the files, not over their text).
    """
    key = tuple((folder.id, file.id, hash(file.chunks)) for folder, file in files)
    held: _Index | None = cache.get("knowledge.index")
    if held is not None and held.key == key:
        return held
    places = [(at, n) for at, (_, file) in enumerate(files) for n in range(len(file.chunks))]
    corpus = [tokens(text) for _, file in files for text in file.chunks]
    retriever = None
    if any(corpus):
        import bm25s  # type: ignore[import-untyped]  # Reason: no types; deferred: numpy loads on the first search

        retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        retriever.index(corpus, show_progress=False)
    built = cache["knowledge.index"] = _Index(key, places, retriever)
    return built


def rank(
    query: str, folders: Iterable[KnowledgeFolder], cache: dict[str, Any] | None = None
) -> list[Hit]:
    """The best-scoring chunk of every file with a positive BM25 score, best first.

    One BM25 index (bm25s, Lucene's variant, k1 1.5, b 0.75) over all the chunks of the
    folders given; ties go to the file with the smaller id, so the order is deterministic.
    ``cache`` keeps the index between searches of the same files.
    """
    wanted = tokens(query)
    files = [(folder, file) for folder in folders for file in folder.files.values()]
    index = _index(files, {} if cache is None else cache)
    if not wanted or index.retriever is None:
        return []
    scores = index.retriever.get_scores(wanted)
    best: dict[str, Hit] = {}
    for (at, chunk), score in zip(index.places, scores.tolist(), strict=True):
        if score <= 0:
            continue
        folder, file = files[at]  # the files as they are now (a url may have changed)
        held = best.get(file.id)
        if held is None or score > held.score:
            best[file.id] = Hit(folder, file, chunk, score)
    return sorted(best.values(), key=lambda hit: (-hit.score, hit.file.id))
