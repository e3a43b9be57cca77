"""Adapter speed against a reference in the same run. `make bench`; prints, asserts nothing.

- The embedded model: tokens per second through EmbeddedAdapter.chat vs raw
  llama-cpp-python (`Llama.create_chat_completion`) on the same GGUF and settings.
- A local OpenAI-compatible upstream: per-call latency through OpenAICompatibleAdapter.chat
  vs a direct httpx call (same aiohttp transport) to the same fast mock upstream.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
import pytest

from adapters.base import Target
from adapters.embedded import EmbeddedAdapter, locate_gguf
from adapters.openai_compat import OpenAICompatibleAdapter, close_upstream_pool
from adapters.schemas import ChatRequest
from tests.conftest import SMOLLM2
from tests.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

PROMPT = "Write a short story about a lighthouse keeper."
TOKENS = 128
ROUNDS = 5


async def test_embedded_tokens_per_second_vs_raw_llama_cpp() -> None:
    from llama_cpp import Llama

    adapter = EmbeddedAdapter(Target(kind="embedded", served_name=SMOLLM2, max_context=8192))
    raw = Llama(model_path=str(locate_gguf(SMOLLM2)), n_ctx=8192, verbose=False)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    request = ChatRequest(messages=messages, max_tokens=TOKENS, temperature=0.8, seed=7)
    await adapter.chat(request)  # load the model before timing
    adapter_rates, raw_rates = [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        answer = await adapter.chat(request)
        adapter_rates.append(answer["usage"]["completion_tokens"] / (time.perf_counter() - start))
        start = time.perf_counter()
        direct: Any = raw.create_chat_completion(
            messages, max_tokens=TOKENS, temperature=0.8, seed=7
        )
        raw_rates.append(direct["usage"]["completion_tokens"] / (time.perf_counter() - start))
    ours, theirs = statistics.median(adapter_rates), statistics.median(raw_rates)
    print(
        f"\nembedded SmolLM2-135M, {TOKENS} tokens x {ROUNDS}: adapter {ours:.0f} tok/s, "
        f"raw llama-cpp-python {theirs:.0f} tok/s ({ours / theirs:.0%} of raw)"
    )


async def test_local_adapter_overhead_vs_direct_call(fault_upstream: ServerProcess) -> None:
    url = f"{fault_upstream.base_url}/v1/chat/completions"
    request = ChatRequest(messages=[{"role": "user", "content": "ping"}])
    adapter = OpenAICompatibleAdapter(
        Target(kind="local", served_name="echo", base_url=f"{fault_upstream.base_url}/v1")
    )
    body = request.openai_body("echo", stream=False)
    # The reference: the least a caller can do with aiohttp (the client the adapter used before
    # its own lean one, adapters/http1.py): post the JSON, read the JSON. A negative overhead
    # is the lean client's saving over it.
    async with aiohttp.ClientSession() as client:

        async def direct_call() -> None:
            async with client.post(url, json=body) as response:
                await response.json()

        for _ in range(50):  # warm both connection pools
            await adapter.chat(request)
            await direct_call()
        direct, through = [], []
        for _ in range(500):
            start = time.perf_counter()
            await direct_call()
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            await adapter.chat(request)
            through.append(time.perf_counter() - start)
    await close_upstream_pool()
    d, t = statistics.median(direct) * 1e6, statistics.median(through) * 1e6
    print(f"\nlocal upstream, 500 calls: direct {d:.0f} µs, adapter {t:.0f} µs", end="")
    print(f", overhead {t - d:.0f} µs")
