"""Structured output: example values for the requested JSON Schema, valid and deterministic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from starlette.testclient import TestClient

from mockserver.api.structured_output import sample
from tests.replies import COMPLETIONS, INLINE, OUTPUT_SCHEMAS, complete, text_of


@pytest.mark.parametrize("schema", OUTPUT_SCHEMAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_object_output_validates_against_the_requested_schema(
    make_client: Callable[..., TestClient], schema: dict[str, Any], seed: int
) -> None:
    client = make_client(seed=seed)
    reply = complete(client, output={"type": "object", "schema": schema})
    jsonschema_rs.validator_for(schema).validate(reply["output"])
    again = complete(client, output={"type": "object", "schema": schema})
    assert (again["output"], text_of(again)) == (reply["output"], text_of(reply))


@pytest.mark.parametrize("schema", OUTPUT_SCHEMAS)
def test_array_output_is_a_list_of_valid_items(client: TestClient, schema: dict[str, Any]) -> None:
    output = complete(client, output={"type": "array", "schema": schema})["output"]
    assert isinstance(output, list)
    assert output
    validator = jsonschema_rs.validator_for(schema)
    for item in output:
        validator.validate(item)


@pytest.mark.parametrize("content", ["a", "b", "c", "d", "e", "f"])
def test_enum_output_is_one_of_the_strings(client: TestClient, content: str) -> None:
    options = ["positive", "negative", "neutral"]
    reply = complete(client, content, output={"type": "enum", "enum": options})
    assert reply["output"] in options
    assert text_of(reply)


def test_enum_output_varies_with_the_request(client: TestClient) -> None:
    options = [f"option-{n}" for n in range(10)]
    seen = {
        complete(client, f"question {n}", output={"type": "enum", "enum": options})["output"]
        for n in range(12)
    }
    assert len(seen) > 1


def test_output_without_a_schema(client: TestClient) -> None:
    reply = complete(client, output={"type": "object"})
    assert reply["output"] == {"answer": text_of(reply)}
    strings = complete(client, output={"type": "array"})["output"]
    assert len(strings) == 2
    assert all(isinstance(item, str) for item in strings)


def test_no_output_without_an_output_request(client: TestClient) -> None:
    assert "output" not in complete(client)


def test_an_unsatisfiable_schema_is_a_400_not_a_wrong_value(client: TestClient) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}}
    body = {
        "assistant": INLINE,
        "messages": [{"role": "user", "content": "x"}],
        "output": {"type": "object", "schema": schema},
    }
    state = client.app.state.mock  # type: ignore[attr-defined]
    before = state.limiter.usage(), len(state.store.records)
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 400
    [issue] = response.json()["message"]
    assert (issue["path"], issue["code"]) == (["output", "schema"], "custom")
    assert "/__admin/replies" in issue["message"]
    assert (state.limiter.usage(), len(state.store.records)) == before  # charged nothing


@pytest.mark.parametrize("seed", range(5))
def test_sample_is_deterministic_and_valid(seed: int) -> None:
    for param in OUTPUT_SCHEMAS:
        schema: Any = param.values[0]
        value = sample(schema, seed)
        assert sample(schema, seed) == value
        assert jsonschema_rs.validator_for(schema).is_valid(value), (schema, value)
