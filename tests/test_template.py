"""JSON templates: filled, they are orjson's encoding of the document, byte for byte."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.api.outcome import Call, Choice, Completion
from mockserver.api.providers.openai_chat import chat_body, chat_encoded
from mockserver.api.template import JsonTemplate

# Any text orjson can encode: every code point but lone surrogates.
texts = st.text(st.characters(exclude_categories=["Cs"]))
counts = st.integers(min_value=0, max_value=2**40)


def _call(model: str) -> Call:
    return cast(Call, SimpleNamespace(body={"model": model}))


@given(
    text=texts,
    model=texts,
    truncated=st.booleans(),
    created=counts,
    prompt=counts,
    produced=counts,
    message_id=st.uuids().map(lambda u: u.hex),  # a provider completion's id: hex digits
)
def test_the_encoded_chat_completion_is_chat_body_encoded(
    text: str,
    model: str,
    truncated: bool,
    created: int,
    prompt: int,
    produced: int,
    message_id: str,
) -> None:
    completion = Completion.make(
        family="openai.chat",
        message_id=message_id,
        text=text,
        choices=(Choice(text, truncated),),
        prompt_tokens=prompt,
        completion_tokens=produced,
        created=created,
    )
    call = _call(model)
    assert chat_encoded(call, completion) == orjson.dumps(chat_body(call, completion))


def test_tool_calls_and_several_choices_take_the_dict_path() -> None:
    step: dict[str, Any] = {"toolCallId": "call_1", "toolName": "f", "args": {}, "result": None}
    with_tools = Completion.make(
        family="openai.chat", message_id="m", text="", steps=(step,), choices=(Choice(""),)
    )
    two = Completion.make(
        family="openai.chat", message_id="m", text="a", choices=(Choice("a"), Choice("b"))
    )
    assert chat_encoded(_call("gpt-4o"), with_tools) is None
    assert chat_encoded(_call("gpt-4o"), two) is None


@given(values=st.lists(st.one_of(texts, counts, st.none(), st.booleans()), min_size=3, max_size=3))
def test_a_template_fills_like_orjson_encodes(values: list[Any]) -> None:
    shape = {"a": "{a}", "b": ["x", "{b}", {"100%": "{c}"}], "d": None}
    template = JsonTemplate(shape, ("a", "b", "c"))
    filled = {"a": values[0], "b": ["x", values[1], {"100%": values[2]}], "d": None}
    assert template.fill(*values) == orjson.dumps(filled)


@given(text=texts, number=counts)
def test_values_encoded_beforehand_fill_like_the_values(text: str, number: int) -> None:
    template = JsonTemplate({"s": "{s}", "n": "{n}"}, ("s", "n"), integers=frozenset({"n"}))
    assert template.fill_encoded((orjson.dumps(text), number)) == template.fill(text, number)


def test_integers_go_in_by_number() -> None:
    template = JsonTemplate({"n": "{n}", "s": "{s}"}, ("n", "s"), integers=frozenset({"n"}))
    assert template.fill(12, "%d") == b'{"n":12,"s":"%d"}'


@pytest.mark.parametrize(
    ("shape", "names"),
    [
        ({"a": "{a}"}, ("a", "b")),  # a name without its placeholder
        ({"a": "{a}", "b": "{a}"}, ("a",)),  # a placeholder twice
        ({"a": "{a}", "b": "{b}"}, ("b", "a")),  # out of document order
    ],
)
def test_a_template_refuses_placeholders_it_cannot_place(
    shape: dict[str, Any], names: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="must occur once"):
        JsonTemplate(shape, names)


def test_fill_counts_its_values() -> None:
    with pytest.raises(TypeError, match="takes 1 values, got 2"):
        JsonTemplate({"a": "{a}"}, ("a",)).fill(1, 2)


@given(text=texts, number=counts, inner=texts)
def test_bound_values_and_values_inside_a_string_fill_like_orjson(
    text: str, number: int, inner: str
) -> None:
    shape = {"id": "pre-{i}-post", "s": "{s}", "n": "{n}", "t": "100%"}
    template = JsonTemplate(
        shape, ("i", "s", "n"), integers=frozenset({"n"}), inside=frozenset({"i"})
    )
    expected = orjson.dumps({"id": f"pre-{inner}-post", "s": text, "n": number, "t": "100%"})
    assert template.fill(inner, text, number) == expected
    assert template.bind(s=text).fill(inner, number) == expected
    assert template.bind(i=inner, n=number).fill_encoded((orjson.dumps(text),)) == expected
    assert template.bind(s=text, n=number).names == ("i",)


def test_bind_names_only_its_placeholders() -> None:
    with pytest.raises(ValueError, match=r"no placeholders named \['x'\]"):
        JsonTemplate({"a": "{a}"}, ("a",)).bind(x=1)
