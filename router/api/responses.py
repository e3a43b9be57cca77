"""The OpenAI Responses API (what Codex CLI and the OpenAI Agents SDK speak) as a translation
over chat completions: a request becomes the canonical chat request, a chat answer becomes a
`response` object, and a stream of chat.completion.chunk dicts becomes the Responses event
sequence (response.created … response.completed), each event numbered (responses_events.py).

Refused by name, never ignored: hosted tools (web_search, file_search, computer use, code
interpreter, MCP…), reasoning summaries, background mode, stored prompts, conversations,
item references, input files by id, logprobs. `reasoning.effort` becomes chat's
`reasoning_effort`, which a deployment takes or refuses by name."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router.api.translation import canonical, new_id, refuse, refuse_extras
from router.core.requests import ChatCompletionIn, RouteControls

API = "Responses API"

# Other APIs' parameters, with what to send here instead.
FOREIGN = {
    "messages": "it takes `input` (a string or a list of items) and `instructions`",
    "max_tokens": "use `max_output_tokens`",
    "max_completion_tokens": "use `max_output_tokens`",
    "response_format": "use `text.format`",
    "stop": "it has no stop sequences",
    "stop_sequences": "it has no stop sequences",
    "system": "use `instructions`",
    "n": "it answers one output per request",
    "top_k": "it has no top_k",
    "seed": "it has no seed",
    "functions": "use `tools` with type 'function'",
    "function_call": "use `tool_choice`",
    "frequency_penalty": "it has no frequency_penalty",
    "presence_penalty": "it has no presence_penalty",
    "logit_bias": "it has no logit_bias",
    "logprobs": "it has no logprobs",
    "thinking": "use `reasoning`",
    "reasoning_effort": "use `reasoning.effort`",
}
# Tools OpenAI runs on its own servers: here only the model runs, so there is nobody to
# search the web, read a vector store or drive a computer.
HOSTED_HINT = "hosted tools run on OpenAI's servers; here only function tools you run exist"
INCLUDABLE = {"reasoning.encrypted_content"}  # no reasoning items are made: nothing to add


class JsonSchemaFormatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["json_schema"]
    name: str = Field(min_length=1, max_length=64)
    json_schema: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class PlainFormatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object"]


class TextConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: JsonSchemaFormatIn | PlainFormatIn | None = Field(default=None, discriminator="type")
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesIn(BaseModel):
    """POST /v1/responses. Fields typed here are honoured or refused by name; any other
    field is refused (another API's, named with what to send instead)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    input: str | list[dict[str, Any]] = Field(max_length=10_000)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    text: TextConfigIn | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    reasoning: ReasoningIn | None = None
    parallel_tool_calls: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = Field(default=None, min_length=1, max_length=100)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    user: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    include: list[str] | None = None
    truncation: Literal["disabled", "auto"] | None = None
    service_tier: str | None = None
    background: bool | None = None
    max_tool_calls: int | None = Field(default=None, ge=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    prompt: dict[str, Any] | None = None
    conversation: str | dict[str, Any] | None = None
    route: RouteControls | None = None

    @property
    def stored(self) -> bool:
        return self.store is not False  # OpenAI's default: stored


# --- request in -------------------------------------------------------------------------------


def check(req: ResponsesIn) -> None:
    """Refuse, by name, what cannot be honoured, before anything is routed."""
    refuse_extras(req.model_extra, FOREIGN, API)
    if req.background:
        refuse("background responses are not supported: send the request and wait", "background")
    if req.prompt is not None:
        refuse("stored prompts are not available here: send `instructions` and `input`", "prompt")
    if req.conversation is not None:
        refuse("conversations are not available here: use `previous_response_id`", "conversation")
    if req.truncation == "auto":
        refuse("truncation 'auto' is not supported: the input is never cut", "truncation")
    if req.top_logprobs:
        refuse("top_logprobs is not available through the Responses API here", "top_logprobs")
    for name in req.include or ():
        if name not in INCLUDABLE:
            refuse(f"include '{name}' is not available here", "include")
    if req.service_tier not in (None, "auto", "default"):
        refuse(f"service_tier '{req.service_tier}' is not available here", "service_tier")
    if req.reasoning is not None and (req.reasoning.summary or req.reasoning.generate_summary):
        refuse(
            "reasoning summaries are not available: chat-completions deployments return none",
            "reasoning.summary",
        )


def _part(part: Any, where: str) -> dict[str, Any]:
    """One input content part as a chat content part."""
    if not isinstance(part, dict):
        refuse(f"{where} must be an object", where)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        if not isinstance(part.get("text"), str):
            refuse(f"{where}.text must be a string", f"{where}.text")
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        if part.get("file_id"):
            refuse(
                f"{where}: images by file_id are not available here: send image_url",
                f"{where}.file_id",
            )
        if not part.get("image_url"):
            refuse(f"{where} needs image_url", f"{where}.image_url")
        image: dict[str, Any] = {"url": part["image_url"]}
        detail = part.get("detail")
        if detail not in (None, "auto", "low", "high"):
            refuse(f"image detail '{detail}' is not available here", f"{where}.detail")
        if detail is not None:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not part.get("file_data"):
            refuse(f"{where}: files by id or URL are not available here: send file_data", where)
        file = {k: part[k] for k in ("file_data", "filename") if part.get(k) is not None}
        return {"type": "file", "file": file}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    refuse(f"{where}: content type '{kind}' is not available here", f"{where}.type")


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        refuse(f"{where} must be a string or a list of content parts", where)
    return [_part(p, f"{where}[{j}]") for j, p in enumerate(content)]


def _text_only(content: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    if any(p["type"] != "text" for p in content):
        refuse(f"{where}: only text can be sent here", where)
    return "".join(p["text"] for p in content)


def _required(item: Mapping[str, Any], name: str, where: str) -> Any:
    value = item.get(name)
    if value is None or value == "":
        refuse(f"{where}.{name} is required", f"{where}.{name}")
    return value


def input_messages(items: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`input` as chat messages. Function calls that follow an assistant message (or each
    other) join it as its tool calls, as chat completions carry one turn."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                refuse(f"{where}.role must be user, system, developer or assistant", where)
            content = _content(item.get("content"), f"{where}.content")
            if role == "assistant":
                out.append({"role": "assistant", "content": _text_only(content, where)})
            else:
                out.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": _required(item, "call_id", where),
                "type": "function",
                "function": {
                    "name": _required(item, "name", where),
                    "arguments": item.get("arguments") or "",
                },
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = _content(item.get("output", ""), f"{where}.output")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": _required(item, "call_id", where),
                    "content": _text_only(output, f"{where}.output"),
                }
            )
        elif kind == "item_reference":
            refuse(
                f"{where}: item references are not available here: send the items", f"{where}.type"
            )
        elif kind == "reasoning":
            refuse(
                f"{where}: reasoning items are not available here (none are made)", f"{where}.type"
            )
        else:
            refuse(f"{where}: item type '{kind}' is not available here", f"{where}.type")
    return out


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type")
        if kind != "function":
            refuse(f"tools[{i}]: the tool '{kind}' is not available ({HOSTED_HINT})", f"tools[{i}]")
        function = {"name": _required(tool, "name", f"tools[{i}]")}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            refuse(f"tool_choice '{choice}' is not one of none, auto, required", "tool_choice")
        return choice
    kind = choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": _required(choice, "name", "tool_choice")}}
    refuse(f"tool_choice '{kind}' is not available ({HOSTED_HINT})", "tool_choice")


def to_chat(
    req: ResponsesIn, history: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The canonical chat request (wire format), and the messages of it that are this
    request's own input (after instructions and the stored conversation)."""
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    messages.extend(history)
    own = input_messages(req.input)
    messages.extend(own)
    chat: dict[str, Any] = {"model": req.model, "messages": messages, "stream": req.stream}
    if req.tools:
        chat["tools"] = _tools(req.tools)
    if req.tool_choice is not None:
        chat["tool_choice"] = _tool_choice(req.tool_choice)
    if req.parallel_tool_calls is not None and req.tools:
        chat["parallel_tool_calls"] = req.parallel_tool_calls
    fmt = req.text.format if req.text else None
    if isinstance(fmt, JsonSchemaFormatIn):
        spec = fmt.model_dump(by_alias=True, exclude_none=True, exclude={"type"})
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif fmt is not None and fmt.type == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if req.text is not None and req.text.verbosity is not None:
        chat["verbosity"] = req.text.verbosity
    if req.reasoning is not None and req.reasoning.effort is not None:
        chat["reasoning_effort"] = req.reasoning.effort
    for mine, theirs in (
        ("max_output_tokens", "max_completion_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
    ):
        value = getattr(req, mine)
        if value is not None:
            chat[theirs] = value
    if req.route is not None:
        chat["route"] = req.route.model_dump(exclude_none=True)
    return chat, own


def to_canonical(
    req: ResponsesIn, history: list[dict[str, Any]]
) -> tuple[ChatCompletionIn, list[dict[str, Any]]]:
    chat, own = to_chat(req, history)
    return canonical(chat, API), own


# --- answer out -------------------------------------------------------------------------------


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def output_items(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chat answer's message as Responses output items: a message, then function calls."""
    items: list[dict[str, Any]] = []
    text, refusal, calls = message.get("content"), message.get("refusal"), message.get("tool_calls")
    if text or refusal or not calls:
        content = [output_text(text or "")] if text or not refusal else []
        if refusal:
            content.append({"type": "refusal", "refusal": refusal})
        items.append(
            {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        )
    for call in calls or ():
        function = call.get("function") or {}
        items.append(
            {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "completed",
                "call_id": call.get("id") or new_id("call"),
                "name": function.get("name") or "",
                "arguments": function.get("arguments") or "",
            }
        )
    return items


def as_chat_message(output: list[dict[str, Any]]) -> dict[str, Any]:
    """Output items back as the one assistant chat message they came from (for the stored
    conversation a later `previous_response_id` continues)."""
    texts = [
        part.get("text") or part.get("refusal") or ""
        for item in output
        if item["type"] == "message"
        for part in item["content"]
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    calls = [
        {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]},
        }
        for item in output
        if item["type"] == "function_call"
    ]
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def usage_of(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    prompt = int((usage or {}).get("prompt_tokens") or 0)
    completion = int((usage or {}).get("completion_tokens") or 0)
    cached = int(((usage or {}).get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int(
        ((usage or {}).get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    )
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def skeleton(req: ResponsesIn, response_id: str) -> dict[str, Any]:
    """The response object before any output: the request's settings as OpenAI echoes them."""
    text = req.text.model_dump(by_alias=True, exclude_none=True) if req.text else {}
    text.setdefault("format", {"type": "text"})
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": req.model,
        "output": [],
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id,
        "reasoning": {
            "effort": req.reasoning.effort if req.reasoning else None,
            "summary": None,
        },
        "service_tier": "default",
        "store": req.stored,
        "temperature": req.temperature,
        "text": text,
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": req.tools or [],
        "top_logprobs": 0,
        "top_p": req.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": req.user,
        "safety_identifier": req.safety_identifier,
        "prompt_cache_key": req.prompt_cache_key,
        "metadata": req.metadata or {},
    }


def finished(
    response: dict[str, Any],
    output: list[dict[str, Any]],
    finish_reason: str | None,
    usage: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The response once the answer is in: output, status and usage."""
    response["output"] = output
    response["usage"] = usage_of(usage)
    response["completed_at"] = int(time.time())
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    return response


def from_chat(answer: Mapping[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    choice = (answer.get("choices") or [{}])[0]
    response["model"] = answer.get("model") or response["model"]
    items = output_items(choice.get("message") or {})
    return finished(response, items, choice.get("finish_reason"), answer.get("usage"))
