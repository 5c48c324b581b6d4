"""MockState: the one owner of everything mutable in a server, reset through one method."""

from __future__ import annotations

import copy
import random
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from mockserver.api.prose import ReplyWriter
from mockserver.api.scripted import ReplyScript
from mockserver.auth import Principal
from mockserver.clock import MockClock
from mockserver.config import ALL_SCOPES, KeySpec, ModelSpec, Settings, provider_of
from mockserver.errors import ConfigError
from mockserver.faults.rules import FaultPlan
from mockserver.journal import RequestJournal, UsageKey
from mockserver.ratelimit import RateLimiter
from mockserver.schemas import SchemaBundle
from mockserver.store import KnowledgeFolder, Store

__all__ = ["MockState"]

# What uuid.UUID(version=4) does to the bits: RFC 4122 variant (10xx) and version 4 (0100).
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)
_UUID_GROUPS = struct.Struct("8s4s4s4s12s").unpack  # a UUID's hex digits, 8-4-4-4-12
# An id is a bijective mix of (seed, stream, draw) to 128 bits: two odd multipliers and two
# xorshifts, so distinct draws never share bits before the UUID marks and cost no hash call.
_MASK = (1 << 128) - 1
_MIX_A = 0x9E3779B97F4A7C15F39CC0605CEDC835
_MIX_B = 0xD6E8FEB86659FD93C4CEB6F1A5D1D8A1
_STREAMS = (1 << 64) - 1
_DRAWS = (1 << 32) - 1


@dataclass(slots=True)
class _Data:
    """Everything ``snapshot`` copies and ``reset`` rebuilds."""

    keys: dict[str, Principal]
    workspaces: dict[str, str]  # workspace -> default model
    models: dict[str, ModelSpec]
    store: Store
    limiter: RateLimiter
    journal: RequestJournal
    script: ReplyScript
    key_counter: int = 0
    # The one order of draws (``draw_for``): API requests and admin changes counted here by
    # the memory store, by Redis under a shared one; the current stream and draws in it.
    requests: int = 0
    changes: int = 0
    draw: int = 0  # the stream (high bits) and the ids drawn from it (low 32 bits)
    rng: random.Random | None = None  # the stream's, made when first asked for
    coverage: dict[tuple[str, int], int] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)  # filePath -> CSV text
    faults: FaultPlan = field(default_factory=FaultPlan)
    replay_turns: dict[tuple[Any, ...], int] = field(default_factory=dict)


class MockState:
    """Store, limiter, journal, faults, scripted replies, ids and clock of one server, one lock."""

    def __init__(self, settings: Settings, bundle: SchemaBundle) -> None:
        self.settings = settings
        self.bundle = bundle
        self.lock = threading.RLock()
        self.clock = MockClock(settings.clock_start, frozen=settings.freeze_clock)
        self.writer = ReplyWriter(settings.seed)
        self.aliases: dict[str, str] = bundle.manifest.get("scopeAliases", {})
        # The family serving each model of the catalogue (the settings': fixed for good).
        self.families = {model.id: provider_of(model) for model in settings.models}
        self.failures: list[str] = []
        # Contract coverage of the whole test run: survives reset(), unlike ``coverage``.
        self.run_coverage: dict[tuple[str, int], int] = {}
        # Derived from the data and keyed by what it derives from, so never stale and never
        # snapshotted: the knowledge search index of the last set of files searched.
        self.derived: dict[str, Any] = {}
        self._seed_offset = settings.seed * _MIX_B & _MASK
        self._data = self._baseline()

    def _baseline(self) -> _Data:
        settings = self.settings
        limiter = RateLimiter(self.clock, settings.default_rpm, settings.default_tpm)
        limiter.configure(settings.limits)
        store = Store()
        for workspace in settings.workspaces:
            store.actions[workspace.id] = set(workspace.actions)
        return _Data(
            keys={spec.key: _principal(spec) for spec in settings.all_keys()},
            workspaces={w.id: w.default_model for w in settings.workspaces},
            models={m.id: m for m in settings.models},
            store=store,
            limiter=limiter,
            journal=RequestJournal(settings.journal_size),
            script=ReplyScript(),
        )

    # The parts, for the operations that use them (always under ``lock``).
    @property
    def keys(self) -> dict[str, Principal]:
        """API keys by value."""
        return self._data.keys

    @property
    def store(self) -> Store:
        """Assistants, agents and attachments."""
        return self._data.store

    @property
    def limiter(self) -> RateLimiter:
        """The per-workspace, per-model rate limiter."""
        return self._data.limiter

    @property
    def journal(self) -> RequestJournal:
        """The bounded request journal."""
        return self._data.journal

    @property
    def script(self) -> ReplyScript:
        """Scripted replies."""
        return self._data.script

    @property
    def models(self) -> dict[str, ModelSpec]:
        """The model catalogue."""
        return self._data.models

    @property
    def replay_turns(self) -> dict[tuple[Any, ...], int]:
        """Under ``serve --replay``: the turns taken of each matched group of recorded exchanges."""
        return self._data.replay_turns

    @property
    def faults(self) -> FaultPlan:
        """The fault rules in force, reset and snapshotted with the rest."""
        return self._data.faults

    @property
    def usage(self) -> dict[UsageKey, list[int]]:
        """Completions served, for the usage export: the journal's tally of its entries."""
        return self._data.journal.usage

    @property
    def exports(self) -> dict[str, str]:
        """Usage exports made, as CSV text by file path (what their downloadUrl serves)."""
        return self._data.exports

    def default_model(self, workspace: str) -> str:
        """The model a workspace's assistants use when they name none (always in the catalogue)."""
        model = self._data.workspaces.get(workspace)
        # A catalogue configured without the embedded default (gpt-4o) must not hand it out.
        return model if model in self._data.models else next(iter(self._data.models))

    def next_request(self) -> int:
        """Number an API request in the one order of requests and draw for it (memory store)."""
        data = self._data
        data.requests = number = data.requests + 1
        data.draw = number << 32
        data.rng = None
        return number

    def next_change(self) -> int:
        """Number an admin change in the one order of changes (the memory store's count)."""
        data = self._data
        data.changes += 1
        return data.changes

    def draw_for(self, stream: int) -> None:
        """Draw the next ids and random choices from ``stream``, from its start.

        A request's draws depend on the seed and its place in the order of requests only, never
        on what other requests drew: so the memory store and replicas on Redis (where requests
        are numbered in Redis) hand out the same ids for the same seed and request order.
        """
        data = self._data
        data.draw = (stream & _STREAMS) << 32
        data.rng = None

    def new_id(self, dashes: bool = True) -> str:
        """A UUID drawn from the seed and the current stream: same seed, same ids.

        Exactly ``str(uuid.UUID(int=bits, version=4))``, formatted without the uuid module;
        without ``dashes``, its 32 hex digits (``uuid.hex``), which the provider families' ids
        are made of.
        """
        data = self._data
        data.draw = draw = data.draw + 1
        z = (draw + self._seed_offset) * _MIX_A & _MASK
        z ^= z >> 67
        z = z * _MIX_B & _MASK
        z ^= z >> 59
        bits = z & _UUID4_CLEAR | _UUID4_SET
        if not dashes:
            return "%032x" % bits  # noqa: UP031 (1k instructions less than an f-string's spec)
        # The 8-4-4-4-12 groups cut in one C call: five slices of a str cost twice as much.
        return b"-".join(_UUID_GROUPS(b"%032x" % bits)).decode()

    def draws(self) -> tuple[int, bool]:
        """How many ids the current stream has handed out, and whether its generator drew."""
        data = self._data
        return data.draw & _DRAWS, data.rng is not None

    def stream_ids(self, stream: int, count: int) -> tuple[str, ...]:
        """The first ``count`` ids of ``stream``, leaving the current draws as they are."""
        data = self._data
        current = data.draw
        data.draw = (stream & _STREAMS) << 32
        try:
            return tuple([self.new_id() for _ in range(count)])
        finally:
            data.draw = current

    def random(self) -> random.Random:
        """The current stream's seeded generator (fault probabilities, latencies)."""
        data = self._data
        if data.rng is None:
            data.rng = random.Random(self._seed_offset ^ data.draw >> 32)
        return data.rng

    # Operations shared by the admin API and the Python handle.
    def reset(self) -> None:
        """Back to the start-up configuration: keys, limits, clock; no resources, usage, journal."""
        with self.lock:
            self.clock.reset()
            self._data = self._baseline()
            self.failures.clear()

    def snapshot(self) -> tuple[_Data, tuple[float, float, bool]]:
        """Everything mutable, copied, for ``restore``."""
        with self.lock:
            return copy.deepcopy(self._data), self.clock.state()

    def restore(self, snapshot: tuple[_Data, tuple[float, float, bool]]) -> None:
        """Go back to a ``snapshot`` (which stays reusable)."""
        data, clock = snapshot
        with self.lock:
            self._data = copy.deepcopy(data)
            self.clock.restore(clock)

    def add_key(
        self,
        key: str | None = None,
        *,
        workspace: str = "default",
        scopes: tuple[str, ...] | list[str] = ALL_SCOPES,
        admin: bool = False,
        kind: str = "workspace",
    ) -> Principal:
        """Register a key (a new workspace comes into being); ``key=None`` makes one up.

        A ``personal`` key carries only COMPLETION_API (ConfigError for other scopes).
        """
        with self.lock:
            if key is None:
                self._data.key_counter += 1
                key = f"sk-ld-mock-{workspace}-{self._data.key_counter}"
            if workspace not in self._data.workspaces:
                self._data.workspaces[workspace] = next(iter(self._data.models))
                self._data.store.actions.setdefault(workspace, set())
            principal = _principal(KeySpec(key, workspace, tuple(scopes), admin, kind))
            self._data.keys[key] = principal
            return principal

    def share(self, key: str, record_id: str) -> None:
        """Share an assistant or agent with a key of its workspace (what the UI's Share does)."""
        with self.lock:
            principal = self._data.keys.get(key)
            if principal is None:
                raise ConfigError(f"unknown key {key!r}")
            record = self._data.store.find(record_id, principal.workspace)
            if record is None:
                raise ConfigError(
                    f"no assistant {record_id!r} in workspace {principal.workspace!r}"
                )
            record.shared_with.add(key)

    def add_folder(
        self,
        workspace: str,
        *,
        folder_id: str | None = None,
        name: str | None = None,
        shared_with: list[str] | None = None,
        editors: list[str] | None = None,
    ) -> KnowledgeFolder:
        """Make a knowledge folder (what the Library's "Create folder" does).

        Shared with, and editable by, every key of the workspace unless keys are named; a named
        key must exist in that workspace. ``folder_id=None`` makes a UUID up.
        """
        with self.lock:
            if workspace not in self._data.workspaces:
                raise ConfigError(f"unknown workspace {workspace!r}")
            for key in (*(shared_with or ()), *(editors or ())):
                principal = self._data.keys.get(key)
                if principal is None or principal.workspace != workspace:
                    raise ConfigError(f"no key {key!r} in workspace {workspace!r}")
            folder_id = folder_id or self.new_id()
            if folder_id in self._data.store.folders:
                raise ConfigError(f"knowledge folder {folder_id!r} exists already")
            # An editor can see what it edits.
            seen = None if shared_with is None else frozenset([*shared_with, *(editors or ())])
            folder = KnowledgeFolder(
                folder_id,
                workspace,
                name or f"Knowledge folder {len(self._data.store.folders) + 1}",
                seen,
                None if editors is None else frozenset(editors),
            )
            self._data.store.folders[folder_id] = folder
            return folder

    def remove_folder(self, folder_id: str) -> bool:
        """Delete a knowledge folder and its files; False if there is none."""
        with self.lock:
            return self._data.store.folders.pop(folder_id, None) is not None

    def add_action(self, workspace: str, action_id: str) -> None:
        """Make an action id known in a workspace (create/update accept only known actions)."""
        with self.lock:
            self._data.store.actions.setdefault(workspace, set()).add(action_id)

    def set_limits(
        self, workspace: str, model: str | None, rpm: int | None, tpm: int | None
    ) -> None:
        """Change the limits of a workspace (one model, or all with ``model=None``; None keeps)."""
        if (rpm is not None and rpm < 0) or (tpm is not None and tpm < 0):
            raise ConfigError("rpm and tpm must not be negative")
        with self.lock:
            self._data.limiter.set_limits(workspace, model, rpm, tpm)

    def count(self, operation: str | None, status: int) -> None:
        """Count an answered request for the contract coverage report."""
        if operation is not None:
            key = (operation, status)
            self._data.coverage[key] = self._data.coverage.get(key, 0) + 1
            self.run_coverage[key] = self.run_coverage.get(key, 0) + 1

    @property
    def coverage(self) -> dict[tuple[str, int], int]:
        """How often each (operation, status) was answered since the last reset."""
        return self._data.coverage

    def record_failure(self, text: str) -> None:
        """Keep an unexpected exception for the pytest plugin to re-raise."""
        with self.lock:
            self.failures.append(text)


def _principal(spec: KeySpec) -> Principal:
    return Principal(spec.key, spec.workspace, frozenset(spec.scopes), spec.admin, spec.kind)
