"""What the assistant says unscripted: deterministic Faker lorem prose chosen by a seeded hash."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import struct
from operator import itemgetter
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
        digest = hashlib.blake2b(number.to_bytes(8, "big"), digest_size=64).digest()
        picks = list(_INDICES.unpack(digest))
        start = 0
        for shift in _SENTENCE_BYTES[number & 3]:  # one to four sentences
            end = start + 3 + (number >> shift) % 6  # three to eight words
            picks[start] += _TITLED  # the sentence's first word, capitalised
            picks[end - 1] += _STOPPED  # its last, with the full stop
            start = end
        # One lookup of every word in C: a sentence costs two additions, not a comprehension,
        # a join and a format of its own (3.2k instructions a sentence against 8.0k).
        return " ".join(itemgetter(*picks[:start])(_table()))


_INDICES = struct.Struct(">32H")
# The byte of the number that sets each sentence's length (bits 0-1 set the sentence count).
_SENTENCE_BYTES = tuple(tuple(2 + 8 * sentence for sentence in range(n)) for n in range(1, 5))
_PICKS = 1 << 16  # an index is 16 bits, its word the index modulo the lexicon's size
_TITLED, _STOPPED = _PICKS, 2 * _PICKS  # where the capitalised and the stopped words start


@functools.cache
def _table() -> tuple[str, ...]:
    """The word of every index, then its capitalised form, then with a full stop (1.5 MB).

    ``words[index % len(words)]`` for every 16-bit index is the lexicon repeated.
    """
    words = lorem_words()
    repeats = -(-_PICKS // len(words))
    titled = tuple(word.title() for word in words)
    stopped = tuple(word + "." for word in words)
    return (words * repeats)[:_PICKS] + (titled * repeats)[:_PICKS] + (stopped * repeats)[:_PICKS]


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
