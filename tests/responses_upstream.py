"""The fault upstream's POST /v1/responses: a server that speaks the Responses API itself, as
vLLM and OpenAI do, and keeps every body it got (GET /responses/recorded/<tag>) so a test can
see exactly what modelyard forwarded.

The request's `model` picks the behaviour: `responder` answers "echo: <the last user text>"
(streamed a word per output_text.delta when asked), echoing the request's `store` and
`previous_response_id` as a server does; `responder-down` answers 500; `responder-cut` drops
the connection after its first words."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

RECORDED: dict[str, list[Any]] = {}
INPUT_TOKENS = 7


def _last_user_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    for item in reversed(value):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if p.get("type") == "input_text")
    return ""


def _response(body: dict[str, Any], output: list[dict[str, Any]], status: str) -> dict[str, Any]:
    words = sum(len(part["text"].split()) for item in output for part in item["content"])
    return {
        "id": f"resp_up{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": body["model"],
        "output": output,
        "instructions": body.get("instructions"),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "store": body.get("store", True),
        "previous_response_id": body.get("previous_response_id"),
        "usage": None
        if status != "completed"
        else {
            "input_tokens": INPUT_TOKENS,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": words,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + words,
        },
    }


def _message(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "id": "msg_up1",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _event(sequence: list[int], name: str, fields: dict[str, Any]) -> bytes:
    data = {"type": name, "sequence_number": sequence[0], **fields}
    sequence[0] += 1
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _events(body: dict[str, Any], text: str, cut: bool) -> AsyncIterator[bytes]:
    n = [0]
    started = _response(body, [], "in_progress")
    yield _event(n, "response.created", {"response": started})
    yield _event(n, "response.in_progress", {"response": started})
    where = {"item_id": "msg_up1", "output_index": 0}
    yield _event(
        n, "response.output_item.added", {"output_index": 0, "item": _message("", "in_progress")}
    )
    part = {"type": "output_text", "text": "", "annotations": []}
    yield _event(n, "response.content_part.added", {**where, "content_index": 0, "part": part})
    words = text.split(" ")
    for index, word in enumerate(words):
        delta = word if index == 0 else " " + word
        yield _event(n, "response.output_text.delta", {**where, "content_index": 0, "delta": delta})
        if cut and index == 1:
            raise RuntimeError("connection cut on purpose")  # uvicorn drops the connection
    yield _event(n, "response.output_text.done", {**where, "content_index": 0, "text": text})
    part = {**part, "text": text}
    yield _event(n, "response.content_part.done", {**where, "content_index": 0, "part": part})
    item = _message(text)
    yield _event(n, "response.output_item.done", {"output_index": 0, "item": item})
    yield _event(
        n,
        "response.completed",
        {"response": {**started, **_response(body, [item], "completed"), "id": started["id"]}},
    )


async def responses(request: Request) -> Response:
    body = await request.json()
    RECORDED.setdefault(request.path_params.get("tag", ""), []).append(body)
    model = body.get("model")
    if model == "responder-down":
        error = {"error": {"message": "the server had an error", "type": "server_error"}}
        return JSONResponse(error, status_code=500)
    text = f"echo: {_last_user_text(body.get('input') or '')}"
    if body.get("stream"):
        events = _events(body, text, cut=model == "responder-cut")
        return StreamingResponse(events, media_type="text/event-stream")
    return JSONResponse(_response(body, [_message(text)], "completed"))


async def recorded(request: Request) -> JSONResponse:
    return JSONResponse(RECORDED.get(request.path_params["tag"], []))
