"""The Assistants API operations: create, get, update, disable, models, completions.

Create, get, update, disable and models serve the Agents API too (an assistant is an agent):
the operation's family names the id field, the response key and the noun in messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockserver.api.completion import (
    RESOURCE_NOT_FOUND,
    Target,
    complete,
    require_attachments,
    require_folders,
    require_model,
)
from mockserver.api.outcome import Call, Completion, Reply
from mockserver.auth import Principal
from mockserver.clock import isoformat
from mockserver.errors import Forbidden, NotFound
from mockserver.state import MockState
from mockserver.store import Record

__all__ = ["OPERATIONS", "complete_for", "details_from", "models_body", "visible_record"]

FIELDS = "defs/assistant-fields.json"

# Request field -> response field, for the fields stored as sent.
_RENAMES = {
    "name": "name",
    "description": "description",
    "instruction": "instruction",
    "emoji": "emojiIcon",
    "model": "model",
    "creativity": "temperature",
    "conversationStarters": "conversationStarters",
    "inputType": "inputType",
    "webSearch": "webSearchEnabled",
    "imageGeneration": "imageGenerationEnabled",
    "dataAnalyst": "codeInterpreterEnabled",
    "canvas": "canvasEnabled",
    "attachments": "attachments",
    "extendedThinking": "extendedThinking",
}


def _default(state: MockState, pointer: str) -> Any:
    return state.bundle.resolve(FIELDS, pointer).get("default")


def _actions(state: MockState, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    default = _default(state, "/$defs/action/properties/requiresConfirmation")
    return [
        {
            "actionId": a["actionId"],
            "requiresConfirmation": a.get("requiresConfirmation", default),
            "connectionId": None,
        }
        for a in actions
    ]


def _input_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"required": False, **f} for f in fields]


def _check_resources(state: MockState, principal: Principal, body: dict[str, Any]) -> None:
    # Before anything changes (an id drawn included): a rejected request changes no state.
    if "model" in body:
        require_model(state, body["model"])
    known = state.store.actions.get(principal.workspace, set())
    if any(a["actionId"] not in known for a in body.get("actions", ())):
        raise NotFound(RESOURCE_NOT_FOUND)
    require_attachments(state, principal.workspace, body.get("attachments", ()))
    # Checked, not stored: get's response has no knowledge field, and the mock's replies
    # never read a stored assistant's folders.
    require_folders(state, principal, body.get("knowledgeFolderIds", ()))


def details_from(
    state: MockState, record_id: str, workspace: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A new stored document from a create body, defaults filled in from the schemas."""
    now = isoformat(state.clock.now())
    details: dict[str, Any] = {
        "id": record_id,
        "name": body["name"],
        "description": None,
        "instruction": None,
        "emojiIcon": None,
        "model": state.default_model(workspace),
        "temperature": _default(state, "/$defs/creativity"),
        "conversationStarters": [],
        "inputType": _default(state, "/$defs/inputType"),
        "webSearchEnabled": False,
        "imageGenerationEnabled": False,
        "codeInterpreterEnabled": False,
        "canvasEnabled": False,
        "actions": [],
        "inputFields": [],
        "attachments": [],
        "createdAt": now,
        "updatedAt": now,
    }
    if "extendedThinking" in state.bundle.document("defs/assistant-details.json")["properties"]:
        details["extendedThinking"] = False
    _apply(state, details, body)
    return details


def _apply(state: MockState, details: dict[str, Any], body: dict[str, Any]) -> None:
    for name, value in body.items():
        if name == "actions":
            details["actions"] = _actions(state, value)
        elif name == "inputFields":
            details["inputFields"] = _input_fields(value)
        elif name in _RENAMES:
            details[_RENAMES[name]] = list(value) if isinstance(value, list) else value


def visible_record(state: MockState, call: Call, record_id: str, noun: str) -> Record:
    """The record if the key may see it: 404 otherwise (403 for unshared, if so configured)."""
    record = state.store.find(record_id, call.principal.workspace)
    if record is None:
        raise NotFound(f"{noun} not found")
    if call.principal.key not in record.shared_with:
        if state.settings.unshared_status == 403:
            raise Forbidden(f"API key does not have access to this {noun.lower()}")
        raise NotFound(f"{noun} not found")
    return record


def _family(call: Call) -> tuple[str, str]:
    # ("assistant", "Assistant") or ("agent", "Agent"): response key and noun of the operation.
    return _FAMILIES[call.operation.family]


_FAMILIES = {family: (family, family.capitalize()) for family in ("assistant", "agent")}
_ID_FIELDS = {family: f"{family}Id" for family in _FAMILIES}


def create(state: MockState, call: Call) -> Reply:
    """POST /assistant/v1/create (and /agent/v1/create): store, share with the creating key."""
    family, noun = _family(call)
    workspace = call.principal.workspace
    _check_resources(state, call.principal, call.body)
    record_id = state.new_id()
    details = details_from(state, record_id, workspace, call.body)
    state.store.add(Record(record_id, workspace, details, {call.principal.key}))
    return Reply(
        201,
        {
            "status": "success",
            "message": f"{noun} created successfully",
            family: details,
        },
    )


def get(state: MockState, call: Call) -> Reply:
    """GET /assistant/v1/get (and /agent/v1/get): the newest published version, else the draft."""
    family, noun = _family(call)
    record = visible_record(state, call, call.body[f"{family}Id"], noun)
    return Reply(200, {"status": "success", family: record.active()})


def update(state: MockState, call: Call) -> Reply:
    """PATCH /assistant/v1/update (and /agent/v1/update): change the draft; arrays replace.

    The Agents API answers with the draft it changed; the Assistants API, which has no publish,
    with what get returns.
    """
    family, noun = _family(call)
    record = visible_record(state, call, call.body[f"{family}Id"], noun)
    changes = {k: v for k, v in call.body.items() if k != f"{family}Id"}
    _check_resources(state, call.principal, changes)
    draft = dict(record.draft)
    _apply(state, draft, changes)
    draft["updatedAt"] = isoformat(state.clock.now())
    record.draft = draft
    record.dirty = True
    return Reply(
        200,
        {
            "status": "success",
            "message": f"{noun} updated successfully",
            family: record.active() if record.versions and family == "assistant" else draft,
        },
    )


def disable(state: MockState, call: Call) -> Reply:
    """PATCH /assistant/v1/disable (and /agent/v1/disable): an admin switches it off or on."""
    family, noun = _family(call)
    record = visible_record(state, call, call.body[f"{family}Id"], noun)
    record.disabled = bool(call.body["disabled"])
    word = "disabled" if record.disabled else "enabled"
    return Reply(200, {"status": "success", "message": f"{noun} {word} successfully"})


def models_body(state: MockState) -> dict[str, Any]:
    """The catalogue in the models endpoint's shape, with the profile's extra fields."""
    item_schema = state.bundle.document("responses/models.json")["properties"]["data"]["items"]
    regions = "region" in item_schema["properties"]
    data = []
    for model in state.models.values():
        item: dict[str, Any] = {
            "id": model.id,
            "object": "model",
            "created": model.created,
            "owned_by": "system",
        }
        if regions:
            item["region"] = model.region
            item["supportsExtendedThinking"] = model.supports_extended_thinking
        data.append(item)
    return {"object": "list", "data": data}


def models(state: MockState, call: Call) -> Reply:
    """GET /assistant/v1/models (and /agent/v1/models)."""
    return Reply(200, models_body(state))


def complete_for(
    state: MockState, call: Call, texts: tuple[str, ...], attachment_ids: list[str]
) -> Completion:
    """A completion of either family once its messages are read: a stored target or an inline one.

    Stored: ``assistantId``/``agentId``, the newest published version (else the draft); 403 when
    disabled. Inline: ``assistant``/``agent``, whose ``attachmentIds`` are checked with the
    messages' attachments (unknown or deleted: 404), and ``knowledgeFolderIds`` (unknown or not
    shared with the key: 404). The journal tallies what is served for the usage export.
    """
    family, noun = _family(call)
    body = call.body
    workspace = call.principal.workspace
    id_field = _ID_FIELDS[family]
    folder_ids: list[str] | tuple[str, ...] = ()
    if id_field in body:
        record = visible_record(state, call, body[id_field], noun)
        if record.disabled:
            raise Forbidden(f"{noun} is disabled")
        active = record.active()
        target = Target(family, record.id, active["model"], active["instruction"] or "", texts)
    else:
        inline = body[family]
        model = inline.get("model") or state.default_model(workspace)
        require_model(state, model)
        if "attachmentIds" in inline:
            attachment_ids = [*attachment_ids, *inline["attachmentIds"]]
        folder_ids = inline.get("knowledgeFolderIds", ())
        target = Target(family, None, model, inline.get("instructions", ""), texts)
    if attachment_ids:
        require_attachments(state, workspace, attachment_ids)
    if folder_ids:
        require_folders(state, call.principal, folder_ids)
    return complete(
        state, workspace, target, body, bool(body.get("stream", False)), call.principal.key
    )


def completions(state: MockState, call: Call) -> Completion:
    """POST /assistant/v1/chat/completions with a stored assistant or an inline one."""
    messages = call.body["messages"]
    texts = tuple([m["content"] for m in messages])
    attachment_ids = [a for m in messages for a in m.get("attachmentIds", ())]
    return complete_for(state, call, texts, attachment_ids)


OPERATIONS: dict[str, Callable[[MockState, Call], Reply | Completion]] = {
    "assistant.create": create,
    "assistant.get": get,
    "assistant.update": update,
    "assistant.disable": disable,
    "assistant.models": models,
    "assistant.completions": completions,
}
