"""The OpenAI-compatible endpoint (/v1) and the spend summary (/api/usage)."""

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from router import repository as repo
from router.errors import Forbidden, RouteError
from router.gateway import Gateway
from router.keys import KeyCache, KeyView
from router.schemas import ChatCompletionIn, CompletionIn

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _model_card(hf_id: str, created: int) -> dict[str, Any]:
    owner = hf_id.split("/", 1)[0] if "/" in hf_id else "modelyard"
    return {"id": hf_id, "object": "model", "created": created, "owned_by": owner}


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
        return StreamingResponse(
            events, media_type="text/event-stream", headers={**SSE_HEADERS, **extra}
        )
    answer, extra = await gateway.complete(body, headers, key)
    return JSONResponse(answer, headers=extra)


def make_router(
    gateway: Gateway, keys: KeyCache, session_dependency: Callable[..., Any]
) -> APIRouter:
    async def caller(authorization: Annotated[str | None, Header()] = None) -> KeyView:
        return await keys.authenticate(authorization)

    Caller = Annotated[KeyView, Depends(caller)]
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
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
            return StreamingResponse(
                events, media_type="text/event-stream", headers={**SSE_HEADERS, **headers}
            )
        answer, headers = await gateway.complete(chat, request.headers, key)
        return JSONResponse(_as_text_completion(answer), headers=headers)

    @api.post("/v1/route", tags=["openai"])
    async def dry_run(body: ChatCompletionIn, request: Request, key: Caller) -> dict[str, Any]:
        """The decision for this request without calling any model: every candidate with its
        predicted quality and estimated cost, and every excluded deployment with the reason."""
        controls = gateway.controls(body, request.headers, key)
        return (await gateway.plan(body, controls, key)).as_dict()

    @api.get("/v1/models", tags=["openai"])
    async def list_models(key: Caller) -> dict[str, Any]:
        snapshot = gateway.snapshot()
        created = int(snapshot.built_at.timestamp())
        routable = sorted(
            m.hf_id
            for m in snapshot.models.values()
            if any(d.status == "active" for d in m.deployments)
        )
        return {
            "object": "list",
            "data": [_model_card("auto", created)] + [_model_card(m, created) for m in routable],
        }

    @api.get("/v1/models/{model_id:path}", tags=["openai"])
    async def get_model(model_id: str, key: Caller) -> dict[str, Any]:
        snapshot = gateway.snapshot()
        if model_id == "auto":
            return _model_card("auto", int(snapshot.built_at.timestamp()))
        model = snapshot.find(model_id)
        if model is None:
            raise RouteError(
                f"The model '{model_id}' does not exist", "model_not_found", 404, param="model"
            )
        return _model_card(model.hf_id, int(snapshot.built_at.timestamp()))

    @api.get("/api/usage", tags=["usage"])
    def usage(
        key: Caller,
        session: SessionDep,
        since: Annotated[
            dt.date | None, Query(description="First day, default 30 days ago")
        ] = None,
        until: Annotated[dt.date | None, Query(description="Last day, default today")] = None,
        reference: Annotated[
            str | None, Query(max_length=200, description="Model to compare with")
        ] = None,
        all_keys: Annotated[bool, Query(description="Every key's spend (admin keys only)")] = False,
    ) -> dict[str, Any]:
        """Spend per model and per day for the calling key (or every key, for an admin), and
        the saving against a reference model: what the same tokens would have cost there."""
        if all_keys and not key.is_admin:
            raise Forbidden("all_keys needs an admin key")
        last = until or dt.datetime.now(dt.UTC).date()
        first = since or last - dt.timedelta(days=30)
        if first > last:
            raise RouteError("since is after until", param="since")
        rows = repo.usage_rows(
            session, None if all_keys else key.id, first, last + dt.timedelta(days=1)
        )
        reference = reference or key.policy.reference_model
        return summarise_usage(rows, gateway, reference, first, last)

    return api


def summarise_usage(
    rows: list[Any], gateway: Gateway, reference: str | None, first: dt.date, last: dt.date
) -> dict[str, Any]:
    by_model: dict[str, dict[str, Any]] = {}
    by_day: dict[str, Decimal] = {}
    by_day_model: dict[tuple[str, str], Decimal] = {}
    by_key: dict[str, Decimal] = {}
    tokens_in = tokens_out = 0
    total = Decimal(0)
    for row in rows:
        name = row.model_name or "(none)"
        entry = by_model.setdefault(
            name,
            {
                "model": name,
                "requests": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": Decimal(0),
            },
        )
        entry["requests"] += row.requests
        entry["input_tokens"] += row.input_tokens
        entry["output_tokens"] += row.output_tokens
        entry["cost_usd"] += row.cost_usd
        by_day[row.day] = by_day.get(row.day, Decimal(0)) + row.cost_usd
        by_day_model[row.day, name] = by_day_model.get((row.day, name), Decimal(0)) + row.cost_usd
        key_name = row.key_name or "(deleted key)"
        by_key[key_name] = by_key.get(key_name, Decimal(0)) + row.cost_usd
        tokens_in += row.input_tokens
        tokens_out += row.output_tokens
        total += row.cost_usd
    result: dict[str, Any] = {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "total_cost_usd": float(total),
        "requests": sum(e["requests"] for e in by_model.values()),
        "by_model": [
            {**e, "cost_usd": float(e["cost_usd"])}
            for e in sorted(by_model.values(), key=lambda e: -e["cost_usd"])
        ],
        "by_day": [{"day": day, "cost_usd": float(cost)} for day, cost in sorted(by_day.items())],
        "by_day_model": [
            {"day": day, "model": model, "cost_usd": float(cost)}
            for (day, model), cost in sorted(by_day_model.items())
        ],
        "by_key": [
            {"key": name, "cost_usd": float(cost)}
            for name, cost in sorted(by_key.items(), key=lambda item: -item[1])
        ],
        "reference": None,
    }
    if reference:
        model = gateway.snapshot().find(reference)
        if model is None:
            raise RouteError(
                f"unknown reference model '{reference}'", "model_not_found", 404, param="reference"
            )
        priced = [
            d
            for d in model.deployments
            if d.status == "active"
            and d.input_cost_per_token is not None
            and d.output_cost_per_token is not None
        ]
        if not priced:
            raise RouteError(
                f"the reference model {model.hf_id} has no priced deployment", param="reference"
            )
        cheapest = min(
            priced, key=lambda d: (d.input_cost_per_token or 0) + (d.output_cost_per_token or 0)
        )
        would = tokens_in * (cheapest.input_cost_per_token or 0) + tokens_out * (
            cheapest.output_cost_per_token or 0
        )
        result["reference"] = {
            "model": model.hf_id,
            "deployment": cheapest.name,
            "would_cost_usd": round(would, 10),
            "saving_usd": round(would - float(total), 10),
            "saving_fraction": round(1 - float(total) / would, 4) if would else None,
        }
    return result
