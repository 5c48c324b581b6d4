"""What the assistant says unscripted: deterministic Faker lorem prose chosen by a seeded hash."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import struct
from pathlib import Path

__all__ = ["ReplyWriter", "lorem_words"]


class ReplyWriter:
    """Faker prose chosen by a hash of (seed, request): same seed and request, same reply."""

    def __init__(self, seed: int) -> None:
        # Modulo 2**128 is the two's complement of every seed that fits, and takes any other.
        self._seed = (seed % 2**128).to_bytes(16, "big")

    def number(self, material: bytes) -> int:
        """A 64-bit number derived from the seed and ``material``."""
        digest = hashlib.blake2b(self._seed + material, digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def text(self, material: bytes) -> str:
        """A paragraph of one to four sentences, fixed by the seed and ``material``."""
        return self.text_for(self.number(material))

    def text_for(self, number: int) -> str:
        """The paragraph of ``text`` for a number already drawn with ``number()``.

        Faker's lorem prose: its en_US words, three to eight to a sentence, the first one
        capitalised, a full stop. The words come from one 64-byte BLAKE2b digest of the number,
        read as 32 indices (the longest paragraph's words). Faker's own ``paragraph()`` seeds a
        Mersenne Twister per reply, and that seeding alone was a fifth of a completion's cost.
        """
        words, titles = _lexicon()
        size = len(words)
        digest = hashlib.blake2b(number.to_bytes(8, "big"), digest_size=64).digest()
        picks = _INDICES.unpack(digest)
        sentences = []
        start = 0
        for shift in _SENTENCE_BYTES[number & 3]:  # one to four sentences
            end = start + 3 + (number >> shift) % 6  # three to eight words
            rest = " ".join([words[pick % size] for pick in picks[start + 1 : end]])
            sentences.append(f"{titles[picks[start] % size]} {rest}.")
            start = end
        return " ".join(sentences)


_INDICES = struct.Struct(">32H")
# The byte of the number that sets each sentence's length (bits 0-1 set the sentence count).
_SENTENCE_BYTES = tuple(tuple(2 + 8 * sentence for sentence in range(n)) for n in range(1, 5))


@functools.cache
def _lexicon() -> tuple[tuple[str, ...], tuple[str, ...]]:
    words = lorem_words()
    return words, tuple(word.title() for word in words)


@functools.cache
def lorem_words() -> tuple[str, ...]:
    """Faker's en_US lorem words, read from its source (importing faker costs ~200 ms)."""
    spec = importlib.util.find_spec("faker")
    roots = spec.submodule_search_locations if spec is not None else None
    if roots:
        found = _word_list(Path(roots[0], "providers", "lorem", "en_US", "__init__.py"))
        if found:
            return found
    from faker.providers.lorem.en_US import Provider  # a layout we do not know: the slow way

    return tuple(Provider.word_list)


def _word_list(path: Path) -> tuple[str, ...] | None:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return None
    # Only the tuple's own text: parsing the whole 66 kB module cost ~10 ms of the first reply.
    start = source.find("word_list = (")
    end = source.find("\n    )", start)
    if start < 0 or end < 0:
        return None
    try:
        words = ast.literal_eval(source[start + len("word_list = ") : end + len("\n    )")])
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(words, tuple) or not all(isinstance(word, str) for word in words):
        return None
    return words
