"""What the API translations share: named refusals, the step into the canonical request,
ids, and server-sent events with an event name."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import ValidationError

from router.core.errors import RouteError
from router.core.requests import ChatCompletionIn


def new_id(prefix: str) -> str:
    # 32 random hex digits, as uuid4().hex gave, at a quarter of its cost.
    return f"{prefix}_{secrets.token_hex(16)}"


def refuse(message: str, param: str | None = None, code: str = "invalid_request_error") -> NoReturn:
    raise RouteError(message, code, 400, param=param)


def refuse_extras(extras: Mapping[str, Any] | None, foreign: Mapping[str, str], api: str) -> None:
    """Fields this API does not have: another API's (named with what to send instead) or
    unknown ones. Nothing unknown is passed on, so nothing is silently dropped; a null is
    "not set" (SDKs send them), so there is nothing to drop."""
    for name, value in (extras or {}).items():
        if value is None:
            continue
        if name in foreign:
            refuse(f"'{name}' is not a parameter of the {api}: {foreign[name]}", name)
        refuse(f"unknown parameter '{name}' for the {api}", name, "unknown_parameter")


def canonical(chat: dict[str, Any], api: str) -> ChatCompletionIn:
    """The translated request as the router's chat request. A problem found only here (a
    malformed image URL, an invalid JSON Schema, a tool result without its call…) is named
    by its place in the chat request it became."""
    try:
        return ChatCompletionIn.model_validate(chat)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RouteError(
            f"the {api} request, as a chat request, is invalid at {where}: {first['msg']}",
            param=where,
        ) from exc


def tool_input(arguments: str | None) -> dict[str, Any]:
    """A tool call's arguments as an object. A model may write arguments that are not a JSON
    object; they are kept whole under `_arguments` rather than lost."""
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": arguments}


def event(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event with its name, as OpenAI's Responses and Anthropic's streams
    send them."""
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"
