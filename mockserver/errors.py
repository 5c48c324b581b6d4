"""Two error trees: ApiError becomes a vendor-shaped response; MockServerError is raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, NamedTuple

__all__ = [
    "ERROR_FORMATS",
    "ApiError",
    "BadGateway",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "ErrorFormat",
    "FieldError",
    "Forbidden",
    "GatewayTimeout",
    "InjectedFault",
    "InsufficientScope",
    "InternalError",
    "MethodNotAllowed",
    "MockServerError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "SchemaError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
    "json_path",
    "render",
]


class MockServerError(Exception):
    """Raised to the library user (bad configuration, broken schemas); never sent over the wire."""


class SchemaError(MockServerError):
    """A schema file that cannot be read, resolved or compiled."""

    def __init__(self, file: str, pointer: str, reason: str) -> None:
        super().__init__(f"{file}{pointer and '#' + pointer}: {reason}")
        self.file = file
        self.pointer = pointer
        self.reason = reason


class ConfigError(MockServerError):
    """A bad setting or marker argument; the message names the option."""


class FieldError(NamedTuple):
    """One violated constraint, rendered as a Zod-like issue ``{code, path, message}``."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The wire form of the issue."""
        return {"code": self.code, "path": list(self.path), "message": self.message}


def json_path(path: Iterable[str | int]) -> str:
    """An issue's path as JSONPath: ``$.messages[0].role``; ``$`` for the body itself."""
    return "$" + "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in path)


class ApiError(Exception):
    """An emulated API error; ``render`` turns it into the vendor's body."""

    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal Server Error"
    # What the provider formats say beside the message: OpenAI's ``code`` and ``param``.
    code: str | None = None
    param: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if param is not None:
            self.param = param
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body in the vendor's ``{"message": ...}`` envelope."""
        return {"message": self.message}


class BadRequest(ApiError):
    """400 with a string message: the body could not be read as a JSON object."""

    status = 400
    default_message = "Invalid request body"


class ValidationFailed(ApiError):
    """400 with the list of every violated constraint."""

    status = 400

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__(errors[0].message if errors else "Invalid request")
        self.errors = errors
        if errors:
            # OpenAI names a ``param`` as the JSON path without its root: ``messages[0].role``.
            self.param = json_path(errors[0].path).removeprefix("$").lstrip(".")

    def body(self) -> dict[str, Any]:
        issues = [
            {"code": code, "path": list(path), "message": text} for path, code, text in self.errors
        ]
        return {"message": issues}


class Unauthenticated(ApiError):
    """401: missing, malformed or unknown API key."""

    status = 401
    default_message = "Invalid or missing API key"


class Forbidden(ApiError):
    """403: the key is known but may not do this."""

    status = 403
    default_message = "Forbidden"


class InsufficientScope(Forbidden):
    """403 naming the scope the key lacks."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"Insufficient permissions - requires {scope} scope")
        self.scope = scope


class NotFound(ApiError):
    """404: unknown route, or a resource the key cannot see."""

    status = 404
    default_message = "Not found"


class MethodNotAllowed(ApiError):
    """405: the path exists but not for this method."""

    status = 405
    default_message = "Method not allowed"


class Conflict(ApiError):
    """409: the request conflicts with the resource's state."""

    status = 409
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    """413: the body is over the configured limit."""

    status = 413
    default_message = "Request body too large"


class UnsupportedMediaType(ApiError):
    """415: a body that is not application/json."""

    status = 415
    default_message = "Content-Type must be application/json"


class RateLimited(ApiError):
    """429: the workspace's requests or tokens per minute for a model are used up.

    ``limit`` says which: ``"requests"`` (RPM) or ``"tokens"`` (TPM), OpenAI's error ``type``.
    """

    status = 429

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        model: str | None = None,
        limit: str = "requests",
    ) -> None:
        super().__init__(message, headers=headers)
        self.model = model  # which model's window was full (journaled for the inspector)
        self.limit = limit


class InternalError(ApiError):
    """500: a bug of the mock (an exception, a broken contract), recorded for the plugin."""

    status = 500
    default_message = "Internal Server Error (mock_internal_error)"


class BadGateway(ApiError):
    """502: the proxy could not reach the upstream, or the upstream broke the connection."""

    status = 502
    default_message = "Bad gateway: the upstream could not be reached"


class GatewayTimeout(ApiError):
    """504: the upstream did not answer within the proxy's timeout."""

    status = 504
    default_message = "Gateway timeout: the upstream did not answer in time"


class InjectedFault(ApiError):
    """A status chosen by a fault rule, in the vendor's envelope."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or f"Injected fault: HTTP {status}")
        self.fault_status = status

    @property
    def status(self) -> int:  # type: ignore[override]  # Reason: per instance, not per class.
        return self.fault_status


def _message(error: ApiError) -> dict[str, Any]:
    return error.body()


def _error(error: ApiError) -> dict[str, Any]:
    # The {"error": string} envelope has no list form: a validation 400 says its first issue.
    return {"error": error.message}


# Each provider's word for a status (its ``type``, ``code`` or ``status``), and the fallback.
_OPENAI_TYPES = {429: "requests", 500: "server_error", 503: "server_error"}
_OPENAI_CODES = {
    401: "invalid_api_key",
    403: "insufficient_permissions",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _word(words: dict[int, str], status: int, client: str, server: str) -> str:
    # A status the table lacks takes the provider's word for its class (4xx or 5xx).
    return words.get(status, server if status >= 500 else client)


def _said(error: ApiError, template: str) -> str:
    # A validation 400 names the field in the provider's manner; the rest say their message.
    if isinstance(error, ValidationFailed) and error.param:
        return template.format(param=error.param, message=error.message)
    return error.message


def _openai(error: ApiError) -> dict[str, Any]:
    status = error.status
    if isinstance(error, RateLimited):
        kind = error.limit  # OpenAI's 429 type says which window: "requests" or "tokens"
    else:
        kind = _word(_OPENAI_TYPES, status, "invalid_request_error", "server_error")
    message = _said(error, "Invalid '{param}': {message}")
    code = error.code or _OPENAI_CODES.get(status)
    return {"error": {"message": message, "type": kind, "param": error.param, "code": code}}


def _anthropic(error: ApiError) -> dict[str, Any]:
    kind = _word(_ANTHROPIC_TYPES, error.status, "invalid_request_error", "api_error")
    message = _said(error, "{param}: {message}")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _google(error: ApiError) -> dict[str, Any]:
    status = error.status
    name = _word(_GOOGLE_STATUSES, status, "FAILED_PRECONDITION", "INTERNAL")
    message = _said(error, "Invalid value at '{param}': {message}")
    return {"error": {"code": status, "message": message, "status": name}}


class ErrorFormat(NamedTuple):
    """A named error envelope: its top-level key and how an ApiError becomes its body."""

    key: str
    body: Callable[[ApiError], dict[str, Any]]


ERROR_FORMATS: dict[str, ErrorFormat] = {
    "message": ErrorFormat("message", _message),
    "error": ErrorFormat("error", _error),
    "openai": ErrorFormat("error", _openai),
    "anthropic": ErrorFormat("error", _anthropic),
    "google": ErrorFormat("error", _google),
}
"""Error envelopes by the name api.json gives an operation's ``envelope``."""


def render(error: ApiError, envelope: str = "message") -> tuple[int, dict[str, Any]]:
    """Status and body of an error in an operation's envelope (a name of ``ERROR_FORMATS``)."""
    return error.status, ERROR_FORMATS[envelope].body(error)
