"""The knowledge folder operations: a key sees the folders shared with it, editors write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from mockserver.api.knowledge.chunks import chunk
from mockserver.api.knowledge.extract import KINDS, extract, kind_of
from mockserver.api.knowledge.search import rank
from mockserver.api.outcome import Call, Completion, Reply, Upload
from mockserver.clock import isoformat
from mockserver.errors import BadRequest, Forbidden, NotFound
from mockserver.state import MockState
from mockserver.store import KnowledgeFile, KnowledgeFolder

__all__ = ["OPERATIONS", "FileRead", "file_json", "read_file"]

FOLDER_NOT_FOUND = "Knowledge folder not found"
FILE_NOT_FOUND = "Attachment not found in this knowledge folder"
NOT_EDITOR = (
    "Insufficient permissions - this action requires the Editor role on the knowledge folder"
)
NO_FILE = "No file provided"


def file_json(file: KnowledgeFile) -> dict[str, Any]:
    """A KnowledgeFile as the API returns it."""
    return {
        "id": file.id,
        "name": file.name,
        "mimeType": file.mime_type,
        "sizeInBytes": file.size,
        "createdAt": file.created_at,
        "updatedAt": file.updated_at,
        "url": file.url,
        "syncStatus": file.sync_status,
        "pageCount": file.page_count,
    }


def _folder(state: MockState, call: Call, *, write: bool = False) -> KnowledgeFolder:
    # Under state.lock. Not shared with the key: 404, as the vendor hides what a key cannot see.
    principal = call.principal
    folder = state.store.folders.get(call.params["folderId"])
    if folder is None or not folder.visible_to(principal.key, principal.workspace):
        raise NotFound(FOLDER_NOT_FOUND)
    if write and not folder.editable_by(principal.key):
        raise Forbidden(NOT_EDITOR)
    return folder


class FileRead(NamedTuple):
    """What an upload's file reads as: its kind, text chunks, pages and sync status."""

    kind: str
    chunks: tuple[str, ...]
    pages: int | None
    status: str


def read_file(upload: Upload) -> FileRead | BadRequest:
    """The file read, or the 400 its kind is: the slow part of an upload, which the endpoint
    runs in a worker thread before the state lock is taken (the handler raises the 400 after
    its own 404 and 403, which come first)."""
    try:
        kind = kind_of(upload.name, upload.file)
    except BadRequest as error:
        return error
    extracted = extract(kind, upload.file)
    status = "EXTRACTION_FAILED" if extracted.failed else "SYNCED"
    return FileRead(kind, chunk(extracted.text), extracted.pages, status)


def _read(upload: Upload) -> FileRead:
    read = upload.read if upload.read is not None else read_file(upload)
    if isinstance(read, BadRequest):
        raise read
    assert isinstance(read, FileRead)
    return read


def _url(call: Call) -> str | None:
    url = call.body.get("url")
    return url if isinstance(url, str) and url else None


def _success(file: KnowledgeFile) -> Reply:
    return Reply(200, {"status": "success", "result": file_json(file)})


def upload(state: MockState, call: Call) -> Reply:
    """POST /knowledge/{folderId}: add a file (pdf, doc, docx, txt, md, html, ppt, pptx)."""
    folder = _folder(state, call, write=True)  # 404/403 before the file is read
    given = call.uploads.get("file")
    if given is None:
        raise BadRequest(NO_FILE)
    kind, chunks, pages, status = _read(given)
    now = isoformat(state.clock.now())
    file = KnowledgeFile(
        state.new_id(),
        given.name,
        KINDS[kind],
        given.size,
        _url(call),
        now,
        now,
        chunks,
        pages,
        status,
    )
    folder.files[file.id] = file
    state.store.touch_file(folder.id, file.id)
    return _success(file)


def update(state: MockState, call: Call) -> Reply:
    """PATCH /knowledge/{folderId}: replace a file's contents and/or its url (same id)."""
    attachment_id = call.body["attachmentId"]
    given = call.uploads.get("file")
    if given is None and _url(call) is None:
        raise BadRequest("Provide a new file, a url, or both")
    folder = _folder(state, call, write=True)
    file = folder.files.get(attachment_id)
    if file is None:
        raise NotFound(FILE_NOT_FOUND)
    read = _read(given) if given is not None else None
    if given is not None and read is not None:
        kind, file.chunks, file.page_count, file.sync_status = read
        file.name, file.mime_type, file.size = given.name, KINDS[kind], given.size
    if _url(call) is not None:
        file.url = _url(call)
    file.updated_at = isoformat(state.clock.now())
    state.store.touch_file(folder.id, file.id)
    return _success(file)


def list_files(state: MockState, call: Call) -> Reply:
    """GET /knowledge/{folderId}/list: the folder's files, oldest first."""
    folder = _folder(state, call)
    return Reply(
        200, {"status": "success", "result": [file_json(f) for f in folder.files.values()]}
    )


def get_file(state: MockState, call: Call) -> Reply:
    """GET /knowledge/{folderId}/{attachmentId}: one file (newer docs)."""
    file = _folder(state, call).files.get(call.params["attachmentId"])
    if file is None:
        raise NotFound(FILE_NOT_FOUND)
    return _success(file)


def delete_file(state: MockState, call: Call) -> Reply:
    """DELETE /knowledge/{folderId}/{attachmentId}: the file is gone from list and search."""
    folder = _folder(state, call, write=True)
    attachment_id = call.params["attachmentId"]
    if folder.files.pop(attachment_id, None) is None:
        raise NotFound(FILE_NOT_FOUND)
    state.store.touch_file(folder.id, attachment_id)
    return Reply(200, {"status": "success", "message": "Attachment deleted"})


def search(state: MockState, call: Call) -> Reply:
    """POST /knowledge/search: the best chunk of each file in the folders shared with the key."""
    principal = call.principal
    folders = [
        f for f in state.store.folders.values() if f.visible_to(principal.key, principal.workspace)
    ]
    hits = rank(call.body["query"], folders, state.derived)
    return Reply(200, {"status": "success", "result": [hit.as_json() for hit in hits]})


OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    "knowledge.upload": upload,
    "knowledge.update": update,
    "knowledge.list": list_files,
    "knowledge.get": get_file,
    "knowledge.delete": delete_file,
    "knowledge.search": search,
}
