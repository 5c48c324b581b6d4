"""The request journal: every field lands under its own name, bounded, numbered, filtered."""

from __future__ import annotations

from typing import Any

from mockserver import journal as journal_module
from mockserver.config import Settings
from mockserver.errors import FieldError
from mockserver.journal import RequestJournal, fingerprint
from mockserver.schemas import load_bundle
from mockserver.state import MockState

# Neighbours of one type each hold a different value, so a swap in the positional build shows.
FIELDS: dict[str, Any] = {
    "time": 12.5,
    "method": "POST",
    "path": "/api/public/assistant/v1/create",
    "operation": "assistant.create",
    "status": 400,
    "body": {"name": 1},
    "query": {"q": "1"},
    "key": "sk-ld-…mock",
    "key_id": "0123456789abcdef",
    "workspace": "default",
    "warnings": (FieldError(("extra",), "unrecognized_keys", "unknown field"),),
    "errors": (FieldError(("name",), "invalid_type", "Expected string"),),
    "error": "Traceback",
    "fault": True,
    "model": "gpt-4o",
    "elapsed": 0.25,
    "headers": ((b"host", b"127.0.0.1"),),
    "response": object(),  # what the inspector reads: kept as given, never copied
    "stream": object(),
}


def test_record_keeps_every_field_under_its_name() -> None:
    journal = RequestJournal(10)
    journal.record(**FIELDS)
    [entry] = journal.entries()
    assert entry._asdict() == {"seq": 1, **FIELDS}


def test_the_journal_is_bounded_and_keeps_counting() -> None:
    journal = RequestJournal(2)
    for status in (200, 201, 202):
        journal.record(**{**FIELDS, "status": status})
    assert [(e.seq, e.status) for e in journal.entries()] == [(2, 201), (3, 202)]
    assert [e.seq for e in journal.entries(since=2)] == [3]
    journal.clear()
    assert journal.entries() == []
    assert journal.last_seq == 3


def test_newest_and_find_read_the_journal_from_the_top() -> None:
    journal = RequestJournal(3)
    for status in (200, 201, 202, 203):
        journal.record(**{**FIELDS, "status": status})
    assert [e.seq for e in journal.newest()] == [4, 3, 2]
    assert [e.seq for e in journal.newest(before=4)] == [3, 2]
    found = journal.find(3)
    assert found is not None
    assert found.status == 202
    assert [journal.find(seq) for seq in (0, 1, 5)] == [None, None, None]  # gone or not yet
    assert len(journal) == 3
    journal.clear()
    assert journal.find(4) is None


def test_key_marks_are_the_journals_own_and_go_with_a_reset() -> None:
    # No module-level cache holds raw keys: they live as long as the state that saw them.
    assert not [
        name for name, value in vars(journal_module).items() if hasattr(value, "cache_info")
    ]
    state = MockState(Settings(), load_bundle(None, "seed"))
    masked, key_id = state.journal.key_marks("sk-ld-secret-1")
    assert "secret" not in masked
    assert key_id == fingerprint("sk-ld-secret-1")
    assert state.journal.key_marks("sk-ld-secret-1") is state.journal.key_marks("sk-ld-secret-1")
    assert "sk-ld-secret-1" in repr(vars(state.journal))
    state.reset()
    assert "sk-ld-secret-1" not in repr(vars(state.journal))
    state.journal.key_marks("sk-ld-secret-2")
    state.journal.clear()  # DELETE /__admin/requests
    assert "sk-ld-secret-2" not in repr(vars(state.journal))
