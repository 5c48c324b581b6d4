"""Settings: embedded defaults, a TOML file, LANGDOCK_MOCK_* variables and CLI values, merged."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.clock import DEFAULT_EPOCH
from mockserver.errors import ConfigError

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_API_KEY",
    "DEFAULT_UPSTREAM",
    "ENV_PREFIX",
    "KEY_KINDS",
    "PERSONAL_SCOPES",
    "KeySpec",
    "LimitSpec",
    "ModelSpec",
    "Settings",
    "WorkspaceSpec",
    "default_schema_dir",
    "load_settings",
]

ENV_PREFIX = "LANGDOCK_MOCK_"
DEFAULT_API_KEY = "sk-ld-mock"
ALL_SCOPES = ("AGENT_API", "KNOWLEDGE_FOLDER_API", "COMPLETION_API", "USAGE_EXPORT_API")
PERSONAL_SCOPES = ("COMPLETION_API",)
KEY_KINDS = ("workspace", "personal")
PROFILES = ("seed", "2026")
STORE_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_UPSTREAM = "https://api.langdock.com"
VALIDATE_MODES = ("warn", "enforce")
RECORD_FORMATS = ("jsonl", "har")
REPLAY_MATCHES = ("exact", "operation")


@dataclass(frozen=True, slots=True)
class KeySpec:
    """An API key: its workspace, scopes and whether it may use admin-only operations.

    A ``personal`` key (Langdock's keys of one user) carries only ``COMPLETION_API``: given no
    scopes or every scope, it gets that one; any other choice is a ConfigError.
    """

    key: str
    workspace: str = "default"
    scopes: tuple[str, ...] = ALL_SCOPES
    admin: bool = False
    kind: str = "workspace"

    def __post_init__(self) -> None:
        if self.kind not in KEY_KINDS:
            raise ConfigError(f"keys: kind {self.kind!r} is not one of {', '.join(KEY_KINDS)}")
        if self.kind == "personal":
            if tuple(self.scopes) not in (ALL_SCOPES, PERSONAL_SCOPES):
                raise ConfigError(f"keys: a personal key carries only {PERSONAL_SCOPES[0]}")
            object.__setattr__(self, "scopes", PERSONAL_SCOPES)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model of the catalogue."""

    id: str
    created: int = 1_717_200_000_000
    region: str = "eu"
    supports_extended_thinking: bool = False
    # The Completion API family serving it (openai, anthropic, google); None: by its id's prefix.
    provider: str | None = None


# A model's provider when its spec names none, by the prefix of its id.
_PREFIXES = {
    "openai": ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-"),
    "anthropic": ("claude-",),
    "google": ("gemini-", "gemma-"),
}


def provider_of(model: ModelSpec) -> str | None:
    """The family whose routes serve a model of the catalogue: its spec's, or by its id."""
    if model.provider is not None:
        return model.provider
    return next((family for family, heads in _PREFIXES.items() if model.id.startswith(heads)), None)


# Action ids every embedded workspace knows, so examples can attach actions without set-up.
DEFAULT_ACTIONS = (
    "00000000-0000-4000-8000-00000000a001",
    "00000000-0000-4000-8000-00000000a002",
)


@dataclass(frozen=True, slots=True)
class WorkspaceSpec:
    """A workspace and the model its assistants use when they name none."""

    id: str
    default_model: str = "gpt-4o"
    actions: tuple[str, ...] = DEFAULT_ACTIONS


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """Requests and tokens per minute for one workspace and model (None: every model).

    ``rpm`` or ``tpm`` None keeps the limit otherwise in force (the workspace's, or the default).
    """

    workspace: str
    model: str | None = None
    rpm: int | None = None
    tpm: int | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise ConfigError(f"limits: {name} must be a non-negative integer, not {value!r}")
        if self.rpm is None and self.tpm is None:
            raise ConfigError(f"limits: {self.workspace!r} needs rpm, tpm or both")

    @classmethod
    def parse(cls, text: str) -> LimitSpec:
        """``WORKSPACE[/MODEL]:rpm=N,tpm=M`` (either number may be left out), as the CLI takes."""
        target, colon, numbers = text.strip().rpartition(":")
        workspace, _, model = target.partition("/")
        values: dict[str, int] = {}
        try:
            for item in numbers.split(","):
                name, _, number = item.partition("=")
                if not colon or not workspace or name.strip() not in ("rpm", "tpm"):
                    raise ValueError(item)
                values[name.strip()] = int(number)
        except ValueError:
            raise ConfigError(f"limits: {text!r} is not WORKSPACE[/MODEL]:rpm=N,tpm=M") from None
        return cls(workspace, model or None, values.get("rpm"), values.get("tpm"))


DEFAULT_MODELS = (
    ModelSpec("gpt-4o", 1_715_367_049_000, "eu", False),
    ModelSpec("gpt-4o-mini", 1_721_172_741_000, "eu", False),
    ModelSpec("gpt-5", 1_754_524_800_000, "global", True),
    ModelSpec("gpt-5-mini", 1_754_524_800_000, "eu", True),
    ModelSpec("claude-sonnet-4-5@20250929", 1_759_104_000_000, "eu", True),
    ModelSpec("gemini-2.5-flash", 1_750_291_200_000, "us", True),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a server is started with; immutable, so ``reset`` can return to it."""

    host: str = "127.0.0.1"
    port: int = 8080
    profile: str = "seed"
    seed: int = 0
    strict: bool = False
    api_key: str = DEFAULT_API_KEY
    schema_dir: Path | None = None
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 20 * 1_048_576
    max_knowledge_bytes: int = 256 * 1_048_576
    journal_size: int = 1000
    rate_limit_headers: bool = False
    rate_limits: bool = True
    default_rpm: int = 500
    default_tpm: int = 60_000
    chars_per_token: int = 4
    unshared_status: int = 404
    check_responses: bool = False
    allow_fault_header: bool = False
    admin_token: str | None = None
    admin_open: bool = False
    allow_browser: bool = False
    freeze_clock: bool = False
    clock_start: float = DEFAULT_EPOCH
    stream_chunk_chars: int = 16
    stream_delay_ms: int = 0
    workspaces: tuple[WorkspaceSpec, ...] = (WorkspaceSpec("default"),)
    keys: tuple[KeySpec, ...] = ()
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    limits: tuple[LimitSpec, ...] = ()
    store: str = "memory"
    store_namespace: str = "langdock-mock"
    workers: int = 1
    # `proxy`: the upstream, its timeouts, what is checked and what is recorded.
    upstream: str = DEFAULT_UPSTREAM
    upstream_timeout: float = 60.0
    upstream_connect_timeout: float = 10.0
    validate: str = "warn"
    record: Path | None = None
    record_format: str = "jsonl"
    redact: tuple[str, ...] = ()
    # `serve --replay`: answers from a recording instead of the emulation.
    replay: Path | None = None
    replay_match: str = "exact"
    replay_ignore: tuple[str, ...] = ()
    replay_speed: float = 1.0
    replay_auth: bool = True

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"profile: {self.profile!r} is not one of {', '.join(PROFILES)}")
        if self.unshared_status not in (403, 404):
            raise ConfigError("unshared_status: must be 403 or 404")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: {self.port} is not between 0 and 65535")
        if not self.workspaces:
            raise ConfigError("workspaces: at least one workspace is needed")
        for name in (
            "max_body_bytes",
            "max_upload_bytes",
            "max_knowledge_bytes",
            "stream_chunk_chars",
            "journal_size",
            "chars_per_token",
            "default_rpm",
            "default_tpm",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        if self.stream_delay_ms < 0:
            raise ConfigError("stream_delay_ms: must not be negative")
        for name, value, allowed in (
            ("validate", self.validate, VALIDATE_MODES),
            ("record_format", self.record_format, RECORD_FORMATS),
            ("replay_match", self.replay_match, REPLAY_MATCHES),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        for name in ("upstream_timeout", "upstream_connect_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be more than 0 seconds")
        if self.replay_speed < 0:
            raise ConfigError("replay_speed: must not be negative (0 replays without pauses)")
        if not self.upstream.startswith(("http://", "https://")):
            raise ConfigError(f"upstream: {self.upstream!r} is not an http:// or https:// URL")
        workspaces = {w.id for w in self.workspaces}
        for spec in self.all_keys():
            if spec.workspace not in workspaces:
                raise ConfigError(f"keys: {spec.key!r} names unknown workspace {spec.workspace!r}")
        if not self.models:
            raise ConfigError("models: the catalogue needs at least one model")
        if self.store != "memory" and not self.store.startswith(STORE_SCHEMES):
            raise ConfigError(f"store: {self.store!r} is not memory or redis://HOST:PORT/DB")
        if not self.store_namespace:
            raise ConfigError("store_namespace: must not be empty")
        if self.workers < 1:
            raise ConfigError("workers: must be at least 1")
        if self.workers > 1 and self.store == "memory":
            raise ConfigError(
                f"workers: {self.workers} workers cannot share the memory store; "
                "add --store redis://HOST:PORT/DB"
            )

    def all_keys(self) -> tuple[KeySpec, ...]:
        """The configured keys, plus the embedded admin key unless the file defines that key."""
        if any(spec.key == self.api_key for spec in self.keys):
            return self.keys
        first = self.workspaces[0].id if self.workspaces else "default"
        return (KeySpec(self.api_key, first, ALL_SCOPES, admin=True), *self.keys)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


_TABLES = ("workspaces", "keys", "models", "limits")
# The options a file, an environment variable or the CLI may set, with their types.
_SCALARS: dict[str, Any] = {
    name: hint for name, hint in typing.get_type_hints(Settings).items() if name not in _TABLES
}


def _coerce(name: str, value: Any) -> Any:
    kind = _SCALARS[name]
    if kind in (Path | None, str | None):
        if value in (None, ""):
            return None
        return Path(value) if kind == Path | None else str(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: {value!r} is not a boolean")
    if kind == tuple[str, ...]:
        # A variable gives several separated by spaces or commas; a file gives a list.
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return _names(list(value) if isinstance(value, tuple) else value, name)
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}: {value!r} is not a number")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: {value!r} is not a number") from None
    return str(value)


def _names(value: Any, field: str) -> tuple[str, ...]:
    # A bare string would otherwise become a tuple of its characters.
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"config: {field} must be a list of strings, not {value!r}")
    return tuple(value)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in _SCALARS:
            values[name] = _coerce(name, value)
        elif name not in _TABLES:
            raise ConfigError(f"config: unknown option {name!r} in {path}")
    try:
        if "workspaces" in data:
            values["workspaces"] = tuple(
                WorkspaceSpec(
                    **{**w, "actions": _names(w.get("actions", DEFAULT_ACTIONS), "actions")}
                )
                for w in data["workspaces"]
            )
        if "keys" in data:
            values["keys"] = tuple(
                KeySpec(**{**k, "scopes": _names(k.get("scopes", ALL_SCOPES), "scopes")})
                for k in data["keys"]
            )
        if "models" in data:
            values["models"] = tuple(ModelSpec(**m) for m in data["models"])
        if "limits" in data:
            values["limits"] = tuple(LimitSpec(**x) for x in data["limits"])
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"config: bad table in {path}: {exc}") from None
    return values


def load_settings(
    config: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge in order of precedence: overrides (CLI) > environment > config file > defaults.

    Limits add up instead: the file's, then LANGDOCK_MOCK_LIMITS, then the CLI's ``limits``.
    """
    env = os.environ if env is None else env
    config = config or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = _from_file(Path(config)) if config else {}
    for name in _SCALARS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    limits = [*values.get("limits", ()), *_limits(env.get(ENV_PREFIX + "LIMITS", "").split())]
    values["limits"] = (*limits, *_limits((overrides or {}).get("limits") or ()))
    for name, value in (overrides or {}).items():
        if name == "limits":
            continue
        if name not in _SCALARS:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = _coerce(name, value)
    return Settings(**values)


def _limits(items: Any) -> tuple[LimitSpec, ...]:
    # The CLI and the variable give WORKSPACE[/MODEL]:rpm=N,tpm=M texts; Python gives specs.
    return tuple(i if isinstance(i, LimitSpec) else LimitSpec.parse(str(i)) for i in items)


def default_schema_dir(setting: Path | None = None) -> Path:
    """Where the schemas are: the setting, the variable, the packaged copy, then the repo's."""
    if setting is not None:
        return setting
    from_env = os.environ.get(ENV_PREFIX + "SCHEMA_DIR")
    if from_env:
        return Path(from_env)
    here = Path(__file__).resolve().parent
    packaged = here / "_schemas"
    if (packaged / "api.json").is_file():
        return packaged
    return here.parent / "schemas"
