"""POST /v1/embeddings and its dry run, POST /v1/embeddings/route.

The dry run has its own path rather than sharing /v1/route: that one validates a chat body
(messages required), and an embeddings body checked against the same path would have to be
guessed from its fields; each path validates one shape and names what is wrong with it."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from adapters.embeddings import EmbeddingsIn
from router.embeddings import EmbeddingsService
from router.keys import KeyCache, KeyView


def make_router(service: EmbeddingsService, keys: KeyCache) -> APIRouter:
    async def caller(authorization: Annotated[str | None, Header()] = None) -> KeyView:
        return await keys.authenticate(authorization)

    Caller = Annotated[KeyView, Depends(caller)]
    api = APIRouter()

    @api.post("/v1/embeddings", tags=["openai"])
    async def embeddings(body: EmbeddingsIn, request: Request, key: Caller) -> Any:
        """OpenAI's embeddings: `input` as a string, strings, a token array or token arrays;
        `dimensions`; `encoding_format` float or base64. `model` is a catalog id, an alias, or
        `auto` (one model per key: the policy's `embedding_model`, else the first choice,
        pinned). A list is embedded in one upstream call."""
        answer, headers = await service.embed(body, request.headers, key)
        return JSONResponse(answer, headers=headers)

    @api.post("/v1/embeddings/route", tags=["openai"])
    async def embeddings_dry_run(
        body: EmbeddingsIn, request: Request, key: Caller
    ) -> dict[str, Any]:
        """The decision for this embeddings request without calling any model or pinning one:
        candidates, exclusions with reasons, and the key's embedding model (or the one the
        first request would pin)."""
        return await service.plan(body, request.headers, key)

    return api
