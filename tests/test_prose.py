"""Unscripted replies: deterministic Faker prose, and byte-identical servers under one seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.api.prose import ReplyWriter, lorem_words
from tests.replies import COMPLETIONS, INLINE, OUTPUT_SCHEMAS, complete, text_of


def test_same_seed_and_request_give_the_same_text(make_client: Callable[..., TestClient]) -> None:
    first, second = make_client(seed=1), make_client(seed=1)
    assert text_of(complete(first)) == text_of(complete(second))
    assert text_of(complete(first)) == text_of(complete(first))  # and again on the same server


def test_another_seed_or_request_gives_another_text(
    make_client: Callable[..., TestClient],
) -> None:
    texts = {
        text_of(complete(make_client(seed=1))),
        text_of(complete(make_client(seed=2))),
        text_of(complete(make_client(seed=1), "Goodbye")),
    }
    assert len(texts) == 3


def test_the_text_is_faker_prose() -> None:
    writer = ReplyWriter(0)
    texts = [writer.text(f"request {n}".encode()) for n in range(20)]
    assert all(t and t[0].isupper() and t.endswith(".") for t in texts)
    assert len(set(texts)) == 20
    assert ReplyWriter(0).text(b"x") == writer.text(b"x")
    assert ReplyWriter(0).number(b"x") != ReplyWriter(1).number(b"x")


# Two fresh servers, same seed, same requests: the same bytes.

SEQUENCE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/assistant/v1/create", {"json": {"name": "Det", "instruction": "Be exact."}}),
    ("GET", "/assistant/v1/get", {"params": {"assistantId": "{id}"}}),
    (
        "PATCH",
        "/assistant/v1/update",
        {"json": {"assistantId": "{id}", "description": "d", "bogus": 1}},
    ),
    (
        "POST",
        COMPLETIONS,
        {"json": {"assistantId": "{id}", "messages": [{"role": "user", "content": "Hi"}]}},
    ),
    (
        "POST",
        COMPLETIONS,
        {
            "json": {
                "assistant": INLINE,
                "messages": [{"role": "user", "content": "Rate it"}],
                "output": {"type": "object", "schema": OUTPUT_SCHEMAS[0].values[0]},
            }
        },
    ),
    ("POST", "/assistant/v1/create", {"json": {"name": ""}}),
    (
        "GET",
        "/assistant/v1/get",
        {"params": {"assistantId": "00000000-0000-4000-8000-0000000000ff"}},
    ),
    ("GET", "/assistant/v1/models", {}),
    ("DELETE", "/assistant/v1/create", {}),
    ("POST", "/assistant/v1/create", {"json": {"name": "Second"}}),
]
VOLATILE = {"date", "server"}


def replay(server: MockServer) -> list[tuple[int, dict[str, str], bytes]]:
    """Run the sequence; the first created id fills every {id}."""
    answers = []
    assistant_id = ""
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer sk-ld-mock"}) as http:
        for method, path, kwargs in SEQUENCE:
            filled: dict[str, Any] = {
                k: {f: (assistant_id if v == "{id}" else v) for f, v in part.items()}
                for k, part in kwargs.items()
            }
            response = http.request(method, path, **filled)
            if not assistant_id and response.status_code == 201:
                assistant_id = response.json()["assistant"]["id"]
            headers = {k: v for k, v in response.headers.items() if k not in VOLATILE}
            answers.append((response.status_code, headers, response.content))
    return answers


def test_two_fresh_servers_with_one_seed_answer_byte_for_byte() -> None:
    with MockServer(seed=9) as first, MockServer(seed=9) as second:
        one, two = replay(first), replay(second)
    assert [status for status, _, _ in one] == [201, 200, 200, 200, 200, 400, 404, 200, 405, 201]
    assert one == two


def test_another_seed_gives_other_ids_and_text() -> None:
    with MockServer(seed=9) as first, MockServer(seed=10) as second:
        one, two = replay(first), replay(second)
    assert one[0][2] != two[0][2]  # the created assistant's id
    assert one[3][2] != two[3][2]  # the completion
    assert one[7] == two[7]  # the catalogue does not depend on the seed


def test_the_text_is_faker_lorem_prose() -> None:
    from faker.providers.lorem.en_US import Provider

    assert lorem_words() == tuple(Provider.word_list)  # read from Faker's source, not imported
    vocabulary = set(Provider.word_list)
    capitalised = {word.title(): word for word in vocabulary}
    writer = ReplyWriter(3)
    shapes: set[tuple[int, ...]] = set()
    seen: set[str] = set()
    for n in range(2000):
        text = writer.text(f"request {n}".encode())
        sentences = text.split(". ")
        assert text.endswith(".")
        assert 1 <= len(sentences) <= 4
        counts = []
        for sentence in sentences:
            words = sentence.rstrip(".").split(" ")
            assert {capitalised[words[0]], *words[1:]} <= vocabulary
            counts.append(len(words))
            seen.update(words[1:])
        assert all(3 <= count <= 8 for count in counts)
        shapes.add(tuple(counts))
    # Every sentence count and length occurs, and the draws reach across the vocabulary.
    assert {len(shape) for shape in shapes} == {1, 2, 3, 4}
    assert {count for shape in shapes for count in shape} == set(range(3, 9))
    assert len(seen) > 0.95 * len(vocabulary)


def test_the_text_is_fixed_by_the_number() -> None:
    # Users' snapshots hold these texts: a change of the generator must show up here first.
    writer = ReplyWriter(0)
    assert writer.text_for(0) == "Ago my break."
    assert writer.text_for(2**64 - 1) == (
        "Military lawyer use number during finally. Everybody drop carry staff national law. "
        "Thing begin program beat answer which. Growth either identify form five church."
    )
    assert writer.number(b"x") == 11639364971155811440
    assert ReplyWriter(5).text_for(7) == writer.text_for(7)  # the seed only enters number()


@pytest.mark.parametrize("seed", [-1, 0, 2**127 - 1, -(2**127), 2**130, -(2**200)])
def test_any_integer_seed_works(make_client: Callable[..., TestClient], seed: int) -> None:
    assert text_of(complete(make_client(seed=seed)))


def test_seeds_keep_their_replies() -> None:
    """Two's complement for seeds that fit 128 bits: replies did not change with the fix."""
    for seed in (-1, 0, 7, -(2**127)):
        assert ReplyWriter(seed)._seed == seed.to_bytes(16, "big", signed=True)
