"""The canonical chat request and the answer helpers every adapter shares.

OpenAI's chat completions request is the one request inside modelyard: the router validates
it, decides on it and hands the very same object to the adapter, which forwards it or says by
name what it cannot honour. Nothing is copied into a smaller shape on the way, so nothing a
client sent can silently vanish.

Validation is written for the hot path: one flat message class (no union to try per message),
typed content parts only when content is a list, and JSON Schema checks of tool parameters and
response formats cached by their text (agents send the same tools on every turn).
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters import json_bytes

# --- limits a request is held to (OpenAI's where it publishes them) ------------------------------

MAX_N = 128
MAX_TOP_LOGPROBS = 20
MAX_TOOLS = 128
# An inline image or audio clip, base64 included (a whole body may hold 16 MB).
MAX_DATA_URL_BYTES = 8 * 1024 * 1024
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Capabilities a deployment may have; a request's `needs()` is a subset of these.
Capability = Literal[
    "tools",  # function tools, tool calls and tool results in the conversation
    "parallel_tools",  # several tool calls in one answer (parallel_tool_calls: true)
    "tool_choice",  # tool_choice "required" or a named function
    "json_mode",  # response_format json_object
    "json_schema",  # response_format json_schema (structured outputs)
    "vision",  # image_url content parts
    "audio",  # input_audio content parts
    "files",  # file content parts
    "logprobs",  # logprobs / top_logprobs
    "n",  # several choices in one answer
]
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)


# --- JSON Schema checks, cached by the schema's text ---------------------------------------------


def warm_schema_checks() -> None:
    """Import the JSON Schema checker ahead of the first request that needs it: the import
    builds an IRI grammar (rfc3987-syntax) and took 2-4 s here, which the first request with
    tools or a response schema would otherwise wait for. A server calls this from a thread
    once it is up, so start-up stays fast."""
    import jsonschema  # noqa: F401


@functools.lru_cache(maxsize=4096)
def _schema_problem(text: str) -> str | None:
    """Why this JSON Schema is not valid (None: it is)."""
    import jsonschema  # seconds once (see warm_schema_checks); not on start-up

    try:
        schema = json.loads(text)
        validator = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"not a valid JSON Schema: {exc.message}"
    return None


def _valid_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        problem = _schema_problem(json_bytes.canonical(value))
        if problem:
            raise ValueError(problem)
    return value


JsonSchema = Annotated[dict[str, Any], AfterValidator(_valid_schema)]


# --- message content parts -----------------------------------------------------------------------


class _Part(BaseModel):
    # Parts keep fields newer SDKs add; they are forwarded as sent.
    model_config = ConfigDict(extra="allow")


class TextPart(_Part):
    type: Literal["text"]
    text: str


def _image_url(url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    if url.startswith("data:"):
        if len(url) > MAX_DATA_URL_BYTES:
            raise ValueError(f"a data: URL may hold at most {MAX_DATA_URL_BYTES} bytes")
        head = url[5 : url.find(",")] if "," in url else ""
        if not head.startswith("image/") or not head.endswith(";base64"):
            raise ValueError("a data: URL must be data:image/<type>;base64,<data>")
        return url
    raise ValueError("an image URL must be http(s) or a data: URL")


class ImageURL(_Part):
    url: Annotated[str, AfterValidator(_image_url)]
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Part):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Part):
    data: str = Field(max_length=MAX_DATA_URL_BYTES)
    format: Literal["wav", "mp3"]


class AudioPart(_Part):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(_Part):
    type: Literal["file"]
    file: dict[str, Any]


class RefusalPart(_Part):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[
    TextPart | ImagePart | AudioPart | FilePart | RefusalPart, Field(discriminator="type")
]


# --- messages ------------------------------------------------------------------------------------


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64)
    arguments: str  # JSON text, as the model wrote it (not necessarily valid JSON)


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One turn. One flat class for every role (validating a union per message costs more);
    the rules that depend on the role are checked by the request."""

    model_config = ConfigDict(extra="allow")  # e.g. an assistant's `audio`: forwarded as sent

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=64)
    tool_calls: list[ToolCall] | None = None  # assistant
    refusal: str | None = None  # assistant
    tool_call_id: str | None = Field(default=None, max_length=200)  # tool

    def text(self) -> str:
        """The message's text: text parts joined (images and audio carry none)."""
        content = self.content
        if content is None or isinstance(content, str):
            return content or ""
        return "".join(p.text for p in content if isinstance(p, TextPart))


def _invalid(title: str, where: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """A validation error at a place inside the field being validated (a plain ValueError
    would name only the field), so the 400 names the exact param."""
    error = PydanticCustomError("invalid_request", message)
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=error, loc=where, input=value)]
    )


def _conversation_problem(messages: list[Message]) -> tuple[tuple[str | int, ...], str] | None:
    """Turn rules OpenAI enforces: a tool result answers an earlier tool call by its id; only
    an assistant's content may be null (when it calls tools or refuses)."""
    calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.role
        if role == "assistant":
            if m.tool_calls:
                calls.update(c.id for c in m.tool_calls)
        elif role == "tool":
            if m.tool_call_id is None:
                return (i, "tool_call_id"), "a tool message needs the tool_call_id it answers"
            if m.tool_call_id not in calls:
                return (i, "tool_call_id"), (
                    f"'{m.tool_call_id}' matches no tool call of an earlier assistant message"
                )
        elif m.content is None:
            return (i, "content"), f"a {role} message needs content"
        if m.tool_calls and role != "assistant":
            return (i, "tool_calls"), "only assistant messages carry tool calls"
    return None


# --- tools, tool choice, response format ---------------------------------------------------------


def _function_name(name: str) -> str:
    if not FUNCTION_NAME.match(name):
        raise ValueError("a function name is 1 to 64 letters, digits, underscores or dashes")
    return name


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: Annotated[str, AfterValidator(_function_name)]
    description: str | None = None
    parameters: JsonSchema | None = None
    strict: bool | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class TextFormat(BaseModel):
    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: Annotated[str, AfterValidator(_function_name)]
    description: str | None = None
    # `schema` would shadow BaseModel's own attribute; the wire name is kept by the alias.
    json_schema: JsonSchema | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


def _at_most_four(value: str | list[str] | None) -> str | list[str] | None:
    if isinstance(value, list) and len(value) > 4:
        raise ValueError("at most 4 stop sequences")
    return value


Stops = Annotated[str | list[str] | None, AfterValidator(_at_most_four)]


def _logit_bias(value: dict[str, int] | None) -> dict[str, int] | None:
    for token, bias in (value or {}).items():
        if not token.isdigit():
            raise ValueError(f"logit_bias keys are token ids; '{token}' is not one")
        if not -100 <= bias <= 100:
            raise ValueError(f"logit_bias values lie in [-100, 100]; {token} has {bias}")
    return value


# Fields the router reads itself; everything else set on a request is the model's business.
ROUTER_FIELDS = frozenset({"model", "stream", "route"})


class ChatRequest(BaseModel):
    """OpenAI's chat completions request, every field typed. Unknown fields (a newer SDK's)
    are kept and forwarded where the deployment takes them, refused by name where not.

    The router's `ChatCompletionIn` (router/core/requests.py) adds the `route` controls and makes
    `model` required; adapters accept either and read only the fields here."""

    model_config = ConfigDict(extra="allow")

    # The JSON this object was validated from, and the object's id then (see from_json).
    _source: dict[str, Any] | None = PrivateAttr(default=None)
    _source_of: int = PrivateAttr(default=0)

    model: str | None = Field(default=None, min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Sampling
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: Stops = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: Annotated[dict[str, int] | None, AfterValidator(_logit_bias)] = None
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    # Tools and structured output
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # Bookkeeping and newer parameters, forwarded where the deployment takes them
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = Field(default=None, max_length=64)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def _conversation(cls, messages: list[Message]) -> list[Message]:
        problem = _conversation_problem(messages)
        if problem:
            where, message = problem
            raise _invalid("messages", where, message, messages[int(where[0])].model_dump())
        return messages

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_need_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise ValueError("top_logprobs needs logprobs: true")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _choice_names_a_tool(
        cls, value: ToolChoice | None, info: ValidationInfo
    ) -> ToolChoice | None:
        if isinstance(value, NamedToolChoice):
            names = {t.function.name for t in info.data.get("tools") or []}
            if value.function.name not in names:
                message = f"names '{value.function.name}', which is not among the tools"
                raise _invalid("tool_choice", ("function", "name"), message, value.function.name)
        elif value == "required" and not info.data.get("tools"):
            raise ValueError("'required' needs tools")
        return value

    # --- what the router reads -------------------------------------------------------------------

    def needs(self) -> set[str]:
        """The deployment capabilities this request cannot be answered without."""
        needs: set[str] = set()
        uses_tools = bool(self.tools) and self.tool_choice != "none"
        if uses_tools:
            needs.add("tools")
            if self.parallel_tool_calls:
                needs.add("parallel_tools")
            if self.tool_choice is not None and self.tool_choice != "auto":
                needs.add("tool_choice")
        fmt = self.response_format
        if fmt is not None and fmt.type != "text":
            needs.add("json_schema" if fmt.type == "json_schema" else "json_mode")
        if self.logprobs:
            needs.add("logprobs")
        if self.n is not None and self.n > 1:
            needs.add("n")
        for m in self.messages:
            if m.tool_calls or m.role == "tool":
                needs.add("tools")  # a model without a tool format cannot read these turns
            content = m.content
            if isinstance(content, list):
                for part in content:
                    kind = part.type
                    if kind == "image_url":
                        needs.add("vision")
                    elif kind == "input_audio":
                        needs.add("audio")
                    elif kind == "file":
                        needs.add("files")
        return needs

    def stops(self) -> list[str]:
        stop = self.stop
        return [stop] if isinstance(stop, str) else list(stop or [])

    def completion_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def prompt_text(self) -> str:
        """Every text the model will read, for task classification and token estimates."""
        # Written out rather than built on texts(): this runs on every request.
        parts: list[str] = []
        for m in self.messages:
            content = m.content
            if isinstance(content, str):
                parts.append(content)
            elif content:
                parts.extend(p.text for p in content if isinstance(p, TextPart))
            if m.tool_calls:
                parts.extend(c.function.arguments for c in m.tool_calls)
        return "\n".join(parts)

    def texts(self) -> Iterator[tuple[str, str]]:
        """Every text the request carries, with where it sits (`messages.2.content.0.text`):
        message texts and text parts, refusals, tool-call arguments, tool results. For the
        privacy scanner and the token estimate; tool definitions are in `tool_texts()`."""
        for i, m in enumerate(self.messages):
            content = m.content
            if isinstance(content, str):
                yield f"messages.{i}.content", content
            elif content is not None:
                for j, part in enumerate(content):
                    if isinstance(part, TextPart):
                        yield f"messages.{i}.content.{j}.text", part.text
                    elif isinstance(part, RefusalPart):
                        yield f"messages.{i}.content.{j}.refusal", part.refusal
            if m.refusal:
                yield f"messages.{i}.refusal", m.refusal
            for k, call in enumerate(m.tool_calls or ()):
                yield f"messages.{i}.tool_calls.{k}.function.arguments", call.function.arguments

    def tool_texts(self) -> Iterator[tuple[str, str]]:
        """Texts in the tool definitions and the response schema (descriptions, enums…), as
        JSON: what the model reads besides the conversation."""
        source = self._source if self._source_of == id(self) else None
        if source is not None:  # the client's JSON, cheaper to write out than the models
            for i, tool in enumerate(source.get("tools") or ()):
                yield f"tools.{i}.function", json_bytes.dumps(tool.get("function")).decode()
            fmt_sent = source.get("response_format") or {}
            if fmt_sent.get("type") == "json_schema":
                spec_sent = json_bytes.dumps(fmt_sent.get("json_schema")).decode()
                yield "response_format.json_schema", spec_sent
            return
        for i, tool in enumerate(self.tools or ()):
            yield f"tools.{i}.function", tool.function.model_dump_json(exclude_none=True)
        fmt = self.response_format
        if isinstance(fmt, JsonSchemaFormat):
            spec = fmt.json_schema.model_dump_json(by_alias=True, exclude_none=True)
            yield "response_format.json_schema", spec

    def extra_prompt_tokens(self) -> int:
        """Tokens the conversation's text does not show: tool schemas and images."""
        tokens = sum(len(text) for _, text in self.tool_texts()) // 4 if self.tools else 0
        for m in self.messages:
            if isinstance(m.content, list):
                tokens += sum(_image_tokens(p) for p in m.content if isinstance(p, ImagePart))
        return tokens

    def set_fields(self) -> set[str]:
        """The parameters the client set (router-only fields aside), extras included."""
        given = set(self.model_fields_set)
        if self.model_extra:
            given.update(self.model_extra)
        return given - ROUTER_FIELDS - {"messages"}

    @classmethod
    def from_json(cls, raw: bytes) -> Self:
        """The request validated from the client's JSON, which it keeps to forward: a body
        with ten tools took longer to dump back out of the models than to validate."""
        request = cls.model_validate_json(raw)
        source = orjson.loads(raw)
        if isinstance(source, dict):
            request._source = source
            request._source_of = id(request)
        return request

    def openai_body(self, model: str, *, stream: bool) -> dict[str, Any]:
        """The request as an OpenAI-compatible server expects it: everything the client sent,
        unknown fields included, with the deployment's model name and our stream settings."""
        # The client's own JSON where this very object was validated from it (a copy, e.g.
        # the privacy rule's redacted one, has another id and is dumped from its fields).
        source = self._source if self._source_of == id(self) else None
        if source is None:
            source = self.model_dump(
                mode="json", by_alias=True, exclude_unset=True, exclude=_NOT_FORWARDED
            )
        # A top-level null means "not given" in OpenAI's API; nested nulls (an assistant's
        # content beside its tool calls) are kept as sent.
        body = {k: v for k, v in source.items() if v is not None and k not in _NOT_FORWARDED}
        body["model"] = model
        body["stream"] = stream
        if stream:
            options = body.get("stream_options") or {}
            body["stream_options"] = {**options, "include_usage": True}
        else:
            body.pop("stream_options", None)
        return body


_NOT_FORWARDED = {"route"}

# The request field that makes each capability needed: a refusal names it in `param`.
NEED_PARAM = {
    "tools": "tools",
    "parallel_tools": "parallel_tool_calls",
    "tool_choice": "tool_choice",
    "json_mode": "response_format",
    "json_schema": "response_format",
    "vision": "messages",
    "audio": "messages",
    "files": "messages",
    "logprobs": "logprobs",
    "n": "n",
}


def _neutral(name: str, value: Any) -> bool:
    """A value that asks nothing of the model (n=1, logprobs=false…): any deployment honours it."""
    if value is None:
        return True
    if name == "n":
        return bool(value == 1)
    if name in ("logprobs", "parallel_tool_calls", "store"):
        return value is False
    if name in ("tools", "logit_bias", "metadata", "stop"):
        return not value
    if name == "response_format":
        return getattr(value, "type", None) == "text"
    return name == "tool_choice" and value in ("none", "auto")


def unsupported(request: ChatRequest, takes: frozenset[str]) -> str | None:
    """The first parameter the request sets, to a value that matters, that is not in `takes`."""
    extras = request.model_extra or {}
    for name in sorted(request.set_fields()):
        if name in takes:
            continue
        value = extras[name] if name in extras else getattr(request, name, None)
        if not _neutral(name, value):
            return name
    return None


def _image_tokens(part: ImagePart) -> int:
    # OpenAI's figures: 85 tokens at low detail; a 1024-px square at high detail is 765.
    return 85 if part.image_url.detail == "low" else 765


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
