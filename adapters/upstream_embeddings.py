"""Embeddings from servers: OpenAI-compatible local servers (TEI, vLLM, Ollama's /v1, llama.cpp's
server in embedding mode) over the lean HTTP/1.1 client (adapters/http1.py), and hosted
providers through `litellm.aembedding`. A list of inputs is one upstream call.

Vectors are always asked for as floats (not every server speaks base64) and re-encoded by the
router; a smaller size (`dimensions`) is cut from the full vector here, so a server that
ignores the parameter cannot return the wrong size."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np

from adapters import http1
from adapters.base import Target
from adapters.embeddings import Embedded, EmbeddingCall, Vectors, fit_dimensions, unit_length
from adapters.errors import MalformedResponse, UpstreamBadRequest, UpstreamTimeout
from adapters.hosted import litellm_module, translate
from adapters.openai_compat import json_answer, post_json


def _row(value: Any) -> tuple[Vectors, bool]:
    """One input's vector, and whether it was pooled from per-token vectors."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4"), False
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 2 and array.shape[0] > 0:
        # llama-cpp-python's server on a model without a pooling layer (any chat GGUF)
        # answers a vector per token, and has no option to pool: average them, as
        # llama.cpp's own mean pooling would.
        return array.mean(axis=0), True
    return array, False


def vectors_from(data: Any, expected: int) -> Vectors:
    """The `data` of an OpenAI embeddings answer as a matrix, in input order, or
    MalformedResponse when it is not one vector per input, all of one size."""
    try:
        items = sorted(data, key=lambda item: int(item.get("index", 0)))
        rows = [_row(item["embedding"]) for item in items]
        matrix: Vectors = (
            np.stack([vector for vector, _ in rows]).astype(np.float32, copy=False)
            if rows
            else np.empty((0, 0), dtype=np.float32)
        )
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"upstream answer is not one vector per input: {exc!r}") from exc
    if matrix.ndim != 2 or matrix.shape[0] != expected or matrix.shape[1] == 0:
        raise MalformedResponse(
            f"upstream answered {matrix.shape} for {expected} inputs: not one vector per input"
        )
    return unit_length(matrix) if any(pooled for _, pooled in rows) else matrix


def _tokens_of(call: EmbeddingCall, usage: Any) -> tuple[int, bool]:
    """The upstream's count, or about four characters a token when it gave none."""
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        return int(usage["prompt_tokens"]), False
    if call.token_arrays is not None:
        return sum(len(a) for a in call.token_arrays), False
    return sum(max(1, -(-len(t) // 4)) for t in call.texts or []), True


def request_body(model: str, call: EmbeddingCall) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": call.inputs, "encoding_format": "float"}
    if call.user is not None:
        body["user"] = call.user
    return body


class OpenAICompatibleEmbedder:
    def __init__(self, target: Target) -> None:
        if not target.base_url:
            raise UpstreamBadRequest("a local deployment needs a base URL")
        self.endpoint = http1.Endpoint.of(target.base_url.rstrip("/") + "/embeddings")
        self.model = target.served_name
        self.timeouts = target.timeouts
        self.headers = {"Content-Type": "application/json"}
        if target.api_key:
            self.headers["Authorization"] = f"Bearer {target.api_key}"

    async def embed(self, call: EmbeddingCall) -> Embedded:
        body = json.dumps(request_body(self.model, call)).encode()
        answer = await post_json(self.endpoint, body, self.headers, self.timeouts)
        data = json_answer(*answer)
        if not isinstance(data, dict):
            raise MalformedResponse("upstream answer is not a JSON object")
        vectors = vectors_from(data.get("data"), len(call.inputs))
        tokens, estimated = _tokens_of(call, data.get("usage"))
        return Embedded(fit_dimensions(vectors, call.dimensions), tokens, estimated)


class HostedEmbedder:
    """litellm is imported on the first call (it costs ~10 s), never at start-up."""

    def __init__(self, target: Target) -> None:
        self.target = target

    async def embed(self, call: EmbeddingCall) -> Embedded:
        litellm = litellm_module()
        arguments = request_body(self.target.served_name, call)
        # The router decides about retries and fallbacks: neither litellm nor the SDK under it.
        arguments.update(timeout=self.target.timeouts.total, num_retries=0, max_retries=0)
        if self.target.api_key:
            arguments["api_key"] = self.target.api_key
        if self.target.base_url:
            arguments["api_base"] = self.target.base_url
        try:
            async with asyncio.timeout(self.target.timeouts.total):
                response = await litellm.aembedding(**arguments)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"provider took over {self.target.timeouts.total:g} s") from exc
        except Exception as exc:  # litellm raises many types; each becomes one of ours
            raise translate(exc, self.target.api_key) from exc
        data = response.model_dump() if hasattr(response, "model_dump") else dict(response)
        vectors = vectors_from(data.get("data"), len(call.inputs))
        tokens, estimated = _tokens_of(call, data.get("usage"))
        return Embedded(fit_dimensions(vectors, call.dimensions), tokens, estimated)
