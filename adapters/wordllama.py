"""The embedded embedding model: WordLlama, whose weights and tokenizer ship inside its wheel
(`l2_supercat`, 256 dimensions, MIT). No server, no download: ever.

`WordLlama.load()` looks for the tokenizer in a folder that does not match the wheel's and then
asks the Hugging Face Hub; given the installed package's own folder as `cache_dir` and
`disable_download=True` it finds both files where the wheel put them, or fails loudly.

Embedding is a table lookup and an average (numpy), and tokenizing is Rust: both release the
GIL, so the work runs on one worker thread beside the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from adapters.base import Target
from adapters.embeddings import Embedded, EmbeddingCall, Vectors, fit_dimensions, unit_length
from adapters.errors import ModelUnavailable, UpstreamBadRequest

PREFIX = "wordllama:"  # served_name of an embedded WordLlama deployment: wordllama:<config>
BATCH = 64  # inputs per matrix operation: WordLlama's own default


def package_folder() -> Path:
    found = importlib.util.find_spec("wordllama")
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable("the package 'wordllama' (embedded embeddings) is not installed")
    return Path(next(iter(found.submodule_search_locations)))


def locate_weights(config: str) -> Path:
    """The installed wheel's weights for `config`, found without loading them (a server's
    start-up check)."""
    found = sorted((package_folder() / "weights").glob(f"{config}_*.safetensors"))
    if not found:
        raise ModelUnavailable(f"the package 'wordllama' has no weights for '{config}'")
    return found[0]


class TokenArraysRefused(UpstreamBadRequest):
    """Token ids are only meaningful in the tokenizer that made them, and the clients that
    send them (LangChain, tiktoken users) count in OpenAI's tokenizers, not Llama 2's."""

    code = "unsupported_input"
    param = "input"


class UnreadableInput(UpstreamBadRequest):
    code = "invalid_input"
    param = "input"


class WordLlamaModel:
    """One loaded model: the token-embedding table and its tokenizer."""

    def __init__(self, config: str) -> None:
        from wordllama import WordLlama

        try:
            inference = WordLlama.load(config, cache_dir=package_folder(), disable_download=True)
        except (AttributeError, FileNotFoundError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load WordLlama '{config}': {exc}") from exc
        self.table: Vectors = inference.embedding
        self.tokenizer: Any = inference.tokenizer
        self.dimensions = int(self.table.shape[1])

    def embed(self, texts: list[str]) -> tuple[Vectors, int]:
        """Unit-length mean token vectors, and the number of tokens read."""
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        tokens = 0
        for start in range(0, len(texts), BATCH):
            encoded = self.tokenizer.encode_batch(
                texts[start : start + BATCH], add_special_tokens=False
            )
            ids = np.array([e.ids for e in encoded], dtype=np.int32)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
            np.clip(ids, 0, self.table.shape[0] - 1, out=ids)
            counts = mask.sum(axis=1, keepdims=True)
            tokens += int(counts.sum())
            summed = np.einsum("btd,bt->bd", self.table[ids], mask, dtype=np.float32)
            out[start : start + len(encoded)] = summed / np.maximum(counts, 1.0)
        return unit_length(out), tokens


_models: dict[str, WordLlamaModel] = {}
_models_lock = threading.Lock()
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-embeddings")


def model_for(config: str) -> WordLlamaModel:
    """Loaded once per process (about 16 MB)."""
    with _models_lock:
        model = _models.get(config)
        if model is None:
            model = _models[config] = WordLlamaModel(config)
        return model


class WordLlamaEmbedder:
    def __init__(self, target: Target) -> None:
        self.config = target.served_name.removeprefix(PREFIX)
        if not self.config or "/" in self.config:
            raise ModelUnavailable(
                f"embedded embedding model '{target.served_name}' is not of the form "
                "wordllama:<config>"
            )

    def _run(self, call: EmbeddingCall) -> Embedded:
        model = model_for(self.config)
        assert call.texts is not None
        try:
            vectors, tokens = model.embed(call.texts)
        except (TypeError, ValueError, UnicodeError) as exc:  # e.g. a lone surrogate
            raise UnreadableInput(f"the embedded model cannot read the input: {exc}") from exc
        return Embedded(fit_dimensions(vectors, call.dimensions), tokens)

    async def embed(self, call: EmbeddingCall) -> Embedded:
        if call.texts is None:
            raise TokenArraysRefused(
                "the embedded WordLlama model reads text only: send `input` as strings "
                "(token ids from another tokenizer would give meaningless vectors; with "
                "LangChain, set OpenAIEmbeddings(check_embedding_ctx_length=False))"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_worker, self._run, call)
