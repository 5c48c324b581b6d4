"""Attachments: multipart upload, delete, and 404 for unknown or deleted ids wherever used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.state import MockState

from .aisdk import user
from .responses import Response

UPLOAD = "/attachment/v1/upload"
DELETE = "/attachment/v1/delete"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
NOT_FOUND = {"message": "Resource not found (model, action or attachment)"}


def _state(client: TestClient) -> MockState:
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    return state


def _upload(
    client: TestClient | httpx.Client, name: str = "report.pdf", data: bytes = b"%PDF-1.7"
) -> str:
    response = client.post(UPLOAD, files={"file": (name, data, "application/pdf")})
    assert response.status_code == 200, response.text
    attachment_id: str = response.json()["attachmentId"]
    return attachment_id


def _delete(client: TestClient, attachment_id: str, key: str | None = None) -> Response:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    body = {"attachmentId": attachment_id}
    response: Response = client.request("DELETE", DELETE, json=body, headers=headers)
    return response


def test_upload_answers_the_id_and_the_file(client: TestClient) -> None:
    response = client.post(UPLOAD, files={"file": ("notes.txt", b"hello world", "text/plain")})
    assert response.status_code == 200
    body = response.json()
    assert body["file"] == {"name": "notes.txt", "mimeType": "text/plain", "sizeInBytes": 11}
    assert set(body) == {"attachmentId", "file"}


def test_upload_guesses_a_missing_content_type_from_the_name(client: TestClient) -> None:
    boundary = "b0undary"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="sheet.csv"\r\n\r\n'
        f"a,b\r\n--{boundary}--\r\n"
    ).encode()
    response = client.post(
        UPLOAD, content=raw, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 200
    assert response.json()["file"]["mimeType"] == "text/csv"


@pytest.mark.parametrize(
    "send",
    [
        {"files": {"upload": ("a.txt", b"x", "text/plain")}},
        {"data": {"file": "not a file"}},
        {"files": {"file": (None, "not a file")}},
        {"json": {"file": "a.txt"}},
        {"files": {"file": ("", b"", "application/octet-stream")}},
    ],
    ids=["wrong-field", "urlencoded", "multipart-text-field", "json-body", "empty-file-input"],
)
def test_upload_without_a_file_is_400_in_the_error_envelope(
    client: TestClient, send: dict[str, Any]
) -> None:
    response = client.post(UPLOAD, **send)
    assert response.status_code == 400
    assert response.json() == {"error": "No file provided"}


def test_a_misnamed_field_is_a_warning(client: TestClient) -> None:
    response = client.post(UPLOAD, files={"files": ("a.txt", b"x", "text/plain")})
    assert response.headers["X-Mock-Warnings"] == "unknown field $.files"


def test_strict_mode_refuses_extra_fields_in_the_error_envelope(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(strict=True)
    response = client.post(
        UPLOAD, files={"file": ("a.txt", b"x", "text/plain")}, data={"purpose": "chat"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Unrecognized key: 'purpose'"}


def test_malformed_multipart_is_400(client: TestClient) -> None:
    response = client.post(
        UPLOAD,
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed multipart body")


def test_upload_401_uses_the_error_envelope_and_403_the_message_one(client: TestClient) -> None:
    files = {"file": ("a.txt", b"x", "text/plain")}
    unknown = client.post(UPLOAD, files=files, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "Invalid or missing API key"}
    agents_only = _state(client).add_key(scopes=("AGENT_API",)).key
    refused = client.post(UPLOAD, files=files, headers={"Authorization": f"Bearer {agents_only}"})
    assert refused.status_code == 403
    assert refused.json() == {
        "message": "Insufficient permissions - requires KNOWLEDGE_FOLDER_API scope"
    }
    refused_delete = _delete(client, UNKNOWN, agents_only)
    assert refused_delete.status_code == 403


def test_upload_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_bytes=1024)
    small = client.post(UPLOAD, files={"file": ("a.bin", b"x" * 100, "application/octet-stream")})
    assert small.status_code == 200
    big = client.post(UPLOAD, files={"file": ("a.bin", b"x" * 2048, "application/octet-stream")})
    assert big.status_code == 413
    assert "message" in big.json()
    assert _state(client).store.attachments.keys() == {small.json()["attachmentId"]}


def test_delete_then_delete_again(client: TestClient) -> None:
    attachment_id = _upload(client)
    response = _delete(client, attachment_id)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Attachment deleted successfully",
        "attachmentId": attachment_id,
    }
    again = _delete(client, attachment_id)
    assert again.status_code == 404
    assert again.json() == {"message": "Attachment not found"}


def test_delete_validates_its_body(client: TestClient) -> None:
    response = client.request("DELETE", DELETE, json={"attachmentId": "nope"})
    assert response.status_code == 400
    assert response.json()["message"][0]["path"] == ["attachmentId"]


def test_attachments_belong_to_a_workspace(client: TestClient) -> None:
    attachment_id = _upload(client)
    stranger_key = _state(client).add_key(workspace="other").key
    stranger = {"Authorization": f"Bearer {stranger_key}"}
    assert _delete(client, attachment_id, stranger_key).status_code == 404
    chat = {
        "assistant": {"name": "A", "instructions": "B"},
        "messages": [{"role": "user", "content": "x", "attachmentIds": [attachment_id]}],
    }
    used = client.post("/assistant/v1/chat/completions", json=chat, headers=stranger)
    assert used.status_code == 404
    assert client.post("/assistant/v1/chat/completions", json=chat).status_code == 200


def _references(attachment_id: str, agent_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every place a request can name an attachment: (method, url, body)."""
    inline = {"name": "Inline", "instructions": "Use the file."}
    return [
        ("POST", "/assistant/v1/create", {"name": "A", "attachments": [attachment_id]}),
        ("POST", "/agent/v1/create", {"name": "A", "attachments": [attachment_id]}),
        ("PATCH", "/agent/v1/update", {"agentId": agent_id, "attachments": [attachment_id]}),
        (
            "PATCH",
            "/assistant/v1/update",
            {"assistantId": agent_id, "attachments": [attachment_id]},
        ),
        (
            "POST",
            "/assistant/v1/chat/completions",
            {
                "assistantId": agent_id,
                "messages": [{"role": "user", "content": "x", "attachmentIds": [attachment_id]}],
            },
        ),
        (
            "POST",
            "/assistant/v1/chat/completions",
            {
                "assistant": {**inline, "attachmentIds": [attachment_id]},
                "messages": [{"role": "user", "content": "x"}],
            },
        ),
        (
            "POST",
            "/agent/v1/chat/completions",
            {"agentId": agent_id, "messages": [user("x", attachments=[attachment_id])]},
        ),
        (
            "POST",
            "/agent/v1/chat/completions",
            {"agent": {**inline, "attachmentIds": [attachment_id]}, "messages": [user("x")]},
        ),
        (
            "POST",
            "/agent/v1/chat/completions",
            {
                "agentId": agent_id,
                "messages": [
                    {
                        "id": "u1",
                        "role": "user",
                        "parts": [
                            {"type": "text", "text": "see file"},
                            {
                                "type": "file",
                                "mediaType": "application/pdf",
                                "url": f"attachment://{attachment_id}",
                            },
                        ],
                    }
                ],
            },
        ),
    ]


_PLACES = [
    "assistant-create",
    "agent-create",
    "agent-update",
    "assistant-update",
    "assistant-message",
    "assistant-inline",
    "agent-metadata",
    "agent-inline",
    "agent-file-url",
]


@pytest.mark.parametrize("place", range(len(_PLACES)), ids=_PLACES)
def test_unknown_and_deleted_attachments_are_404_everywhere(client: TestClient, place: int) -> None:
    agent_id = client.post("/agent/v1/create", json={"name": "Target"}).json()["agent"]["id"]
    live_id = _upload(client)
    method, url, body = _references(live_id, agent_id)[place]
    assert client.request(method, url, json=body).status_code in (200, 201)

    method, url, body = _references(UNKNOWN, agent_id)[place]
    unknown = client.request(method, url, json=body)
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)

    gone_id = _upload(client, name="gone.pdf")
    assert _delete(client, gone_id).status_code == 200
    method, url, body = _references(gone_id, agent_id)[place]
    gone = client.request(method, url, json=body)
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)


def test_upload_and_use_over_a_real_socket(live: MockServer, http: httpx.Client) -> None:
    attachment_id = _upload(http, name="big.bin", data=b"\x00" * 300_000)
    stored = live.state.store.attachments[attachment_id]
    assert (stored.name, stored.size, stored.workspace) == ("big.bin", 300_000, "default")
    reply = http.post(
        "/agent/v1/chat/completions",
        json={
            "agent": {"name": "R", "instructions": "Read."},
            "messages": [user("sum up", attachments=[attachment_id])],
        },
    )
    assert reply.status_code == 200
    deleted = http.request("DELETE", f"/api/public{DELETE}", json={"attachmentId": attachment_id})
    assert deleted.status_code == 200
    assert [r.operation for r in live.requests] == [
        "attachment.upload",
        "agent.completions",
        "attachment.delete",
    ]
    assert live.requests[0].json == {
        "file": {"name": "big.bin", "mimeType": "application/pdf", "sizeInBytes": 300_000}
    }
