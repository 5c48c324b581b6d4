"""Stored resources by workspace: assistants (agents), attachments, knowledge folders and files."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attachment", "KnowledgeFile", "KnowledgeFolder", "Record", "Store"]


@dataclass(slots=True)
class Record:
    """One assistant (an agent, to the Agents API): draft, published versions, who sees it."""

    id: str
    workspace: str
    draft: dict[str, Any]
    shared_with: set[str] = field(default_factory=set)
    versions: list[dict[str, Any]] = field(default_factory=list)
    dirty: bool = True
    disabled: bool = False

    def active(self) -> dict[str, Any]:
        """What get and completions use: the newest published version, else the draft."""
        return self.versions[-1]["agent"] if self.versions else self.draft


@dataclass(slots=True)
class Attachment:
    """An uploaded file's metadata (contents are not kept)."""

    id: str
    workspace: str
    name: str
    mime_type: str
    size: int
    deleted: bool = False


@dataclass(slots=True)
class KnowledgeFile:
    """A file of a knowledge folder: its metadata and its text, already cut into chunks."""

    id: str
    name: str
    mime_type: str
    size: int
    url: str | None
    created_at: str
    updated_at: str
    chunks: tuple[str, ...] = ()
    page_count: int | None = None
    sync_status: str = "SYNCED"


@dataclass(slots=True)
class KnowledgeFolder:
    """A knowledge folder: who sees it, who may write to it, its files (newest last).

    ``shared_with`` / ``editors`` None: every key of the workspace, present and future.
    """

    id: str
    workspace: str
    name: str
    shared_with: frozenset[str] | None = None
    editors: frozenset[str] | None = None
    files: dict[str, KnowledgeFile] = field(default_factory=dict)

    def visible_to(self, key: str, workspace: str) -> bool:
        """Whether the folder is shared with this key."""
        return self.workspace == workspace and (self.shared_with is None or key in self.shared_with)

    def editable_by(self, key: str) -> bool:
        """Whether this key holds the Editor role on the folder."""
        return self.editors is None or key in self.editors


@dataclass(slots=True)
class Store:
    """workspace-scoped resources; MockState owns it and calls it under its lock."""

    records: dict[str, Record] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    actions: dict[str, set[str]] = field(default_factory=dict)
    folders: dict[str, KnowledgeFolder] = field(default_factory=dict)
    # Ids of the records and attachments a request looked at, when a shared store needs them.
    touched: set[str] | None = None
    # (folder id, file id) of the knowledge files a request wrote, likewise (while ``touched``).
    touched_files: set[tuple[str, str]] = field(default_factory=set)

    def add(self, record: Record) -> Record:
        """Store a new record."""
        self.records[record.id] = record
        if self.touched is not None:
            self.touched.add(record.id)
        return record

    def add_attachment(self, attachment: Attachment) -> Attachment:
        """Store a new attachment."""
        self.attachments[attachment.id] = attachment
        if self.touched is not None:
            self.touched.add(attachment.id)
        return attachment

    def touch_file(self, folder_id: str, file_id: str) -> None:
        """Note a knowledge file written (added, changed or deleted), for a shared store."""
        if self.touched is not None:
            self.touched_files.add((folder_id, file_id))

    def find(self, record_id: str, workspace: str) -> Record | None:
        """The record if it exists in this workspace (other workspaces' records do not)."""
        if self.touched is not None:
            self.touched.add(record_id)
        record = self.records.get(record_id)
        return record if record is not None and record.workspace == workspace else None

    def attachment(self, attachment_id: str, workspace: str) -> Attachment | None:
        """A live attachment of this workspace."""
        if self.touched is not None:
            self.touched.add(attachment_id)
        found = self.attachments.get(attachment_id)
        if found is None or found.deleted or found.workspace != workspace:
            return None
        return found

    def copy(self) -> Store:
        """A deep copy, for snapshots."""
        return copy.deepcopy(self)
