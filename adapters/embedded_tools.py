"""Tool calls from the embedded model: the prompt that lists the tools, a grammar that lets
the model write only a message or well-formed calls, and the reader that turns its text into
OpenAI's `tool_calls` (whole, or as stream deltas).

The answer format is the one llama-cpp-python's "chatml-function-calling" handler uses with
ChatML models such as SmolLM2: a message is `message:` and a newline, then the text; a call is
`functions.<name>:` and a newline, then the arguments as one line of JSON; further calls
follow on the next lines. The handler itself is not called: it ignores `max_tokens` while
choosing, has no `required`, cannot be cancelled and reuses llama.cpp's prompt cache (which
makes seeded answers differ run to run). Its two ideas are kept, one grammar per request
does the rest: the model can only pick among the request's tools, and each call's arguments
are decoded under the grammar llama.cpp builds from that tool's JSON schema.

tool_choice: `auto` (a message or calls), `required` (one call or more), a named function
(exactly that call), `none` (no tools offered: a plain answer). Several calls in one answer
only with `parallel_tool_calls: true`: left unset, a 135M model offered the chance lists call
after call in the order the prompt names the tools, so one call is the default (an answer
OpenAI's default allows too).
"""

from __future__ import annotations

import copy
import functools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from adapters.errors import UnsupportedParameter
from adapters.schemas import ChatRequest, JsonSchemaFormat, Message, NamedToolChoice

MESSAGE_HEAD = "message:\n"
CALL_HEAD = "functions."
# llama-cpp-python's converter lets a JSON string hold raw control characters, which is not
# JSON; this is llama.cpp's own rule for a string character, which does not.
JSON_CHAR = (
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F])"
)
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def uses_tools(request: ChatRequest) -> bool:
    """The model is offered the request's tools (tool_choice "none" offers none)."""
    return bool(request.tools) and request.tool_choice != "none"


# --- the prompt ----------------------------------------------------------------------------------


def _instructions(request: ChatRequest) -> str:
    lines = ["You can call these functions:", ""]
    for tool in request.tools or ():
        fn = tool.function
        described = f"functions.{fn.name}: {fn.description}" if fn.description else None
        lines.append(described or f"functions.{fn.name}:")
        lines.append(json.dumps(fn.parameters or NO_PARAMETERS, separators=(",", ":")))
    lines += [
        "",
        "To answer in words, write 'message:' on a line, then the answer.",
        "To call a function, write 'functions.<name>:' on a line, then its arguments as JSON "
        "on the next line. Several calls go one after another.",
    ]
    return "\n".join(lines)


def _turn_text(message: Message) -> str:
    """A turn as the model reads it: tool calls in the answer format, so earlier calls look
    like the ones it is asked to write."""
    text = message.text()
    if not message.tool_calls:
        return text
    calls = [f"{CALL_HEAD}{c.function.name}:\n{c.function.arguments}" for c in message.tool_calls]
    return "\n".join([MESSAGE_HEAD + text] * bool(text) + calls)


def template_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The conversation for the model's chat template; with tools, the system turn lists them."""
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": _turn_text(m)}
        | ({"name": m.name} if m.name else {})
        for m in request.messages
    ]
    if uses_tools(request):
        instructions = _instructions(request)
        if messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{instructions}"
        else:
            messages.insert(0, {"role": "system", "content": instructions})
    return messages


# --- the grammar ---------------------------------------------------------------------------------


def grammar_text(request: ChatRequest) -> str:
    """GBNF for the answers this request allows (see the module's docstring)."""
    tools = [t.model_dump(mode="json", exclude_none=True) for t in request.tools or ()]
    choice = request.tool_choice
    named = choice.function.name if isinstance(choice, NamedToolChoice) else None
    fmt = request.response_format
    answer_schema: str | None = None
    if isinstance(fmt, JsonSchemaFormat):
        answer_schema = json.dumps(fmt.json_schema.json_schema or {"type": "object"})
    elif fmt is not None and fmt.type == "json_object":
        answer_schema = json.dumps({"type": "object"})
    return _grammar_text(
        json.dumps(tools, sort_keys=True),
        "named" if named else str(choice or "auto"),
        named,
        request.parallel_tool_calls is True,
        answer_schema,
    )


@functools.lru_cache(maxsize=256)
def _grammar_text(
    tools_json: str, choice: str, named: str | None, parallel: bool, answer_schema: str | None
) -> str:
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(  # type: ignore[no-untyped-call]
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    calls: list[str] = []
    own: dict[str, str] = {}
    for i, tool in enumerate(json.loads(tools_json)):
        name = tool["function"]["name"]
        schema = copy.deepcopy(tool["function"].get("parameters") or NO_PARAMETERS)
        try:
            resolved = converter.resolve_refs(schema, f"tool{i}")
            args = converter.visit(resolved, f"args{i}")  # type: ignore[no-untyped-call]
        # llama-cpp-python's converter refuses schema features it cannot express with a
        # failed assert (and a bad schema with the usual errors).
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            raise UnsupportedParameter(
                "tools",
                f"tools[{i}].function.parameters: the embedded model cannot build a grammar "
                f"from this schema: {exc}",
            ) from exc
        own[f"tool-call-{i}"] = f'"{CALL_HEAD}{name}:\\n" {args}'
        if named is None or named == name:
            calls.append(f"tool-call-{i}")
    own["tool-call"] = " | ".join(calls)
    own["tool-calls"] = 'tool-call ("\\n" tool-call)*' if parallel and not named else "tool-call"
    if choice == "auto":
        if answer_schema is None:
            body = "tool-free-text"
            own["tool-free-text"] = "[^\\x00]*"
        else:
            body = converter.visit(  # type: ignore[no-untyped-call]
                json.loads(answer_schema), "answer"
            )
        own["tool-message"] = f'"message:\\n" {body}'
        own["root"] = "tool-message | tool-calls"
    else:
        own["root"] = "tool-calls"
    rules = {**converter._rules, **own}
    if "char" in rules:
        rules["char"] = JSON_CHAR
    return "\n".join(f"{name} ::= {rule}" for name, rule in rules.items())


@functools.lru_cache(maxsize=256)
def _grammar(text: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def tool_grammar(request: ChatRequest) -> Any:
    return _grammar(grammar_text(request))


# --- reading the answer --------------------------------------------------------------------------


@dataclass
class Call:
    index: int
    id: str
    name: str
    arguments: str = ""


@dataclass
class Delta:
    """What one piece of text added: message text, and OpenAI's tool-call deltas in order
    (a call's index, id, type and name first, then pieces of its arguments)."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class AnswerReader:
    """Reads the model's text as it grows (the grammar guarantees its shape; a text cut short
    by max_tokens leaves the last call's arguments unfinished, as OpenAI's do)."""

    def __init__(self) -> None:
        self.content: str | None = None  # None until the answer is known to be a message
        self.calls: list[Call] = []
        self._pending = ""  # text not yet placed (a head still being read)
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._closed = False  # the current call's arguments are whole

    def feed(self, text: str) -> Delta:
        delta = Delta()
        for char in text:
            self._read(char, delta)
        return delta

    def _read(self, char: str, delta: Delta) -> None:
        if self.content is not None:
            self.content += char
            delta.content += char
            return
        if self.calls and not self._closed:
            self._read_argument(char, delta)
            return
        if self.calls and not self._pending and char != "\n":
            return  # the grammar's optional space after a call's closing brace
        self._pending += char
        head = self._pending.lstrip("\n")
        if not self.calls and head == MESSAGE_HEAD:
            self.content, self._pending = "", ""
        elif head.startswith(CALL_HEAD) and head.endswith(":\n"):
            name = head[len(CALL_HEAD) : -2]
            call = Call(len(self.calls), f"call_{secrets.token_hex(12)}", name)
            self.calls.append(call)
            delta.tool_calls.append(
                {
                    "index": call.index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
            )
            self._pending, self._depth, self._closed = "", 0, False
            self._in_string = self._escaped = False

    def _read_argument(self, char: str, delta: Delta) -> None:
        call = self.calls[-1]
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif char == "\\":
                self._escaped = True
            elif char == '"':
                self._in_string = False
        elif char == '"':
            self._in_string = True
        elif char in "{[":
            self._depth += 1
        elif char in "}]":
            self._depth -= 1
            self._closed = self._depth == 0
        elif char.isspace() and self._depth == 0:
            return  # whitespace before the opening brace
        call.arguments += char
        last = delta.tool_calls[-1] if delta.tool_calls else None
        if last is not None and last["index"] == call.index and "id" not in last:
            last["function"]["arguments"] += char
        else:
            delta.tool_calls.append({"index": call.index, "function": {"arguments": char}})


def tool_call_dicts(calls: list[Call]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]
