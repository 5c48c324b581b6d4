"""What the assistant says: deterministic Faker prose, and scripted replies queued by tests."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["ReplyMatch", "ReplyRequest", "ReplyScript", "ReplyWriter", "ScriptedReply"]

ABSENT: Any = object()


class ReplyRequest(NamedTuple):
    """What a scripted reply can match on."""

    family: str
    target_id: str | None
    texts: tuple[str, ...]
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplyMatch:
    """Which requests a scripted reply answers; every given field must match."""

    assistant_id: str | None = None
    agent_id: str | None = None
    contains: str | None = None

    def matches(self, request: ReplyRequest) -> bool:
        """Whether ``request`` is one this reply is for."""
        if self.assistant_id is not None and (
            request.family != "assistant" or request.target_id != self.assistant_id
        ):
            return False
        if self.agent_id is not None and (
            request.family != "agent" or request.target_id != self.agent_id
        ):
            return False
        return self.contains is None or any(self.contains in text for text in request.texts)


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """A queued answer: fixed text or a function of the request, optional tool steps and output."""

    id: str
    text: str | None = None
    match: ReplyMatch = field(default_factory=ReplyMatch)
    times: int | None = 1
    tools: tuple[dict[str, Any], ...] = ()
    output: Any = ABSENT
    responder: Callable[[dict[str, Any]], str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The wire form for GET /__admin/replies."""
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "match": {
                "assistantId": self.match.assistant_id,
                "agentId": self.match.agent_id,
                "contains": self.match.contains,
            },
            "times": self.times,
            "tools": list(self.tools),
            "function": self.responder is not None,
        }
        if self.output is not ABSENT:
            data["output"] = self.output
        return data


class ReplyScript:
    """Scripted replies in order; the first that matches is used and its ``times`` counts down."""

    def __init__(self) -> None:
        self._queue: list[ScriptedReply] = []

    def add(self, reply: ScriptedReply) -> None:
        """Queue a reply after the others."""
        self._queue.append(reply)

    def __bool__(self) -> bool:
        """Whether any reply is queued."""
        return bool(self._queue)

    def peek(self, request: ReplyRequest) -> ScriptedReply | None:
        """The reply ``take`` would return, left in the queue."""
        return next((reply for reply in self._queue if reply.match.matches(request)), None)

    def take(self, request: ReplyRequest) -> ScriptedReply | None:
        """The first matching reply, consumed once (None when nothing matches)."""
        for index, reply in enumerate(self._queue):
            if reply.match.matches(request):
                if reply.times is not None:
                    if reply.times <= 1:
                        del self._queue[index]
                    else:
                        self._queue[index] = replace(reply, times=reply.times - 1)
                return reply
        return None

    def pending(self) -> list[ScriptedReply]:
        """What is left, in order."""
        return list(self._queue)

    def clear(self) -> None:
        """Drop every scripted reply."""
        self._queue.clear()

    def copy(self) -> ReplyScript:
        """A copy for snapshots (replies are immutable)."""
        twin = ReplyScript()
        twin._queue = list(self._queue)
        return twin


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
