"""POST /v1/embeddings and its dry run, POST /v1/embeddings/route.

POST /v1/embeddings is a plain handler (raw body, headers) -> response, so the process serves
it on its raw-ASGI fast path like chat completions (web/fastpath.py): profiled with batches of
64 short inputs, FastAPI's routing, dependency solving and middleware cost more than the
gateway's own work. The FastAPI declaration below documents it and answers through the same
handler (it is reached only where the fast path is not installed).

The dry run has its own path rather than sharing /v1/route: that one validates a chat body
(messages required), and an embeddings body checked against the same path would have to be
guessed from its fields; each path validates one shape and names what is wrong with it."""

# No `from __future__ import annotations`: FastAPI must see the dependency's type (Caller),
# defined inside make_router, as an object rather than a name it cannot resolve.
import email.message
import json
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from adapters.embeddings import EmbeddingsIn
from router.accounts.keys import KeyCache, KeyView
from router.api.embeddings import EmbeddingsService

PATH = "/v1/embeddings"
Handler = Callable[[bytes, Mapping[str, str]], Awaitable[Response]]


@lru_cache(maxsize=64)  # parsing a content type costs ~0.1 ms; clients send one or two
def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    parsed = email.message.Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def parse_body(raw: bytes, headers: Mapping[str, str]) -> EmbeddingsIn:
    """The body as FastAPI reads it for this route, so both ways in accept and refuse alike
    (tests/test_embeddings_fastpath.py): the standard library's JSON (it takes a lone
    surrogate, which the model then refuses by name, where pydantic's parser would call the
    document invalid), only under a JSON content type, errors located from "body"."""
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    data: Any = raw
    if _is_json(headers.get("content-type")):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            problem = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([problem]) from exc
        except (ValueError, RecursionError) as exc:  # not UTF-8; nested past the parser's depth
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        # As FastAPI validates a body (its messages for a body that is not an object, too).
        return EmbeddingsIn.model_validate(data, from_attributes=True)
    except ValidationError as exc:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(problems) from exc


class EmbeddingsHandler:
    def __init__(self, service: EmbeddingsService, keys: KeyCache) -> None:
        self.service = service
        self.keys = keys

    async def create(self, raw: bytes, headers: Mapping[str, str]) -> Response:
        """The fast path's way in: the key first, then the body, as FastAPI's order is."""
        key = await self.keys.authenticate(headers.get("authorization"))
        return await self.answer(parse_body(raw, headers), headers, key)

    async def answer(
        self, body: EmbeddingsIn, headers: Mapping[str, str], key: KeyView
    ) -> Response:
        answer, extra = await self.service.embed(body, headers, key)
        return Response(answer, media_type="application/json", headers=extra)

    def fast_routes(self) -> dict[str, Handler]:
        """The POST path the process serves on its fast path."""
        return {PATH: self.create}


def make_router(handler: EmbeddingsHandler) -> APIRouter:
    service, keys = handler.service, handler.keys

    async def caller(authorization: Annotated[str | None, Header()] = None) -> KeyView:
        return await keys.authenticate(authorization)

    Caller = Annotated[KeyView, Depends(caller)]
    api = APIRouter()

    @api.post(PATH, tags=["openai"])
    async def embeddings(body: EmbeddingsIn, request: Request, key: Caller) -> Any:
        """OpenAI's embeddings: `input` as a string, strings, a token array or token arrays;
        `dimensions`; `encoding_format` float or base64. `model` is a catalog id, an alias, or
        `auto` (one model per key: the policy's `embedding_model`, else the first choice,
        pinned). A list is embedded in one upstream call."""
        return await handler.answer(body, request.headers, key)

    @api.post("/v1/embeddings/route", tags=["openai"])
    async def embeddings_dry_run(
        body: EmbeddingsIn, request: Request, key: Caller
    ) -> dict[str, Any]:
        """The decision for this embeddings request without calling any model or pinning one:
        candidates, exclusions with reasons, and the key's embedding model (or the one the
        first request would pin)."""
        return await service.plan(body, request.headers, key)

    return api
