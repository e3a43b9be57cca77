"""OpenAI-compatible servers: a real llama_cpp.server process, and a fault-injecting upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import Target, Timeouts
from adapters.errors import (
    AdapterError,
    ContextTooLong,
    MalformedResponse,
    RateLimited,
    UpstreamBadRequest,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.openai_compat import OpenAICompatibleAdapter, close_upstream_pool
from adapters.schemas import ChatRequest
from tests.conftest import free_port, start_llama_server
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
async def _close_client() -> AsyncIterator[None]:
    yield
    await close_upstream_pool()


def local(
    server: ServerProcess | str, model: str = "smollm2", **timeouts: float
) -> OpenAICompatibleAdapter:
    base = server if isinstance(server, str) else server.base_url
    return OpenAICompatibleAdapter(
        Target(
            kind="local", served_name=model, base_url=f"{base}/v1", timeouts=Timeouts(**timeouts)
        )
    )


def ask(text: str = "Say hello.", **options: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **options)


# --- a real llama.cpp server ----------------------------------------------------------------------


async def test_complete_answer_from_llama_cpp_server(llama_server: ServerProcess) -> None:
    result = await local(llama_server).chat(
        ask("What is the capital of France? Answer in one word.", temperature=0, max_tokens=20)
    )
    assert "Paris" in result["choices"][0]["message"]["content"]
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] > 0


async def test_streamed_answer_from_llama_cpp_server(llama_server: ServerProcess) -> None:
    chunks = [c async for c in local(llama_server).stream(ask("Name three fruits.", max_tokens=30))]
    contents = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(contents) >= 3
    final = chunks[-1]
    # llama.cpp's server sends no usage in streams: the adapter counts and says so.
    assert final["usage"]["estimated"] is True
    assert final["usage"]["completion_tokens"] == len(contents)


async def test_server_killed_mid_stream(tmp_path: Path) -> None:
    server = start_llama_server(tmp_path)
    try:
        stream = local(server).stream(ask("Write a very long story.", max_tokens=2000))
        with pytest.raises(UpstreamUnavailable):
            async for _chunk in stream:
                server.kill()
    finally:
        server.stop()


async def test_server_not_running() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamUnavailable, match="cannot connect"):
        await local(nobody).chat(ask())
    with pytest.raises(UpstreamUnavailable):
        async for _chunk in local(nobody).stream(ask()):
            pass


async def test_llama_server_serves_on_after_a_client_leaves(llama_server: ServerProcess) -> None:
    stream = local(llama_server).stream(ask("Write a very long essay.", max_tokens=1500))
    async for _chunk in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    result = await local(llama_server, first_byte=60).chat(ask("Hi", max_tokens=5))
    assert result["choices"][0]["message"]["content"] is not None


# --- faults -------------------------------------------------------------------------------------


async def test_echo_through_the_fault_upstream(fault_upstream: ServerProcess) -> None:
    adapter = local(fault_upstream, "echo")
    result = await adapter.chat(ask("ping"))
    assert result["choices"][0]["message"]["content"] == "echo: ping"
    chunks = [c async for c in adapter.stream(ask("ping pong"))]
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("rate-limit", RateLimited, "Rate limit reached"),
        ("server-error", UpstreamServerError, "The server had an error"),
        ("context", ContextTooLong, "maximum context length"),
        ("bad-request", UpstreamBadRequest, "frobnicate"),
        ("malformed", MalformedResponse, "not JSON"),
        ("not-completion", MalformedResponse, "not a chat completion"),
        ("auth", UpstreamServerError, "Incorrect API key"),
    ],
)
async def test_upstream_errors_are_translated(
    fault_upstream: ServerProcess, model: str, error: type[AdapterError], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        await local(fault_upstream, model).chat(ask())
    if model == "rate-limit":
        assert isinstance(raised.value, RateLimited) and raised.value.retry_after == 7
    assert raised.value.retryable == (error is not UpstreamBadRequest)
    if model in ("rate-limit", "server-error", "context", "bad-request"):
        with pytest.raises(error):  # the same before a stream's first byte
            async for _chunk in local(fault_upstream, model).stream(ask()):
                pass


async def test_stream_cut_in_the_middle(fault_upstream: ServerProcess) -> None:
    received = []
    with pytest.raises(UpstreamUnavailable):
        async for chunk in local(fault_upstream, "cut").stream(ask()):
            received.append(chunk)
    assert len(received) >= 2  # what came before the cut was passed on as it arrived


async def test_stalled_stream_times_out(fault_upstream: ServerProcess) -> None:
    with pytest.raises(UpstreamTimeout):
        async for _chunk in local(fault_upstream, "stall", first_byte=1).stream(ask()):
            pass


async def test_slow_first_byte_and_total_timeouts(fault_upstream: ServerProcess) -> None:
    with pytest.raises(UpstreamTimeout, match="within 1 s"):
        await local(fault_upstream, "slow-first-byte", first_byte=1).chat(ask())
    with pytest.raises(UpstreamTimeout, match="over 1 s"):
        async for _chunk in local(fault_upstream, "slow-stream", total=1).stream(ask()):
            pass


async def test_client_disconnect_reaches_the_upstream(fault_upstream: ServerProcess) -> None:
    before = httpx.get(f"{fault_upstream.base_url}/stats").json()["disconnects"]
    stream = local(fault_upstream, "slow-stream").stream(ask())
    seen = 0
    async for _chunk in stream:
        seen += 1
        if seen == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(50):
        if httpx.get(f"{fault_upstream.base_url}/stats").json()["disconnects"] > before:
            break
        await asyncio.sleep(0.1)
    assert httpx.get(f"{fault_upstream.base_url}/stats").json()["disconnects"] == before + 1
