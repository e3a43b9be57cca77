"""The Responses API forwarded as is to OpenAI-compatible servers that serve it themselves (a
deployment with the `responses_api` capability: vLLM, OpenAI): the client's body goes to the
server's /v1/responses with `model` replaced, and its answer (or event stream) comes back as
the server wrote it, with the catalog's model id. Every other deployment, and a fallback to
one, gets the chat translation (responses.py); the decision, limits, budget, ledger, headers
and fallback are the gateway's either way.

Stored responses stay modelyard's, whichever path answered: a conversation may move between
deployments (fallback, routing, a forwarding one and a translated one), and a key's responses
must be readable and deletable here. So the server is sent `store: false` and, instead of
`previous_response_id`, the stored conversation as input items before the request's own; the
answer's `store` and `previous_response_id` are set back to what the client asked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapters.base import Adapter
from adapters.errors import AdapterError
from adapters.openai_compat import OpenAICompatibleAdapter
from adapters.openai_responses import ENDS, EVENT, ResponsesForwarder
from catalog.terms import DeploymentKind
from router.api.responses import ResponsesIn
from router.api.responses_events import Finish, ResponseEvents
from router.api.translation import event, new_id
from router.pipeline.execution import Via
from router.routing.decision import Candidate

CAPABILITY = "responses_api"
# Kept by modelyard, never sent: its own routing controls and the conversation pointer.
NOT_SENT = ("route", "previous_response_id")
ITEM_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


# --- stored chat messages as Responses items ---------------------------------------------------


def _input_parts(content: Any) -> list[dict[str, Any]]:
    """Chat content (a string or parts) as Responses input content parts."""
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url")
            parts.append(
                {"type": "input_image", "image_url": url, "detail": image.get("detail") or "auto"}
            )
        elif kind == "file":
            parts.append({"type": "input_file", **(part.get("file") or {})})
    return parts


def input_items(messages: list[dict[str, Any]], listed: bool = False) -> list[dict[str, Any]]:
    """Chat messages (as a stored conversation keeps them) as Responses input items. `listed`:
    the full item shapes GET …/input_items answers (assistant text as output_text parts, a
    status); otherwise the plain shapes a server takes as input."""
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id") or "",
                    "output": message.get("content") or "",
                }
            )
        elif role == "assistant":
            text = message.get("content")
            if text and listed:
                part = {"type": "output_text", "text": text, "annotations": []}
                items.append({"type": "message", "role": "assistant", "content": [part]})
            elif text:
                items.append({"type": "message", "role": "assistant", "content": text})
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id") or "",
                        "name": function.get("name") or "",
                        "arguments": function.get("arguments") or "",
                    }
                )
        else:
            content = _input_parts(message.get("content"))
            items.append({"type": "message", "role": role, "content": content})
    if listed:
        for item in items:
            item["status"] = "completed"
    return items


def listed_items(response_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored response's own input as GET …/input_items lists it, each item with an id of
    its own, the same on every read (it is made from the response's id and the item's place)."""
    tail = response_id.split("_", 1)[-1]
    return [
        {"id": f"{ITEM_PREFIX[item['type']]}_{tail}_{index}", **item}
        for index, item in enumerate(input_items(messages, listed=True))
    ]


# --- the request out, the answer back -----------------------------------------------------------


def upstream_body(
    raw: Mapping[str, Any], req: ResponsesIn, history: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a Responses server is sent: the client's body, unstored, with the conversation it
    continues written out before its own input."""
    body = {name: value for name, value in raw.items() if name not in NOT_SENT}
    body["store"] = False
    if history:
        own = req.input
        if isinstance(own, str):
            own = [{"type": "message", "role": "user", "content": own}]
        body["input"] = [*input_items(history), *own]
    return body


def as_asked(response: dict[str, Any], req: ResponsesIn, model: str) -> dict[str, Any]:
    """The server's response as the client asked for it: the catalog's model id, and its own
    `store` and `previous_response_id` (the server was sent neither)."""
    return {
        **response,
        "model": model,
        "store": req.stored,
        "previous_response_id": req.previous_response_id,
    }


def forwards(candidate: Candidate) -> bool:
    """Whether this candidate is sent Responses requests as they came: a local server (one
    reached through the OpenAI-compatible adapter) that serves /v1/responses."""
    deployment = candidate.deployment
    return CAPABILITY in deployment.capabilities and deployment.kind is DeploymentKind.LOCAL


def via(req: ResponsesIn, raw: bytes, history: list[dict[str, Any]]) -> Via:
    """The gateway's way to each candidate: forwarded where the deployment serves Responses on
    an OpenAI-compatible server, the deployment's own adapter (the chat translation) elsewhere.
    The body is made once, when the first forwarding candidate is tried."""
    made: dict[str, Any] | None = None

    def choose(candidate: Candidate, adapter: Adapter) -> Adapter:
        nonlocal made
        if not forwards(candidate) or not isinstance(adapter, OpenAICompatibleAdapter):
            # Hosted through litellm, or embedded: translated (see docs/apis/responses.md).
            return adapter
        if made is None:
            made = upstream_body(json.loads(raw), req, history)
        return ResponsesForwarder(adapter, made)

    return choose


class Events:
    """The stream renderer for /v1/responses: a forwarded stream's events pass through with the
    catalog's model id; a translated one goes to `translated`. The event that ends a forwarded
    stream is held until the ledger has the request and the response is stored, as the
    translation does, so a client that saw it can continue from it at once."""

    def __init__(self, translated: ResponseEvents, req: ResponsesIn) -> None:
        self.translated = translated
        self.req = req
        self.on_complete: Finish | None = translated.on_complete
        self.forwarded = False
        self.last: dict[str, Any] | None = None  # the latest response snapshot seen
        self.held: dict[str, Any] | None = None
        self.sequence = 0

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        found = chunk.get(EVENT)
        if found is None:
            return self.translated.chunk(chunk)
        self.forwarded = True
        self.sequence = int(found.get("sequence_number") or self.sequence) + 1
        if isinstance(found.get("response"), dict):
            found["response"] = self.last = as_asked(found["response"], self.req, chunk["model"])
        if found["type"] in ENDS:
            self.held = found
            return b""
        return event(found["type"], found)

    async def end(self, usage: Mapping[str, Any]) -> bytes:
        if not self.forwarded or self.held is None:
            return await self.translated.end(usage)
        if self.on_complete is not None:
            await self.on_complete(self.held["response"])
        return event(self.held["type"], self.held)

    def failed(self, exc: AdapterError) -> bytes:
        if not self.forwarded:
            return self.translated.failed(exc)
        response = {
            **(self.last or self.translated.response),
            "status": "failed",
            "error": {"code": "server_error", "message": exc.message},
        }
        fields = {"type": "response.failed", "sequence_number": self.sequence, "response": response}
        return event("response.failed", fields)


def answer(response: dict[str, Any], req: ResponsesIn, cached: bool) -> dict[str, Any]:
    """A forwarded (non-streamed) answer as the client gets it. A cached one gets an id of its
    own: it is another response, stored apart."""
    out = as_asked(response, req, response["model"])
    if cached:
        out["id"] = new_id("resp")
    return out
