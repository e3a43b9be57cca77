"""Hosted providers through litellm, pointed at a local OpenAI-compatible server over real
HTTP (no provider is reachable from here)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from adapters.base import Target, Timeouts
from adapters.errors import (
    AdapterError,
    ContextTooLong,
    RateLimited,
    UpstreamServerError,
    UpstreamUnavailable,
)
from adapters.hosted import HostedAdapter
from adapters.registry import make_adapter
from adapters.schemas import ChatRequest
from tests.conftest import free_port
from tests.fault_upstream import SECRET
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio


def hosted(server: ServerProcess | str, model: str, key: str | None = SECRET) -> HostedAdapter:
    base = server if isinstance(server, str) else server.base_url
    target = Target(
        kind="hosted",
        served_name=f"openai/{model}",
        base_url=f"{base}/v1",
        api_key=key,
        timeouts=Timeouts(total=20),
    )
    adapter = make_adapter(target)
    assert isinstance(adapter, HostedAdapter)
    return adapter


def ask(text: str = "ping", **options: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **options)


def test_importing_the_adapters_does_not_import_litellm() -> None:
    probe = "import sys, adapters.registry; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


async def test_chat_through_litellm(fault_upstream: ServerProcess) -> None:
    result = await hosted(fault_upstream, "auth").chat(ask("hello there", max_tokens=10))
    assert result["choices"][0]["message"]["content"] == "echo: hello there"
    assert result["usage"]["total_tokens"] == 8


async def test_stream_through_litellm(fault_upstream: ServerProcess) -> None:
    chunks = [c async for c in hosted(fault_upstream, "echo").stream(ask("one two three"))]
    text = "".join(
        c["choices"][0].get("delta", {}).get("content") or "" for c in chunks if c.get("choices")
    )
    assert text.strip() == "echo: one two three"
    assert any(c.get("usage", {}).get("completion_tokens") == 4 for c in chunks)


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("rate-limit", RateLimited),
        ("server-error", UpstreamServerError),
        ("context", ContextTooLong),
    ],
)
async def test_provider_errors_are_translated(
    fault_upstream: ServerProcess, model: str, error: type[AdapterError]
) -> None:
    with pytest.raises(error):
        await hosted(fault_upstream, model).chat(ask())


async def test_a_wrong_key_never_appears_in_the_error(fault_upstream: ServerProcess) -> None:
    wrong = "sk-wrong-key-that-must-stay-secret-1234"
    with pytest.raises(UpstreamServerError) as raised:
        await hosted(fault_upstream, "auth", key=wrong).chat(ask())
    assert wrong not in str(raised.value) and wrong not in repr(raised.value)
    assert "Incorrect API key" in raised.value.message
    assert wrong not in repr(Target(kind="hosted", served_name="x", api_key=wrong))


async def test_provider_unreachable() -> None:
    with pytest.raises(UpstreamUnavailable):
        await hosted(f"http://127.0.0.1:{free_port()}", "echo").chat(ask())
