"""Replica: keeps one process's MockState in step with a shared store, request by request.

A request begins by taking the changes other replicas committed since this one last looked,
runs on the local MockState as in memory mode, and commits its own changes, its rate-limit
charge, its journal entry and its coverage count in one atomic script: two round trips. A
completion takes one: answered from the state this replica has, under the number it guesses,
it is numbered and committed by one script, which refuses it when a change that could alter
the answer came first (the replica then answers again); a guessed number that proves wrong only
redraws the answer's ids. Changes are whole records, keys, limits and clock readings, applied in
commit order by every replica, so all of them converge on the same state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, NamedTuple, TypeVar

import orjson

from mockserver.api.scripted import ABSENT, ReplyMatch, ReplyRequest, ReplyScript, ScriptedReply
from mockserver.auth import Principal
from mockserver.clock import ClockState, MockClock
from mockserver.faults.rules import Fault, list_faults, remove_fault, rule_from_json
from mockserver.journal import UsageKey
from mockserver.ratelimit import Decision, RateLimiter, Where
from mockserver.state import MockState
from mockserver.store import Attachment, KnowledgeFile, KnowledgeFolder, Record
from mockserver.stores.base import Charge, Commit, Numbered, Outcome, SharedStore, Sync, Tally

__all__ = [
    "DeferredLimiter",
    "DeferredScript",
    "Guess",
    "Replica",
    "clock_op",
    "open_replica",
    "usage_tally",
]

T = TypeVar("T")


class DeferredLimiter(RateLimiter):
    """Limits resolved locally; the charge itself is left for the shared store's commit."""

    pending: Charge | None = None

    def _count(
        self,
        where: Where,
        rpm: int,
        tpm: int,
        prompt: int,
        total: int,
        report: bool,
        now: float | None = None,
    ) -> Decision | None:
        """Note the charge; answer "allowed" for now (the commit decides, atomically)."""
        workspace, model, key = where
        self.pending = Charge(workspace, model, key, rpm, tpm, prompt, total)
        return Decision.allow(rpm, tpm, rpm, tpm, prompt) if report else None


class DeferredScript(ReplyScript):
    """Scripted replies of every replica: a use is left for the commit, which counts it.

    ``take`` consumes nothing here: the commit claims the reply in the shared store (one of its
    first ``times`` uses, across replicas) and tells every replica, which then drop it.
    """

    chosen: ScriptedReply | None = None

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, int] = {}  # reply id -> times as queued (the store counts uses)

    def add(self, reply: ScriptedReply) -> None:
        """Queue a reply after the others."""
        if reply.times is not None:
            self.times.setdefault(reply.id, reply.times)
        super().add(reply)

    def take(self, request: ReplyRequest) -> ScriptedReply | None:
        """The first matching reply, noted for the commit to claim."""
        self.chosen = reply = self.peek(request)
        return reply

    def claim(self, reply: ScriptedReply | None) -> tuple[str, int] | None:
        """What a commit claims for a reply served: its id and times (None: unlimited)."""
        if reply is None or reply.times is None:
            return None
        return reply.id, self.times.get(reply.id, reply.times)

    def used(self, reply_id: str, used: int) -> None:
        """A reply has been used ``used`` times in all: what is left of it stays queued."""
        times = self.times.get(reply_id)
        if times is not None:
            self.use(reply_id, times - used)


class Guess(NamedTuple):
    """A completion answered before the store numbers it: the number guessed, the epoch and
    cursor of the state it was answered from, and its place among this replica's requests."""

    number: int
    epoch: int
    cursor: int
    sent_as: int


class _Watch(NamedTuple):
    keys: dict[str, Principal]
    actions: dict[str, frozenset[str]]
    limits: dict[tuple[str, str | None], tuple[int, int]]
    clock: ClockState
    shared: dict[str, frozenset[str]] | None  # an admin call's: who each record is shared with
    faults: frozenset[str]  # the ids of the fault rules in force
    replies: frozenset[str]  # the ids of the scripted replies queued
    folders: dict[str, KnowledgeFolder] | None  # an admin call's: the knowledge folders


class Replica:
    """One process's view of a shared namespace: sync before a request, commit after it."""

    def __init__(self, state: MockState, store: SharedStore) -> None:
        self.state = state
        self.store = store
        self.epoch = 0
        self.cursor = 0
        # API requests numbered through this replica, and what the store's numbers add to
        # that count (the other replicas' requests), as last learned: the guess of the next.
        self._numbered = self._offset = 0
        self._fetching = False  # a serve in flight fetches the ops past the cursor
        self._times: dict[str, int] = {}  # fault rule id -> times, counted in the store
        self._install()

    # Local state.
    def _install(self) -> None:
        # After every local reset: the limiter defers to the store; nothing tracked yet.
        # A second replica of the same state (MockServer's handle, from the test's thread) keeps
        # the serving one's limiter and tracking: a request in flight may be using them.
        data = self.state._data
        if isinstance(data.limiter, DeferredLimiter):
            return
        limiter = DeferredLimiter(self.state.clock, *data.limiter._default)
        limiter._limits = dict(data.limiter._limits)
        data.limiter = limiter
        script = DeferredScript()
        for reply in data.script.pending():
            script.add(reply)
        data.script = script
        data.store.touched = None

    @property
    def limiter(self) -> DeferredLimiter:
        """The state's limiter (always a DeferredLimiter under a shared store)."""
        limiter = self.state.limiter
        assert isinstance(limiter, DeferredLimiter)
        return limiter

    @property
    def script(self) -> DeferredScript:
        """The state's scripted replies (always a DeferredScript under a shared store)."""
        script = self.state.script
        assert isinstance(script, DeferredScript)
        return script

    def clock_op(self) -> bytes:
        """The clock's reading as a change, anchored to wall time (shared by every process)."""
        return clock_op(self.state.clock)

    def _apply(self, raw: bytes) -> None:
        op = orjson.loads(raw)
        kind = op.pop("op")
        state = self.state
        if kind == "record":
            op["shared_with"] = set(op["shared_with"])
            state.store.records[op["id"]] = Record(**op)
        elif kind == "attachment":
            state.store.attachments[op["id"]] = Attachment(**op)
        elif kind == "key":
            state.add_key(
                op["key"], workspace=op["workspace"], scopes=tuple(op["scopes"]), admin=op["admin"]
            )
        elif kind == "action":
            state.add_action(op["workspace"], op["id"])
        elif kind == "limits":
            self.limiter._limits[(op["workspace"], op["model"])] = (op["rpm"], op["tpm"])
        elif kind == "unlimit":
            self.limiter._limits.pop((op["workspace"], op["model"]), None)
        elif kind == "fault":
            if op["times"] is not None:
                self._times[op["id"]] = op["times"]
            if all(rule.id != op["id"] for rule in list_faults(state)):
                state.faults.add(rule_from_json(op["id"], op))
        elif kind == "unfault":
            remove_fault(state, op["id"])
        elif kind == "reply":
            if op["id"] not in self.script.times and all(
                reply.id != op["id"] for reply in state.script.pending()
            ):
                state.script.add(_reply_of(op))
        elif kind == "reply-used":
            self.script.used(op["id"], op["used"])
        elif kind == "unreply":
            state.script.use(op["id"], 0)
        elif kind == "folder":  # its files as this replica has them (none, unless a handle's)
            held = state.store.folders.get(op["id"])
            state.store.folders[op["id"]] = KnowledgeFolder(
                op["id"],
                op["workspace"],
                op["name"],
                _keys(op["shared_with"]),
                _keys(op["editors"]),
                held.files if held is not None else {},
            )
        elif kind == "unfolder":
            state.store.folders.pop(op["id"], None)
        elif kind == "file":
            # Search keys its index by the files and their chunks: it rebuilds on its next query.
            folder = state.store.folders.get(op.pop("folder"))
            if folder is not None:
                op["chunks"] = tuple(op["chunks"])
                folder.files[op["id"]] = KnowledgeFile(**op)
        elif kind == "unfile":
            folder = state.store.folders.get(op["folder"])
            if folder is not None:
                folder.files.pop(op["id"], None)
        elif kind == "clock":
            now = op["now"] if op["frozen"] else op["now"] + time.time() - op["wall"]
            state.clock.restore((now, time.monotonic(), op["frozen"]))

    async def sync(self, numbered: Numbered = "request", *, usage: bool = False) -> int:
        """Take the changes committed elsewhere; returns this request's number in the one order.

        ``numbered`` says what the sync numbers: an API request, an admin change, or (a read)
        nothing; the number is 0 then. With ``usage`` (a usage export), it takes the served
        completions' usage sums too, which no other request reads.
        """
        epoch, sent = self.epoch, self.cursor
        sent_as = 0
        if numbered == "request":  # counted with the guesses: they leave in one order
            self._numbered = sent_as = self._numbered + 1
        sync = await self.store.begin(epoch, sent, numbered, usage)
        if sent_as:
            self._offset = sync.number - sent_as
        with self.state.lock:
            self._take(sync, epoch, sent)
            if sync.usage is not None and sync.epoch == self.epoch:
                self.state.journal.usage = {
                    UsageKey(*orjson.loads(key)): list(sums) for key, sums in sync.usage.items()
                }
        return sync.number

    def guess(self) -> Guess:
        """The number an API request answered before the store numbers it will most likely get,
        with the epoch and cursor of the state it is answered from (see ``serve``).

        Numbers leave this process in the order it asks for them, so the store's number is
        the guess unless other replicas' requests came between since the last one learned.
        """
        self._numbered = sent_as = self._numbered + 1
        return Guess(sent_as + self._offset, self.epoch, self.cursor, sent_as)

    async def serve(
        self,
        guess: Guess,
        charge: Charge | None,
        ops: list[bytes],
        entry: bytes,
        coverage: str,
        reply: tuple[str, int] | None,
        tally: Tally | None,
    ) -> tuple[int, Outcome | None]:
        """Number and commit a request answered from the state ``guess`` names, in one script.

        Returns its number and its outcome; None for the outcome when an op that can change an
        answer came after the guess's cursor: nothing was committed, this replica has the ops
        now, and the request is to be answered again under that number.
        """
        _, epoch, read_at, sent_as = guess
        commit = Commit(epoch, self.state.clock.now(), charge, ops, entry, coverage, reply, tally)
        since = self.cursor
        # One call in flight at a time fetches the ops past the cursor: every reply carrying
        # them all, a few dozen to a reply under load, cost more than the scripts' own work.
        fetch = not self._fetching
        self._fetching = True
        try:
            sync, outcome = await self.store.serve(commit, read_at, since, fetch)
        finally:
            if fetch:
                self._fetching = False
        self._offset = sync.number - sent_as
        with self.state.lock:
            self._take(sync, epoch, since)
        return sync.number, outcome

    def _take(self, sync: Sync, epoch: int, sent: int) -> None:
        # Under the state lock: apply what a sync sent at (``epoch``, ``sent``) handed over.
        # An earlier epoch than the one sent: Redis lost its data (restarted) and began anew;
        # every replica starts over with it, or it would wait for the count to catch up.
        lost = sync.epoch < epoch == self.epoch
        if sync.epoch < self.epoch and not lost:
            return  # overtaken by a sync that already saw a later reset
        if sync.epoch > self.epoch or lost:
            self.state.reset()
            self._install()
            self._times.clear()
            self.epoch, self.cursor = sync.epoch, 0
        # The ops run from ``sent`` (from 0 when the store's epoch was not the one sent).
        # Requests in flight together all sync from the same cursor: each applies only the
        # ops no other sync has applied yet, not all of them once per request.
        start = sent if sync.epoch == epoch else 0
        skip = max(0, self.cursor - start)
        for raw in sync.ops[skip:]:
            self._apply(raw)
        self.cursor = max(self.cursor, sync.cursor)

    # Changes.
    def watch(self, *, admin: bool = False) -> _Watch:
        """Start noting what a request changes.

        An API request runs its handler without an await between ``watch`` and ``changes``, so
        the records it touches are tracked; an admin call awaits its body in between, so its
        record changes (shares) are found by comparison instead.
        """
        data = self.state._data
        shared = folders = None
        if admin:
            shared = {i: frozenset(r.shared_with) for i, r in data.store.records.items()}
            folders = dict(data.store.folders)
        else:
            data.store.touched = set()
        return _Watch(
            dict(data.keys),
            {w: frozenset(ids) for w, ids in data.store.actions.items()},
            dict(self.limiter._limits),
            self.state.clock._reading,
            shared,
            frozenset(rule.id for rule in list_faults(self.state)),
            frozenset(reply.id for reply in data.script.pending()),
            folders,
        )

    def changes(self, watch: _Watch) -> list[bytes]:
        """What changed since ``watch``, as ops every replica applies."""
        data = self.state._data
        store = data.store
        ops: list[bytes] = []
        for key, principal in data.keys.items():
            if watch.keys.get(key) != principal:
                ops.append(
                    _op(
                        "key",
                        key=key,
                        workspace=principal.workspace,
                        scopes=sorted(principal.scopes),
                        admin=principal.admin,
                    )
                )
        for workspace, ids in store.actions.items():
            for action_id in sorted(ids - watch.actions.get(workspace, frozenset())):
                ops.append(_op("action", workspace=workspace, id=action_id))
        limits = self.limiter._limits
        for (workspace, model), (rpm, tpm) in limits.items():
            if watch.limits.get((workspace, model)) != (rpm, tpm):
                ops.append(_op("limits", workspace=workspace, model=model, rpm=rpm, tpm=tpm))
        for workspace, model in watch.limits.keys() - limits.keys():
            ops.append(_op("unlimit", workspace=workspace, model=model))
        if self.state.clock._reading is not watch.clock:
            ops.append(self.clock_op())
        rules = {rule.id: rule for rule in list_faults(self.state)}
        for rule_id, rule in rules.items():
            if rule_id not in watch.faults:
                ops.append(_op("fault", **rule.as_json()))
        for rule_id in sorted(watch.faults - rules.keys()):
            ops.append(_op("unfault", id=rule_id))
        replies = {reply.id: reply for reply in data.script.pending()}
        for reply_id, reply in replies.items():
            # A reply made by a function answers only in the process that has the function.
            if reply_id not in watch.replies and reply.responder is None:
                ops.append(_reply_op(reply))
        for reply_id in sorted(watch.replies - replies.keys()):
            ops.append(_op("unreply", id=reply_id))
        if watch.folders is not None:
            ops.extend(_folder_ops(watch.folders, store.folders))
        if store.touched_files:
            ops.extend(_file_ops(store.touched_files, store.folders))
            store.touched_files.clear()
        touched = set(store.touched or ())
        if watch.shared is not None:
            touched = {
                i
                for i, r in store.records.items()
                if watch.shared.get(i) != frozenset(r.shared_with)
            }
        else:
            store.touched = None
        for record_id in sorted(touched):
            record = store.records.get(record_id)
            if record is not None:
                fields = asdict(record)
                fields["shared_with"] = sorted(record.shared_with)
                ops.append(_op("record", **fields))
            attachment = store.attachments.get(record_id)
            if attachment is not None:
                ops.append(_op("attachment", **asdict(attachment)))
        return ops

    async def commit(
        self,
        charge: Charge | None = None,
        ops: list[bytes] | None = None,
        entry: bytes | None = None,
        coverage: str | None = None,
        reply: tuple[str, int] | None = None,
        tally: Tally | None = None,
    ) -> Outcome:
        """Commit one request: charge, reply, changes, journal entry and coverage, atomically."""
        now = self.state.clock.now()
        commit = Commit(self.epoch, now, charge, ops or (), entry, coverage, reply, tally)
        return await self.store.commit(commit)

    def times(self, rule_id: str) -> int | None:
        """A fault rule's ``times`` as added (None: every match)."""
        return self._times.get(rule_id)

    async def claim(self, fault: Fault) -> bool:
        """Whether a drawn fault may fire: a rule's ``times`` count across every replica."""
        rule = next((r for r in list_faults(self.state) if r.id == fault.rule_id), None)
        times = self._times.get(fault.rule_id or "")
        if times is None:
            return True  # from a header, or a rule without times: nothing to count
        if await self.store.claim(self.epoch, f"fault:{fault.rule_id}", times):
            return True
        if rule is not None:  # spent through other replicas: spent here too
            remove_fault(self.state, rule.id)
        return False

    async def run(self, change: Callable[[], T]) -> T:
        """Sync, make a change to the state (an admin call), and commit it for every replica."""
        number = await self.sync("change")
        with self.state.lock:
            self.state.draw_for(-number)  # an admin change's ids: from its place in the order
            watch = self.watch(admin=True)  # other threads may be serving: compare, not track
            try:
                result = change()
            finally:
                ops = self.changes(watch)
        if ops:
            await self.commit(ops=ops)
        return result

    async def reset(self) -> None:
        """Reset the namespace for every replica, and this one's state."""
        with self.state.lock:
            self.state.reset()
            self._install()
            initial = [self.clock_op()]
        self.epoch = await self.store.reset(initial)
        self.cursor = self._numbered = self._offset = 0
        await self.sync("read")


def clock_op(clock: MockClock) -> bytes:
    """A clock's reading as a change, anchored to wall time (shared by every process)."""
    return _op("clock", now=clock.now(), wall=time.time(), frozen=clock.frozen)


def open_replica(state: MockState) -> Replica:
    """The replica of ``state`` on the store its settings name (redis://…)."""
    from mockserver.stores.redis import RedisStore

    settings = state.settings
    store = RedisStore(
        settings.store, settings.store_namespace, settings.journal_size, [clock_op(state.clock)]
    )
    return Replica(state, store)


def usage_tally(fields: dict[str, Any]) -> Tally:
    """A served completion's usage (its journal entry's wire form ``fields``) as the shared store
    sums it: by the journal's UsageKey, which is what the usage export groups by."""
    usage = fields["usage"]
    key = UsageKey(
        int(fields["time"]),
        fields["workspace"] or "",
        fields["keyId"] or "",
        fields["key"] or "",
        usage["targetId"],
        usage["model"],
    )
    return Tally(orjson.dumps(list(key)).decode(), usage["inputTokens"], usage["outputTokens"])


def _op(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"op": kind, **fields})


def _keys(keys: list[str] | None) -> frozenset[str] | None:
    return None if keys is None else frozenset(keys)


def _folder_ops(
    before: dict[str, KnowledgeFolder], after: dict[str, KnowledgeFolder]
) -> list[bytes]:
    """Knowledge folders made or deleted (by an admin call): their metadata, never files."""
    ops = []
    for folder_id, folder in after.items():
        if before.get(folder_id) is not folder:
            ops.append(
                _op(
                    "folder",
                    id=folder_id,
                    workspace=folder.workspace,
                    name=folder.name,
                    shared_with=None if folder.shared_with is None else sorted(folder.shared_with),
                    editors=None if folder.editors is None else sorted(folder.editors),
                )
            )
    for folder_id in sorted(before.keys() - after.keys()):
        ops.append(_op("unfolder", id=folder_id))
    return ops


def _file_ops(touched: set[tuple[str, str]], folders: dict[str, KnowledgeFolder]) -> list[bytes]:
    """Knowledge files written: metadata and extracted text (the uploaded bytes are not kept)."""
    ops = []
    for folder_id, file_id in sorted(touched):
        folder = folders.get(folder_id)
        file = folder.files.get(file_id) if folder is not None else None
        if file is None:
            ops.append(_op("unfile", folder=folder_id, id=file_id))
        else:
            ops.append(_op("file", folder=folder_id, **asdict(file)))
    return ops


def _reply_op(reply: ScriptedReply) -> bytes:
    match = reply.match
    fields: dict[str, Any] = {
        "id": reply.id,
        "text": reply.text,
        "match": [match.assistant_id, match.agent_id, match.contains],
        "times": reply.times,
        "tools": list(reply.tools),
    }
    if reply.output is not ABSENT:
        fields["output"] = reply.output
    return _op("reply", **fields)


def _reply_of(op: dict[str, Any]) -> ScriptedReply:
    return ScriptedReply(
        op["id"],
        op["text"],
        ReplyMatch(*op["match"]),
        op["times"],
        tuple(op["tools"]),
        op.get("output", ABSENT),
    )
