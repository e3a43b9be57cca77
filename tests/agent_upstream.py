"""The fault upstream's `agent` model: answers as a hosted model would to tools, structured
output, several choices and logprobs, deterministically, and keeps every request it got so a
test can see exactly what modelyard forwarded (GET /recorded; DELETE /recorded clears).

- tools offered (tool_choice not "none") and the last turn is not a tool result: one tool call
  per tool (only the first when parallel_tool_calls is false; the named one for a named
  tool_choice), arguments made from each tool's JSON Schema, finish_reason "tool_calls";
- response_format json_schema: JSON valid under the schema; json_object: a JSON object;
- otherwise the last turn's text, echoed ("result: …" after a tool result);
- `n` choices, `logprobs` (with `top_logprobs` alternatives) per word, usage with cached and
  reasoning token details; streamed in OpenAI's chunk shapes, tool-call deltas included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

RECORDED: list[dict[str, Any]] = []


async def recorded(request: Request) -> JSONResponse:
    if request.method == "DELETE":
        RECORDED.clear()
    return JSONResponse(RECORDED)


def instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A value valid under a (simple) JSON Schema: what a model in strict mode would write."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return instance(schema[key][0], defs)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [instance(schema.get("items", {"type": "string"}), defs)]
    return {"string": "text", "integer": 7, "number": 1.5, "boolean": True, "null": None}[kind]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content or ""


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    last = body["messages"][-1]
    if not tools or choice == "none" or last.get("role") == "tool":
        return []
    if isinstance(choice, dict):
        tools = [t for t in tools if t["function"]["name"] == choice["function"]["name"]]
    if body.get("parallel_tool_calls") is False:
        tools = tools[:1]
    return [
        {
            "id": f"call_{i}_{tool['function']['name']}",
            "type": "function",
            "function": {
                "name": tool["function"]["name"],
                "arguments": json.dumps(instance(tool["function"].get("parameters") or {})),
            },
        }
        for i, tool in enumerate(tools)
    ]


def _content(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    last = body["messages"][-1]
    if fmt.get("type") == "json_schema":
        return json.dumps(instance(fmt["json_schema"].get("schema") or {}))
    if fmt.get("type") == "json_object":
        return json.dumps({"echo": _text(last)})
    if last.get("role") == "tool":
        return f"result: {_text(last)}"
    return f"echo: {_text(last)}"


def _logprobs(text: str, top: int) -> dict[str, Any]:
    tokens = [w + " " for w in text.split()] or [""]
    return {
        "content": [
            {
                "token": token,
                "logprob": -0.25 * (i + 1),
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": f"{token}#{k}", "logprob": -1.0 - k, "bytes": None}
                    for k in range(top)
                ],
            }
            for i, token in enumerate(tokens)
        ],
        "refusal": None,
    }


def _usage(body: dict[str, Any], completion: int) -> dict[str, Any]:
    prompt = sum(len(_text(m).split()) for m in body["messages"]) + 3
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
    }


def answer(body: dict[str, Any], headers: dict[str, str]) -> Response:
    RECORDED.append({"body": body, "authorization": headers.get("authorization")})
    del RECORDED[:-50]
    calls = _tool_calls(body)
    text = None if calls else _content(body)
    n = int(body.get("n") or 1)
    want_logprobs = bool(body.get("logprobs"))
    top = int(body.get("top_logprobs") or 0)
    if body.get("stream"):
        events = _stream(body, calls, text, n, want_logprobs, top)
        return StreamingResponse(events, media_type="text/event-stream")
    choices = []
    for i in range(n):
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": i,
                "message": message,
                "logprobs": _logprobs(text or "", top) if want_logprobs else None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        )
    completion = len((text or json.dumps(calls)).split()) * n
    return JSONResponse(
        {
            "id": "chatcmpl-agent",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": choices,
            "usage": _usage(body, completion),
            "system_fingerprint": "fp_agent",
        }
    )


def _chunk(body: dict[str, Any], choices: list[dict[str, Any]], **extra: Any) -> bytes:
    data = {
        "id": "chatcmpl-agent",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(data)}\n\n".encode()


def _stream(
    body: dict[str, Any],
    calls: list[dict[str, Any]],
    text: str | None,
    n: int,
    want_logprobs: bool,
    top: int,
) -> Iterator[bytes]:
    """OpenAI's order: per choice a role delta; tool calls as index, id and name first, then
    the arguments in fragments; text word by word (with its logprobs); a finish chunk; then
    the usage chunk when asked for."""
    for i in range(n):
        yield _chunk(
            body,
            [
                {
                    "index": i,
                    "delta": {"role": "assistant", "content": None if calls else ""},
                    "finish_reason": None,
                }
            ],
        )
        for k, call in enumerate(calls):
            head = {"index": k, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            yield _chunk(
                body, [{"index": i, "delta": {"tool_calls": [head]}, "finish_reason": None}]
            )
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            for fragment in (arguments[:half], arguments[half:]):
                piece = {"index": k, "function": {"arguments": fragment}}
                yield _chunk(
                    body, [{"index": i, "delta": {"tool_calls": [piece]}, "finish_reason": None}]
                )
        for word in (text or "").split():
            choice: dict[str, Any] = {
                "index": i,
                "delta": {"content": word + " "},
                "finish_reason": None,
            }
            if want_logprobs:
                choice["logprobs"] = _logprobs(word, top)
            yield _chunk(body, [choice])
        finish = "tool_calls" if calls else "stop"
        yield _chunk(body, [{"index": i, "delta": {}, "finish_reason": finish}])
    if (body.get("stream_options") or {}).get("include_usage"):
        completion = len((text or json.dumps(calls)).split()) * n
        yield _chunk(body, [], usage=_usage(body, completion))
    yield b"data: [DONE]\n\n"
