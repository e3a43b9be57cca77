"""OpenAI's embeddings request and answer, and what every embedding adapter shares.

The request model lives here, in the adapters' layer, so the router and the adapters read the
same validated object: nothing is copied into a second, lossier shape on the way.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_INPUTS = 2048  # OpenAI's own limit on the items of one request
MAX_TOKEN_ID = 2**31 - 1

Vectors = npt.NDArray[np.float32]


def _check_input(value: Any) -> str | list[str] | list[list[int]]:
    """A string, a list of strings, a token array or a list of token arrays, as OpenAI takes
    them; a single token array becomes a list of one. Each problem is named precisely."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must not be an empty string")
        return value
    if not isinstance(value, list) or not value:
        raise ValueError(
            "must be a string, a list of strings, a token array or a list of token arrays"
        )
    if len(value) > MAX_INPUTS:
        raise ValueError(f"at most {MAX_INPUTS} items, {len(value)} were sent")
    if all(isinstance(item, str) for item in value):
        empty = next((i for i, item in enumerate(value) if not item), None)
        if empty is not None:
            raise ValueError(f"item {empty} is an empty string")
        return list(value)
    if all(_is_token(item) for item in value):
        return [list(value)]
    arrays: list[list[int]] = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or not item or not all(_is_token(t) for t in item):
            raise ValueError(
                f"item {i} is neither a string nor a non-empty array of token ids "
                "(a list mixes strings and token arrays, or holds something else)"
            )
        arrays.append(list(item))
    return arrays


def _is_token(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= MAX_TOKEN_ID


class EmbeddingsIn(BaseModel):
    """POST /v1/embeddings. Unknown fields are refused by name: nothing is silently dropped."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    input: Annotated[str | list[str] | list[list[int]], BeforeValidator(_check_input)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    user: str | None = Field(default=None, max_length=256)
    # Routing controls (the SDK's extra_body), validated by the router, which owns their shape.
    route: dict[str, Any] | None = None

    @property
    def texts(self) -> list[str] | None:
        """The inputs as text, or None when they are token arrays."""
        if isinstance(self.input, str):
            return [self.input]
        if isinstance(self.input[0], str):
            return self.input
        return None

    @property
    def token_arrays(self) -> list[list[int]] | None:
        if isinstance(self.input, str) or isinstance(self.input[0], str):
            return None
        return self.input

    @property
    def count(self) -> int:
        return 1 if isinstance(self.input, str) else len(self.input)


@dataclass(frozen=True)
class EmbeddingCall:
    """What an adapter is asked: the inputs (text or token ids), the size wanted, the caller."""

    texts: list[str] | None
    token_arrays: list[list[int]] | None
    dimensions: int | None  # None: the model's own size
    user: str | None = None

    @classmethod
    def of(cls, body: EmbeddingsIn) -> EmbeddingCall:
        return cls(body.texts, body.token_arrays, body.dimensions, body.user)

    @property
    def inputs(self) -> list[str] | list[list[int]]:
        return self.texts if self.texts is not None else (self.token_arrays or [])


@dataclass(frozen=True)
class Embedded:
    """An adapter's answer: one row per input, in order; the tokens read (estimated when the
    upstream did not say)."""

    vectors: Vectors
    prompt_tokens: int
    estimated: bool = False


class Embedder(Protocol):
    """One call embeds every input of a request. Raises only `adapters.errors` exceptions."""

    async def embed(self, call: EmbeddingCall) -> Embedded: ...


def fit_dimensions(vectors: Vectors, dimensions: int | None) -> Vectors:
    """Keep the first `dimensions` components and rescale to unit length (Matryoshka
    truncation). Whether the model was trained for that size is the catalog's call, made
    before any adapter runs."""
    if dimensions is None or dimensions == vectors.shape[1]:
        return vectors
    return unit_length(np.ascontiguousarray(vectors[:, :dimensions]))


def unit_length(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a text of no known token stays the zero vector
    scaled: Vectors = (vectors / norms).astype(np.float32, copy=False)
    return scaled


def answer_json(vectors: Vectors, model: str, prompt_tokens: int, encoding: str = "float") -> bytes:
    """OpenAI's embeddings answer as JSON bytes, without a Python object per number. base64
    is the raw little-endian float32 bytes, as the openai SDK decodes them."""
    if encoding == "base64":
        return _base64_json(vectors, model, prompt_tokens)
    # orjson writes numpy rows itself, in float64 so that each number is the float32's exact
    # value (what `tolist()` gives, and what the SDK's base64 decoding gives) rather than a
    # shorter float32 spelling that would read back as a slightly different Python float.
    rows = list(vectors.astype(np.float64))
    return orjson.dumps(_answer(rows, model, prompt_tokens), option=orjson.OPT_SERIALIZE_NUMPY)


def _base64_json(vectors: Vectors, model: str, prompt_tokens: int) -> bytes:
    """Written out directly: base64's alphabet needs no escaping in JSON, so each row's bytes
    go in as they are, never decoded to a str and scanned again (a third less CPU than
    encoding the same dict with orjson; byte for byte the same output)."""
    little = np.ascontiguousarray(vectors, dtype="<f4")  # each row's buffer read in place
    data = b",".join(
        [
            b'{"object":"embedding","index":%d,"embedding":"%b"}'
            % (i, binascii.b2a_base64(row, newline=False))
            for i, row in enumerate(little)
        ]
    )
    return b'{"object":"list","data":[%b],"model":%b,"usage":%b}' % (
        data,
        orjson.dumps(model),
        orjson.dumps({"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}),
    )


def _answer(rows: list[Any], model: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
