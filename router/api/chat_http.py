"""The OpenAI-compatible chat endpoint (/v1/chat/completions, /v1/completions, the dry run
/v1/route and /v1/models). The spend summary (/api/usage) is router/accounts/usage_http.py."""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from router.accounts.keys import KeyCache, KeyView
from router.api.event_stream import EventStreamResponse
from router.api.json_answer import JSONAnswer
from router.api.model_cards import base_card, model_card
from router.core.errors import RouteError
from router.core.requests import ChatCompletionIn, CompletionIn
from router.pipeline.gateway import Gateway

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _as_text_completion(answer: dict[str, Any]) -> dict[str, Any]:
    choices = [
        {
            "index": c.get("index", 0),
            "text": (c.get("message") or {}).get("content") or "",
            "finish_reason": c.get("finish_reason"),
            "logprobs": None,
        }
        for c in answer.get("choices", [])
    ]
    return {**answer, "object": "text_completion", "choices": choices}


async def chat_response(
    gateway: Gateway, body: ChatCompletionIn, headers: Mapping[str, str], key: KeyView
) -> Response:
    """One chat completion, complete or streamed, as an HTTP response."""
    if body.stream:
        events, extra = await gateway.stream(body, headers, key)
        return EventStreamResponse(events, {**SSE_HEADERS, **extra})
    answer, extra = await gateway.complete(body, headers, key)
    return JSONAnswer(answer, headers=extra)


def make_router(gateway: Gateway, keys: KeyCache) -> APIRouter:
    async def caller(authorization: Annotated[str | None, Header()] = None) -> KeyView:
        return await keys.authenticate(authorization)

    Caller = Annotated[KeyView, Depends(caller)]
    api = APIRouter()

    @api.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(body: ChatCompletionIn, request: Request, key: Caller) -> Any:
        """OpenAI's chat completions; `model` is a catalog id, an alias, or `auto`. Routing
        controls come in `route` (the SDK's extra_body), `X-Route-*` headers or the key's policy.
        (The process serves this path through a raw-ASGI fast path with the same behaviour;
        this declaration documents it and serves it where the fast path is not mounted.)"""
        return await chat_response(gateway, body, request.headers, key)

    @api.post("/v1/completions", tags=["openai"])
    async def completions(body: CompletionIn, request: Request, key: Caller) -> Any:
        """The legacy completions API, answered through the chat path."""
        chat = body.as_chat()
        if chat.stream:
            events, headers = await gateway.stream(chat, request.headers, key)
            return EventStreamResponse(events, {**SSE_HEADERS, **headers})
        answer, headers = await gateway.complete(chat, request.headers, key)
        return JSONResponse(_as_text_completion(answer), headers=headers)

    @api.post("/v1/route", tags=["openai"])
    async def dry_run(body: ChatCompletionIn, request: Request, key: Caller) -> dict[str, Any]:
        """The decision for this request without calling any model: every candidate with its
        predicted quality and estimated cost, every excluded deployment with the reason, and
        the effective limits and defaults with where each came from (key, team, request)."""
        controls = gateway.controls(body, request.headers, key)
        answer = (await gateway.plan(body, controls, key)).as_dict()
        answer["policy"] = gateway.policy_view(body, request.headers, key)
        return answer

    @api.get("/v1/models", tags=["openai"])
    async def list_models(key: Caller) -> dict[str, Any]:
        snapshot = gateway.snapshot()
        created = int(snapshot.built_at.timestamp())
        routable = sorted(
            (
                m
                for m in snapshot.models.values()
                if any(d.status == "active" for d in m.deployments)
            ),
            key=lambda m: m.hf_id,
        )
        return {
            "object": "list",
            "data": [base_card("auto", created)] + [model_card(m, created) for m in routable],
        }

    @api.get("/v1/models/{model_id:path}", tags=["openai"])
    async def get_model(model_id: str, key: Caller) -> dict[str, Any]:
        snapshot = gateway.snapshot()
        if model_id == "auto":
            return base_card("auto", int(snapshot.built_at.timestamp()))
        model = snapshot.find(model_id)
        if model is None:
            raise RouteError(
                f"The model '{model_id}' does not exist", "model_not_found", 404, param="model"
            )
        return model_card(model, int(snapshot.built_at.timestamp()))

    return api
