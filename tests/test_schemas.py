"""The schema bundle: loading, both profiles and their patches, meta-validity, broken folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mockserver.errors import SchemaError
from mockserver.schemas import load_bundle

REPO_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FILES = sorted(
    p.relative_to(REPO_SCHEMAS).as_posix()
    for p in REPO_SCHEMAS.rglob("*.json")
    if p.name != "api.json"
)
PROFILES = ("seed", "2026")
ASSISTANT_OPERATIONS = {
    "assistant.create": ("POST", "/assistant/v1/create"),
    "assistant.get": ("GET", "/assistant/v1/get"),
    "assistant.update": ("PATCH", "/assistant/v1/update"),
    "assistant.disable": ("PATCH", "/assistant/v1/disable"),
    "assistant.models": ("GET", "/assistant/v1/models"),
    "assistant.completions": ("POST", "/assistant/v1/chat/completions"),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_both_profiles_load_every_file_and_operation(profile: str) -> None:
    bundle = load_bundle(None, profile)
    assert bundle.profile == profile
    assert sorted(bundle.documents) == FILES
    for op_id, (method, path) in ASSISTANT_OPERATIONS.items():
        operation = bundle.operation(op_id)
        assert (operation.method, operation.path) == (method, path)
    assert bundle.operation("assistant.completions").rate_limited
    assert bundle.operation("assistant.disable").admin
    assert bundle.operation("assistant.models").scope is None


def test_bundles_are_loaded_once_per_folder_and_profile() -> None:
    assert load_bundle(None, "seed") is load_bundle(None, "seed")
    assert load_bundle(None, "seed") is not load_bundle(None, "2026")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", FILES)
def test_every_schema_file_is_a_valid_2020_12_schema(profile: str, name: str) -> None:
    bundle = load_bundle(None, profile)
    document = bundle.document(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == bundle.base + name
    Draft202012Validator.check_schema(document)
    bundle.validator(name)  # compiles, every $ref resolved


def test_every_operation_names_existing_schemas_with_vendor_error_bodies() -> None:
    bundle = load_bundle(None, "seed")
    for op_id in ASSISTANT_OPERATIONS:
        operation = bundle.operation(op_id)
        for status, ref in operation.responses.items():
            assert ref in bundle.documents
            if status >= 400:
                assert ref.startswith("errors/"), (op_id, status)
        assert 401 in operation.responses
        if operation.body_schema:
            assert 400 in operation.responses


# The contract page's table, as JSON pointers into the patched files: (seed, 2026).
FIELDS = "defs/assistant-fields.json"
PATCHED = [
    (FIELDS, "/$defs/name/maxLength", 255, 80),
    (FIELDS, "/$defs/name/minLength", 1, 1),
    (FIELDS, "/$defs/description/maxLength", 256, 500),
    (FIELDS, "/$defs/nullableDescription/maxLength", 256, 500),
    (FIELDS, "/$defs/instruction/maxLength", 16384, 40000),
    (FIELDS, "/$defs/nullableInstruction/maxLength", 16384, 40000),
    (FIELDS, "/$defs/emoji/maxLength", None, 16),
    (FIELDS, "/$defs/conversationStarters/maxItems", None, 20),
    (FIELDS, "/$defs/conversationStarter/minLength", None, 1),
    (FIELDS, "/$defs/conversationStarter/maxLength", None, 255),
    (FIELDS, "/$defs/action/properties/requiresConfirmation/default", False, True),
    ("requests/assistant-create.json", "/properties/extendedThinking", None, "present"),
    ("requests/assistant-update.json", "/properties/extendedThinking", None, "present"),
    ("defs/completion-fields.json", "/$defs/temporaryConfig/properties/name/maxLength", 64, 64),
    ("defs/completion-fields.json", "/$defs/maxSteps/maximum", 20, 20),
    ("responses/models.json", "/properties/data/items/properties/region", None, "present"),
]


def _at(bundle_profile: str, name: str, pointer: str) -> Any:
    try:
        value = load_bundle(None, bundle_profile).resolve(name, pointer)
    except KeyError:
        return None
    return "present" if isinstance(value, dict) else value


@pytest.mark.parametrize(
    ("name", "pointer", "seed", "newer"), PATCHED, ids=[f"{n}#{p}" for n, p, _, _ in PATCHED]
)
def test_profiles_patch_exactly_the_documented_limits(
    name: str, pointer: str, seed: Any, newer: Any
) -> None:
    assert (_at("seed", name, pointer), _at("2026", name, pointer)) == (seed, newer)


def test_patches_do_not_touch_the_files_on_disk() -> None:
    load_bundle(None, "2026")
    on_disk = json.loads((REPO_SCHEMAS / FIELDS).read_text(encoding="utf-8"))
    assert on_disk["$defs"]["name"]["maxLength"] == 255
    assert load_bundle(None, "seed").resolve(FIELDS, "/$defs/name/maxLength") == 255


def test_an_unknown_profile_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="unknown profile '2027'"):
        load_bundle(None, "2027")


def copy_schemas(tmp_path: Path) -> Path:
    """A copy of the repo's schema folder, to break or change."""
    root = tmp_path / "schemas"
    shutil.copytree(REPO_SCHEMAS, root)
    return root


def edit_schema(root: Path, name: str, change: Any) -> None:
    """Apply ``change`` to the parsed file ``name`` under ``root`` and write it back."""
    path = root / name
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


BROKEN = [
    pytest.param(
        lambda root: (root / "defs" / "assistant-fields.json").write_text("{oops"),
        "defs/assistant-fields.json: cannot read",
        id="bad-json",
    ),
    pytest.param(
        lambda root: (root / "errors" / "message.json").write_text("[]"),
        "errors/message.json: a schema file must hold a JSON object",
        id="not-an-object",
    ),
    pytest.param(
        lambda root: edit_schema(root, "errors/message.json", lambda d: d.update({"$id": "x"})),
        "errors/message.json#/$id: expected",
        id="wrong-id",
    ),
    pytest.param(
        lambda root: edit_schema(
            root,
            "api.json",
            lambda d: d["operations"]["assistant.create"].update({"request": "requests/no.json"}),
        ),
        "names missing file requests/no.json",
        id="missing-request-file",
    ),
    pytest.param(
        lambda root: edit_schema(
            root,
            "api.json",
            lambda d: d["profiles"]["seed"]["patches"].update({"defs/no.json": []}),
        ),
        "defs/no.json: profile 'seed' patches a missing file",
        id="patch-of-missing-file",
    ),
    pytest.param(
        lambda root: edit_schema(
            root,
            "api.json",
            lambda d: d["profiles"]["seed"]["patches"].update(
                {FIELDS: [{"op": "replace", "path": "/$defs/nope/maxLength", "value": 1}]}
            ),
        ),
        "defs/assistant-fields.json: profile 'seed'",
        id="patch-of-missing-pointer",
    ),
    pytest.param(
        lambda root: edit_schema(
            root, "api.json", lambda d: d["operations"]["assistant.create"].pop("method")
        ),
        "api.json#/operations/assistant.create: bad operation",
        id="operation-without-method",
    ),
]


@pytest.mark.parametrize(("breakage", "message"), BROKEN)
def test_a_broken_folder_is_a_schema_error_naming_the_file(
    tmp_path: Path, breakage: Any, message: str
) -> None:
    root = copy_schemas(tmp_path)
    breakage(root)
    with pytest.raises(SchemaError) as caught:
        load_bundle(root, "seed")
    assert message in str(caught.value)


def test_an_unknown_operation_or_file_is_a_schema_error() -> None:
    bundle = load_bundle(None, "seed")
    with pytest.raises(SchemaError, match="unknown operation"):
        bundle.operation("assistant.delete")
    with pytest.raises(SchemaError, match="no such schema file"):
        bundle.document("requests/nope.json")


def test_dereferenced_inlines_every_ref() -> None:
    bundle = load_bundle(None, "2026")
    create = bundle.dereferenced("requests/assistant-create.json")
    assert create["properties"]["name"]["maxLength"] == 80
    assert "$ref" not in json.dumps(create)
