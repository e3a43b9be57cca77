"""The Anthropic Messages API (what Claude Code and the anthropic SDK speak) as a translation
over chat completions: a request becomes the canonical chat request, a chat answer becomes a
`message`, and a stream of chat.completion.chunk dicts becomes Anthropic's events
(message_start, ping, content_block_start/delta/stop, message_delta, message_stop).

Refused by name, never ignored: Anthropic's own tools (web search, code execution, bash, text
editor, computer use…), extended thinking, documents, search results, images inside tool
results, and more than 4 stop sequences. `top_k` is passed on as chat's `top_k`, which a
deployment takes or refuses by name. `cache_control` marks are accepted and have no effect:
the prompt cache is the provider's, and deployments here are reached through chat."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.errors import AdapterError
from router.api.translation import canonical, event, new_id, refuse, refuse_extras, tool_input
from router.core.requests import ChatCompletionIn, RouteControls

API = "Messages API"
MAX_STOPS = 4  # what chat completions take

FOREIGN = {
    "input": "it takes `messages` (and `system`)",
    "instructions": "use `system`",
    "max_output_tokens": "use `max_tokens`",
    "max_completion_tokens": "use `max_tokens`",
    "response_format": "it has no response_format",
    "text": "it has no text settings",
    "stop": "use `stop_sequences`",
    "n": "it answers one message per request",
    "seed": "it has no seed",
    "functions": "use `tools` with `input_schema`",
    "function_call": "use `tool_choice`",
    "frequency_penalty": "it has no frequency_penalty",
    "presence_penalty": "it has no presence_penalty",
    "logit_bias": "it has no logit_bias",
    "logprobs": "it has no logprobs",
    "user": "use `metadata.user_id`",
    "reasoning": "use `thinking`",
    "reasoning_effort": "use `thinking`",
    "previous_response_id": "it keeps no conversations: send the whole `messages`",
    "store": "it keeps no conversations",
    "parallel_tool_calls": "use `tool_choice.disable_parallel_tool_use`",
}
BUILT_IN_HINT = "Anthropic's own tools run on Anthropic's side; here only tools with input_schema"
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Where a chat server says which stop string ended its answer: vLLM's `stop_reason` (a token id
# when a stop token did), SGLang's `matched_stop`. OpenAI's chat completions and llama.cpp's
# servers do not say: "stop" there may be the end of the turn or a stop sequence, and the
# sequence itself is cut from the text, so it is reported as the end of the turn.
MATCHED_STOP = ("stop_reason", "matched_stop")


def stop_of(choice: Mapping[str, Any], stops: list[str] | None) -> tuple[str, str | None]:
    """Anthropic's `stop_reason` and `stop_sequence` for a chat choice that finished: a stop
    sequence only when the server named one of the request's own."""
    finish = choice.get("finish_reason") or "stop"
    if finish == "stop" and stops:
        for field in MATCHED_STOP:
            matched = choice.get(field)
            if isinstance(matched, str) and matched in stops:
                return "stop_sequence", matched
    return STOP_REASONS.get(finish, "end_turn"), None


class MessagesIn(BaseModel):
    """POST /v1/messages. Fields typed here are honoured or refused by name; any other field
    is refused (another API's, named with what to send instead)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    max_tokens: int = Field(ge=1, le=1_000_000)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    stream: bool = False
    thinking: dict[str, Any] | None = None
    service_tier: str | None = None
    route: RouteControls | None = None


class CountTokensIn(BaseModel):
    """POST /v1/messages/count_tokens: a Messages request without the answer's settings."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None

    def as_messages(self) -> MessagesIn:
        fields = self.model_dump(exclude_unset=True)
        return MessagesIn.model_validate({**fields, "max_tokens": 1})


# --- request in -------------------------------------------------------------------------------


def check(req: MessagesIn) -> None:
    refuse_extras(req.model_extra, FOREIGN, API)
    if len(req.stop_sequences or ()) > MAX_STOPS:
        refuse(f"at most {MAX_STOPS} stop_sequences can be honoured here", "stop_sequences")
    thinking = (req.thinking or {}).get("type")
    if thinking not in (None, "disabled"):
        refuse(
            "extended thinking is not available: deployments here answer through chat "
            "completions, which have no thinking budget",
            "thinking",
        )
    if req.service_tier not in (None, "auto", "standard_only"):
        refuse(f"service_tier '{req.service_tier}' is not available here", "service_tier")
    for name in req.metadata or {}:
        if name != "user_id":
            refuse(f"metadata.{name} is not a Messages API field (only user_id is)", "metadata")


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        refuse(f"{where}.text must be a string", f"{where}.text")
    return str(text)


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        refuse(f"{where}.source must be an object", f"{where}.source")
    kind = source.get("type")
    url: Any = None
    if kind == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif kind == "url":
        url = source.get("url")
    else:
        refuse(f"{where}.source: image source '{kind}' is not available here", f"{where}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    content = block.get("content", "")
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                refuse(
                    f"{where}.content[{j}]: only text can be a tool result here",
                    f"{where}.content",
                )
            texts.append(_text(part, f"{where}.content[{j}]"))
        content = "".join(texts)
    elif not isinstance(content, str):
        refuse(f"{where}.content must be a string or text blocks", f"{where}.content")
    if block.get("is_error"):
        content = f"[tool error] {content}"  # chat has no error flag on a tool result
    tool_use_id = block.get("tool_use_id")
    if not tool_use_id:
        refuse(f"{where}.tool_use_id is required", f"{where}.tool_use_id")
    return {"role": "tool", "tool_call_id": tool_use_id, "content": content}


def _user(content: list[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results first (chat wants them right after the assistant's
    calls), then what the user wrote."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, at)})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_result":
            results.append(_tool_result(block, at))
        else:
            refuse(f"{at}: content block '{kind}' is not available here", f"{at}.type")
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            if not block.get("id") or not block.get("name"):
                refuse(f"{at}: a tool_use block needs id and name", at)
            arguments = block.get("input")
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": _json(arguments if arguments is not None else {}),
                    },
                }
            )
        else:
            refuse(f"{at}: content block '{kind}' is not available here", f"{at}.type")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def chat_messages(req: MessagesIn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = req.system
    if isinstance(system, list):
        system = "\n\n".join(_text(b, f"system[{i}]") for i, b in enumerate(system))
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(req.messages):
        where = f"messages[{i}]"
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            refuse(
                f"{where}.role must be user or assistant (system text goes in `system`)",
                f"{where}.role",
            )
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif not isinstance(content, list):
            refuse(f"{where}.content must be a string or content blocks", f"{where}.content")
        elif role == "user":
            out.extend(_user(content, where))
        else:
            out.append(_assistant(content, where))
    return out


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type")
        if kind not in (None, "custom"):
            refuse(f"tools[{i}]: the tool type '{kind}' is not available ({BUILT_IN_HINT})")
        if not tool.get("name") or tool.get("input_schema") is None:
            refuse(f"tools[{i}] needs name and input_schema", f"tools[{i}]")
        function = {"name": tool["name"], "parameters": tool["input_schema"]}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Mapping[str, Any], chat: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool":
        if not choice.get("name"):
            refuse("tool_choice of type 'tool' needs the tool's name", "tool_choice.name")
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        refuse(f"tool_choice type '{kind}' is not one of auto, any, tool, none", "tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        chat["parallel_tool_calls"] = False


def to_chat(req: MessagesIn) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "model": req.model,
        "messages": chat_messages(req),
        "max_tokens": req.max_tokens,
        "stream": req.stream,
    }
    if req.tools:
        chat["tools"] = _tools(req.tools)
    if req.tool_choice is not None:
        _tool_choice(req.tool_choice, chat)
    if req.stop_sequences:
        chat["stop"] = req.stop_sequences
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(req, name)
        if value is not None:
            chat[name] = value
    user = (req.metadata or {}).get("user_id")
    if user is not None:
        chat["user"] = str(user)
    if req.route is not None:
        chat["route"] = req.route.model_dump(exclude_none=True)
    return chat


def to_canonical(req: MessagesIn) -> ChatCompletionIn:
    return canonical(to_chat(req), API)


# --- answer out -------------------------------------------------------------------------------


def usage_of(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {
        "input_tokens": int(usage.get("prompt_tokens") or 0) - cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def from_chat(answer: Mapping[str, Any], stops: list[str] | None = None) -> dict[str, Any]:
    choice = (answer.get("choices") or [{}])[0]
    reason, sequence = stop_of(choice, stops)
    message = choice.get("message") or {}
    blocks: list[dict[str, Any]] = []
    text = message.get("content") or message.get("refusal")
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or new_id("toolu"),
                "name": function.get("name") or "",
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": answer.get("model"),
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(answer.get("usage")),
    }


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


# --- stream out -------------------------------------------------------------------------------


class MessageEvents:
    """chat.completion.chunk dicts as Anthropic's stream: message_start and a ping, then one
    content block at a time (text grows by text_delta, a tool call by input_json_delta),
    message_delta with the stop reason and usage, message_stop."""

    def __init__(self, stops: list[str] | None = None) -> None:
        self.stops = stops
        self.started = False
        self.blocks = 0  # content blocks opened so far
        self.open: str | None = None  # "text", or the chat index of the tool call streaming
        self.calls: set[int] = set()
        self.finished: Mapping[str, Any] = {}  # the choice that carried the finish reason

    def _start(self, model: str | None) -> bytes:
        self.started = True
        message: dict[str, Any] = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message}) + event(
            "ping", {"type": "ping"}
        )

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self.blocks - 1})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.open = kind
        self.blocks += 1
        return out + event(
            "content_block_start",
            {"type": "content_block_start", "index": self.blocks - 1, "content_block": block},
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self.blocks - 1, "delta": delta},
        )

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self.started else self._start(chunk.get("model"))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self.open != "text":
                    out += self._open("text", {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": text})
            for call in delta.get("tool_calls") or ():
                index = int(call.get("index") or 0)
                function = call.get("function") or {}
                if index not in self.calls:
                    self.calls.add(index)
                    block: dict[str, Any] = {
                        "type": "tool_use",
                        "id": call.get("id") or new_id("toolu"),
                        "name": function.get("name") or "",
                        "input": {},
                    }
                    out += self._open(str(index), block)
                piece = function.get("arguments")
                if piece and self.open == str(index):
                    out += self._delta({"type": "input_json_delta", "partial_json": piece})
            if choice.get("finish_reason"):
                self.finished = choice
        return out

    async def end(self, usage: Mapping[str, Any]) -> bytes:
        out = (b"" if self.started else self._start(None)) + self._close()
        reason, sequence = stop_of(self.finished, self.stops)
        counts = usage_of(usage)
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": counts,
        }
        return out + event("message_delta", delta) + event("message_stop", {"type": "message_stop"})

    def failed(self, exc: AdapterError) -> bytes:
        out = b"" if self.started else self._start(None)
        return out + event("error", error_body("api_error", exc.message))
