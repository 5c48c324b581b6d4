"""The request journal: every field lands under its own name, bounded, numbered, filtered."""

from __future__ import annotations

from typing import Any

import orjson

from mockserver import journal as journal_module
from mockserver.config import Settings
from mockserver.errors import FieldError
from mockserver.journal import RequestJournal, Usage, UsageKey, fingerprint
from mockserver.schemas import load_bundle
from mockserver.state import MockState
from mockserver.stores.replica import usage_tally

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
    "usage": None,
}


def test_record_keeps_every_field_under_its_name() -> None:
    journal = RequestJournal(10)
    journal.record(**FIELDS)
    [entry] = journal.entries()
    assert entry._asdict() == {"seq": 1, **FIELDS}


def _served(journal: RequestJournal, status: int, usage: Usage | None, time: float = 7.5) -> None:
    journal.record(**{**FIELDS, "time": time, "status": status, "usage": usage})


def test_the_usage_tally_is_fed_by_the_entries_themselves() -> None:
    """Served (2xx) entries with usage are tallied as they are recorded; nothing else is."""
    journal = RequestJournal(2)
    used = Usage("gpt-4o", 10, 3, "asst-1")
    _served(journal, 200, used)
    _served(journal, 200, used, time=7.9)  # the same second: one tally row
    _served(journal, 500, used)  # a self-check's 500: not served
    _served(journal, 200, None)  # no completion
    tally = UsageKey(7, "default", "0123456789abcdef", "sk-ld-…mock", "asst-1", "gpt-4o")
    assert journal.usage == {tally: [2, 20, 6]}
    assert [e.usage for e in journal.entries()] == [None, None]  # the 500 carries none either
    # The tally outlives the ring's bound and clear(), as the export's year must.
    _served(journal, 201, Usage("gpt-5", 1, 1))
    journal.clear()
    assert sum(counts[0] for counts in journal.usage.values()) == 3
    # A shared store sums the wire form under the key the entry is tallied by here.
    _served(journal, 200, used)
    summed = usage_tally(journal.entries()[-1].as_json())
    assert UsageKey(*orjson.loads(summed.key)) == tally
    assert (summed.input_tokens, summed.output_tokens) == (10, 3)
    assert journal.entries()[-1].as_json()["usage"] == {
        "model": "gpt-4o",
        "inputTokens": 10,
        "outputTokens": 3,
        "targetId": "asst-1",
    }


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
