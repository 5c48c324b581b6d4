"""The reference pages are what the code generates, so an option or route cannot go undocumented."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mockserver.asgi.admin import ROUTE_TABLE
from tests import reference


@pytest.mark.parametrize(
    ("page", "generate"),
    [(reference.CLI_PAGE, reference.cli_page), (reference.ADMIN_PAGE, reference.admin_page)],
    ids=["cli", "admin-api"],
)
def test_the_committed_reference_page_is_the_generated_one(
    page: Path, generate: Callable[[], str]
) -> None:
    assert page.read_text(encoding="utf-8") == generate(), (
        f"{page.name} is out of date: run `python -m tests.reference` and commit the result"
    )


def test_every_cli_option_and_command_is_on_the_page() -> None:
    import click

    from mockserver.cli import cli

    text = reference.CLI_PAGE.read_text(encoding="utf-8")
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert f"## `langdock-mock {name}`" in text
        for param in command.params:
            for flag in param.opts + param.secondary_opts:
                assert flag in text, f"{name} {flag}"


def test_every_admin_route_of_the_app_is_in_the_table_and_documented() -> None:
    served = reference.admin_routes()
    assert len(served) == len(ROUTE_TABLE)
    text = reference.ADMIN_PAGE.read_text(encoding="utf-8")
    for method, path, handler in served:
        assert handler is not None, f"{method} {path} is served but not in ROUTE_TABLE"
        assert inspect.getdoc(handler), f"{method} {path}: its handler needs a docstring"
        assert f"## `{method} {path}`" in text


def test_every_admin_body_schema_belongs_to_a_route_that_reads_a_body() -> None:
    served = {f"{method} {path}": handler for method, path, handler in reference.admin_routes()}
    bodies = reference._body_schemas()
    assert set(bodies) <= set(served), "a schemas/admin title names no route"
    for route, handler in served.items():
        source = inspect.getsource(handler)
        reads_body = re.search(r"(?<!\w)(_body|read_json)\(", source) is not None
        assert reads_body == (route in bodies), route
