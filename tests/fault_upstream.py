"""A fault-injecting OpenAI-compatible upstream for tests, served by uvicorn on loopback.

The request's `model` picks the behaviour: `echo` answers properly (`slow-echo` too, a word
every 50 ms when streamed; `late-echo` too, after waiting 0.25 s; `echo-pieces` streams its
answer three characters at a time, so a word can arrive split over chunks; `stops` cuts it
at a `stop` string and names the string in `stop_reason`, as vLLM does); `agent` answers
like a hosted model that calls tools, writes structured output, gives several choices and
logprobs (tests/agent_upstream.py), and every request it gets is kept for GET /recorded; the
others fail in one specific way (rate limit, 500, context too long, malformed JSON, a stream
cut or stalled…).

POST /v1/responses speaks the Responses API itself (tests/responses_upstream.py).

Requests to `/<tag>/v1/chat/completions` are answered the same way and recorded: `GET
/recorded/<tag>` returns every body received under that tag, as it arrived, so a test can
see exactly what a deployment was sent (a hosted provider, say).

    python -m tests.fault_upstream PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests import agent_upstream, responses_upstream

STATS = {"requests": 0, "disconnects": 0, "completed_streams": 0}
RECORDED: dict[str, list[Any]] = {}
SECRET = "sk-test-secret-4242"


def completion(model: str, text: str) -> dict[str, Any]:
    words = len(text.split())
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": words, "total_tokens": 5 + words},
    }


def event(model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "test", "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


async def words_stream(
    model: str, words: list[str], *, usage: bool, delay: float = 0.0
) -> AsyncIterator[bytes]:
    yield event(model, {"role": "assistant", "content": ""})
    for word in words:
        if delay:
            await asyncio.sleep(delay)
        yield event(model, {"content": word + " "})
    yield event(model, {}, "stop")
    if usage:
        counts = {"prompt_tokens": 5, "completion_tokens": len(words)}
        counts["total_tokens"] = sum(counts.values())
        tail = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": []}
        yield f"data: {json.dumps({**tail, 'usage': counts})}\n\n".encode()
    yield b"data: [DONE]\n\n"
    STATS["completed_streams"] += 1


async def pieces_stream(model: str, text: str, *, usage: bool) -> AsyncIterator[bytes]:
    yield event(model, {"role": "assistant", "content": ""})
    for start in range(0, len(text), 3):
        yield event(model, {"content": text[start : start + 3]})
    yield event(model, {}, "stop")
    if usage:
        counts = {"prompt_tokens": 5, "completion_tokens": len(text.split())}
        counts["total_tokens"] = sum(counts.values())
        tail = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": []}
        yield f"data: {json.dumps({**tail, 'usage': counts})}\n\n".encode()
    yield b"data: [DONE]\n\n"


async def chat(request: Request) -> Response:
    STATS["requests"] += 1
    body = await request.json()
    if "tag" in request.path_params:
        RECORDED.setdefault(request.path_params["tag"], []).append(body)
    model = body.get("model", "")
    stream = bool(body.get("stream"))
    if model == "agent":
        return agent_upstream.answer(body, dict(request.headers))
    last = body["messages"][-1]["content"]
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if model == "auth" and request.headers.get("authorization") != f"Bearer {SECRET}":
        return error(401, "Incorrect API key provided")
    if model == "leaky-auth":
        # Some providers quote the key they were sent in their error message.
        return error(401, f"Incorrect API key provided: {request.headers.get('authorization')}")
    if model == "rate-limit":
        return error(429, "Rate limit reached", {"Retry-After": "7"})
    if model == "server-error":
        return error(500, "The server had an error")
    if model == "context":
        return error(400, "This model's maximum context length is 2048 tokens")
    if model == "bad-request":
        return error(400, "Unrecognized request argument supplied: frobnicate")
    if model == "malformed":
        return Response(b'{"choices": [ not json', media_type="application/json")
    if model == "not-completion":
        return JSONResponse({"hello": "world"})
    if model == "slow-first-byte":
        await asyncio.sleep(30)
    if model == "late-echo":  # echoes, after a quarter of a second's wait for its first byte
        await asyncio.sleep(0.25)
    if model in ("cut", "stall", "slow-stream"):
        return StreamingResponse(faulty_stream(request, model), media_type="text/event-stream")
    text = f"echo: {last}"
    if model == "stops":
        return stops_answer(model, text, body.get("stop"), stream=stream)
    if stream and model == "echo-pieces":
        pieces = pieces_stream(model, text, usage=include_usage)
        return StreamingResponse(pieces, media_type="text/event-stream")
    if stream:
        delay = 0.05 if model == "slow-echo" else 0.0  # a complete stream that takes a while
        events = words_stream(model, text.split(), usage=include_usage, delay=delay)
        return StreamingResponse(events, media_type="text/event-stream")
    return JSONResponse(completion(model, text))


def stops_answer(model: str, text: str, stop: Any, *, stream: bool) -> Response:
    """As vLLM answers: the text cut before the first stop string in it, and that string
    named in the choice's `stop_reason` (None when the text ended by itself)."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    found = [(i, s) for s in stops if (i := text.find(s)) != -1]
    matched = min(found)[1] if found else None
    if matched is not None:
        text = text[: text.find(matched)]
    if not stream:
        answer = completion(model, text)
        answer["choices"][0]["stop_reason"] = matched
        return JSONResponse(answer)

    async def events() -> AsyncIterator[bytes]:
        yield event(model, {"role": "assistant", "content": text})
        last = json.loads(event(model, {}, "stop")[6:])
        last["choices"][0]["stop_reason"] = matched
        yield f"data: {json.dumps(last)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def faulty_stream(request: Request, model: str) -> AsyncIterator[bytes]:
    yield event(model, {"role": "assistant", "content": ""})
    try:
        for index in range(200):
            yield event(model, {"content": f"w{index} "})
            if model == "cut" and index == 2:
                raise RuntimeError("connection cut on purpose")  # uvicorn drops the connection
            if model == "stall" and index == 1:
                await asyncio.sleep(60)
            if model == "slow-stream":
                await asyncio.sleep(0.05)
    except (asyncio.CancelledError, GeneratorExit):
        STATS["disconnects"] += 1  # the client went away mid-stream
        raise


EMBEDDING_REQUESTS: list[dict[str, Any]] = []  # every embeddings body, as received


def vector(text: str, size: int) -> list[float]:
    """A fixed vector per input, from its hash: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 127.5) / 128 for i in range(size)]


async def embeddings(request: Request) -> Response:
    """`embed` answers 8 numbers per input, `embed-N` N numbers; `per-token` answers a
    vector per token (a llama.cpp server without pooling), `ragged` vectors of different
    sizes; failures as for chat."""
    STATS["requests"] += 1
    body = await request.json()
    EMBEDDING_REQUESTS.append(body)
    model = str(body.get("model", ""))
    if model == "auth" and request.headers.get("authorization") != f"Bearer {SECRET}":
        return error(401, "Incorrect API key provided")
    if model == "rate-limit":
        return error(429, "Rate limit reached", {"Retry-After": "7"})
    if model == "server-error":
        return error(500, "The server had an error")
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = int(model.rsplit("-", 1)[1]) if model.startswith("embed-") else 8
    texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs]
    rows: list[Any] = [vector(t, size) for t in texts]
    if model == "per-token":
        rows = [[vector(w, 4) for w in t.split()] for t in texts]
    if model == "ragged":
        rows = [vector(t, 4 + i) for i, t in enumerate(texts)]
    tokens = sum(len(t.split()) for t in texts)
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def recorded_embeddings(_request: Request) -> JSONResponse:
    return JSONResponse(EMBEDDING_REQUESTS)


async def stats(_request: Request) -> JSONResponse:
    return JSONResponse(STATS)


async def recorded(request: Request) -> JSONResponse:
    return JSONResponse(RECORDED.get(request.path_params["tag"], []))


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/{tag}/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/responses", responses_upstream.responses, methods=["POST"]),
        Route("/{tag}/v1/responses", responses_upstream.responses, methods=["POST"]),
        Route("/responses/recorded/{tag}", responses_upstream.recorded),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/embeddings/recorded", recorded_embeddings),
        Route("/stats", stats),
        Route("/recorded", agent_upstream.recorded, methods=["GET", "DELETE"]),
        Route("/recorded/{tag}", recorded),
    ]
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
