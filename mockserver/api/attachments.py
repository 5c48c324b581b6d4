"""The attachment operations: upload (multipart) and delete, per workspace."""

from __future__ import annotations

from collections.abc import Callable

from mockserver.api.outcome import Call, Completion, Reply
from mockserver.errors import BadRequest, NotFound
from mockserver.state import MockState
from mockserver.store import Attachment

__all__ = ["OPERATIONS", "delete", "upload"]

NO_FILE = "No file provided"


def upload(state: MockState, call: Call) -> Reply:
    """POST /attachment/v1/upload: keep the file's metadata (the form was read by the HTTP layer).

    The body is the form as JSON: the ``file`` field is ``{name, mimeType, sizeInBytes}``.
    """
    described = call.body.get("file")
    if not isinstance(described, dict):
        raise BadRequest(NO_FILE)
    attachment = Attachment(
        id=state.new_id(),
        workspace=call.principal.workspace,
        name=described["name"],
        mime_type=described["mimeType"],
        size=described["sizeInBytes"],
    )
    state.store.add_attachment(attachment)
    return Reply(
        200,
        {
            "attachmentId": attachment.id,
            "file": {
                "name": attachment.name,
                "mimeType": attachment.mime_type,
                "sizeInBytes": attachment.size,
            },
        },
    )


def delete(state: MockState, call: Call) -> Reply:
    """DELETE /attachment/v1/delete: a soft delete; later references to the id are 404."""
    attachment_id = call.body["attachmentId"]
    attachment = state.store.attachment(attachment_id, call.principal.workspace)
    if attachment is None:
        raise NotFound("Attachment not found")
    attachment.deleted = True
    return Reply(
        200,
        {
            "success": True,
            "message": "Attachment deleted successfully",
            "attachmentId": attachment_id,
        },
    )


OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    "attachment.upload": upload,
    "attachment.delete": delete,
}
