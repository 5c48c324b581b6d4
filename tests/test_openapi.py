"""The OpenAPI 3.1 document generated from the schema bundle: valid, complete, no second copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from mockserver.cli import cli
from mockserver.contract.openapi import build_openapi, component_key
from mockserver.errors import SchemaError
from mockserver.schemas import SchemaBundle, load_bundle

PROFILES = ("seed", "2026")


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


@pytest.fixture(params=PROFILES)
def bundle(request: pytest.FixtureRequest) -> SchemaBundle:
    return load_bundle(None, request.param)


def test_the_document_is_valid_openapi_3_1(bundle: SchemaBundle) -> None:
    document = build_openapi(bundle)
    assert document["openapi"] == "3.1.0"
    assert document["x-profile"] == bundle.profile
    validate(document)


def test_every_operation_of_the_manifest_with_every_status(bundle: SchemaBundle) -> None:
    document = build_openapi(bundle)
    for op in bundle.operations.values():
        spec = document["paths"][op.path][op.method.lower()]
        assert spec["operationId"] == op.id
        assert spec["tags"] == [op.family]
        assert set(spec["responses"]) == {str(status) for status in op.responses}
        for status, name in op.responses.items():
            media = spec["responses"][str(status)]["content"]["application/json"]
            assert media["schema"] == {"$ref": f"#/components/schemas/{component_key(name)}"}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert len(documented) == len(bundle.operations)


def test_both_prefixes_are_servers() -> None:
    servers = build_openapi(load_bundle())["servers"]
    assert [s["url"] for s in servers] == ["/", "/api/public"]


def test_every_ref_resolves_inside_the_document(bundle: SchemaBundle) -> None:
    document = build_openapi(bundle)
    refs = set(_refs(document))
    assert any("/$defs/" in ref for ref in refs)  # cross-file $refs were rewritten, not inlined
    for ref in refs:
        _resolve(document, ref)
    text = json.dumps(document)
    assert "../defs/" not in text
    assert '"$id"' not in text  # an $id would rebase the rewritten refs


def test_components_are_the_schema_files_not_a_copy(bundle: SchemaBundle) -> None:
    """Each component is its file after the profile's patches, $refs pointed into the document."""
    components = build_openapi(bundle)["components"]["schemas"]
    api_files = [name for name in bundle.documents if not name.startswith("admin/")]
    assert set(components) == {component_key(name) for name in api_files}
    name_limit = components["defs.assistant-fields"]["$defs"]["name"]["maxLength"]
    assert name_limit == (80 if bundle.profile == "2026" else 255)
    create = components["requests.assistant-create"]
    source = bundle.document("requests/assistant-create.json")
    assert create["required"] == source["required"]
    assert create["properties"]["name"] == {
        "$ref": "#/components/schemas/defs.assistant-fields/$defs/name"
    }


def test_request_bodies_and_query_parameters(bundle: SchemaBundle) -> None:
    document = build_openapi(bundle)
    get = document["paths"]["/assistant/v1/get"]["get"]
    assert "requestBody" not in get
    [parameter] = get["parameters"]
    assert parameter == {
        "name": "assistantId",
        "in": "query",
        "required": True,
        "schema": {"$ref": "#/components/schemas/requests.assistant-get/properties/assistantId"},
    }
    create = document["paths"]["/assistant/v1/create"]["post"]["requestBody"]
    assert create == {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/requests.assistant-create"}
            }
        },
    }
    for op in bundle.operations.values():
        if op.multipart:
            body = document["paths"][op.path][op.method.lower()]["requestBody"]
            schema = body["content"]["multipart/form-data"]["schema"]
            assert schema["required"] == ["file"]
            assert schema["properties"]["file"]["contentMediaType"] == "application/octet-stream"


def test_security_and_scopes() -> None:
    document = build_openapi(load_bundle())
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert "AGENT_API" in scheme["description"]
    assert "KNOWLEDGE_FOLDER_API" in scheme["description"]
    create = document["paths"]["/assistant/v1/create"]["post"]
    assert create["security"] == [{"bearer": ["AGENT_API"]}]
    assert create["x-scopes"] == ["AGENT_API", "ASSISTANT_API"]
    assert "Requires scope AGENT_API (or ASSISTANT_API)." in create["description"]
    models = document["paths"]["/assistant/v1/models"]["get"]
    assert models["security"] == [{"bearer": []}]
    assert models["x-scopes"] == []
    disable = document["paths"]["/assistant/v1/disable"]["patch"]
    assert "Admin keys only." in disable["description"]
    completions = document["paths"]["/assistant/v1/chat/completions"]["post"]
    assert "Counts against" in completions["description"]
    assert "Retry-After" in completions["responses"]["429"]["headers"]


def test_links_chain_create_to_get_update_and_completions() -> None:
    document = build_openapi(load_bundle())
    links = document["paths"]["/assistant/v1/create"]["post"]["responses"]["201"]["links"]
    assert links["assistant.get"] == {
        "operationId": "assistant.get",
        "parameters": {"assistantId": "$response.body#/assistant/id"},
    }
    for target in ("assistant.update", "assistant.completions", "assistant.disable"):
        assert links[target]["requestBody"] == {"assistantId": "$response.body#/assistant/id"}
    got = document["paths"]["/assistant/v1/get"]["get"]["responses"]["200"]["links"]
    assert "assistant.get" not in got
    assert "assistant.update" in got
    assert all(
        "links" not in response
        for status, response in document["paths"]["/assistant/v1/get"]["get"]["responses"].items()
        if status != "200"
    )


def test_streaming_completions_document_their_events() -> None:
    document = build_openapi(load_bundle())
    for path in ("/assistant/v1/chat/completions", "/agent/v1/chat/completions"):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]
        event = content["text/event-stream"]["schema"]
        assert event["required"] == ["data"]
    agent = document["paths"]["/agent/v1/chat/completions"]["post"]["responses"]["200"]
    data = agent["content"]["text/event-stream"]["schema"]["properties"]["data"]
    assert data["anyOf"][0] == {"const": "[DONE]"}
    assert data["anyOf"][1]["contentSchema"] == {
        "$ref": "#/components/schemas/responses.agent-stream-chunk"
    }


def test_the_app_serves_the_document(client: TestClient) -> None:
    response = client.get("/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == build_openapi(client.app.state.mock.bundle)  # type: ignore[attr-defined]
    assert client.get("/openapi.json").content == response.content  # built once


def test_the_cli_prints_or_writes_the_document(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["openapi", "--profile", "2026"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == build_openapi(load_bundle(None, "2026"))
    target = tmp_path / "openapi.json"
    written = runner.invoke(cli, ["openapi", "--output", str(target)])
    assert written.exit_code == 0
    assert written.output == ""
    assert json.loads(target.read_text()) == build_openapi(load_bundle())


def _folder(tmp_path: Path, ref: str) -> Path:
    manifest = {
        "prefixes": [""],
        "operations": {
            "thing.get": {
                "method": "GET",
                "path": "/thing",
                "family": "thing",
                "scope": None,
                "responses": {"200": "responses/thing.json"},
            }
        },
        "profiles": {"seed": {"patches": {}}},
    }
    (tmp_path / "responses").mkdir()
    (tmp_path / "api.json").write_text(json.dumps(manifest))
    schema = {
        "$id": "https://langdock-mock.dev/schemas/responses/thing.json",
        "type": "object",
        "properties": {"x": {"$ref": ref}},
    }
    (tmp_path / "responses" / "thing.json").write_text(json.dumps(schema))
    return tmp_path


def test_an_anchor_ref_is_a_schema_error(tmp_path: Path) -> None:
    # ($refs to other hosts never get this far: load_bundle refuses them.)
    folder = _folder(tmp_path, "#thing")
    with pytest.raises(SchemaError, match=r"responses/thing\.json: only JSON-pointer \$refs"):
        build_openapi(load_bundle(folder))
    result = CliRunner().invoke(cli, ["openapi", "--schemas", str(folder)])
    assert result.exit_code == 1
    assert "only JSON-pointer $refs are supported: " in result.output
