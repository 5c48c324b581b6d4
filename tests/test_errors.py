"""The two error trees, the one renderer, and the one JSON-path formatter."""

from __future__ import annotations

import pytest

from mockserver.errors import (
    ApiError,
    FieldError,
    InternalError,
    MockServerError,
    ValidationFailed,
    json_path,
    render,
)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("messages", 0, "role"), "$.messages[0].role"),
        ((0, "a"), "$[0].a"),
        (("a.b", "c"), "$.a.b.c"),
    ],
    ids=["body", "nested", "leading-index", "dotted-name"],
)
def test_json_path(path: tuple[str | int, ...], text: str) -> None:
    assert json_path(path) == text


def test_render_in_either_envelope() -> None:
    issues = (FieldError(("name",), "invalid_type", "Expected string, received number"),)
    status, body = render(ValidationFailed(issues))
    assert (status, body) == (400, {"message": [issue.as_json() for issue in issues]})
    assert render(ValidationFailed(issues), "error") == (
        400,
        {"error": "Expected string, received number"},
    )
    assert render(InternalError()) == (500, {"message": InternalError.default_message})


def test_the_trees_stay_apart() -> None:
    assert not issubclass(ApiError, MockServerError)
    assert not issubclass(MockServerError, ApiError)
