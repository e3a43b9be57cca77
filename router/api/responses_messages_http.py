"""/v1/responses and /v1/messages: parse, translate, route through the one gateway, translate
back. The two POSTs that carry traffic are plain handlers (raw body, headers) -> response, so
the process serves them on its raw-ASGI fast path like chat completions (web/fastpath.py);
the FastAPI declarations here serve the same handlers and document them.

Dry runs: POST /v1/responses/route and /v1/messages/route take the same body and answer the
decision, as /v1/route does for chat, with the chat request the body became."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from router.accounts.keys import KeyCache, KeyView
from router.api import input_items, messages, responses, responses_forward
from router.api.chat_http import SSE_HEADERS
from router.api.event_stream import EventStreamResponse
from router.api.json_answer import JSONAnswer
from router.api.response_store import ResponseStore
from router.api.responses_events import ResponseEvents
from router.api.translation import new_id
from router.core.errors import Unauthorized
from router.core.requests import ChatCompletionIn
from router.core.tokens import estimate_tokens
from router.pipeline.execution import Via
from router.pipeline.gateway import Gateway
from router.routing.decision import Candidate

Handler = Callable[[bytes, Mapping[str, str]], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: bytes) -> M:
    """The body as `model`, or the validation error FastAPI would raise (locations start at
    "body"), so both ways in name fields alike."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(problems) from exc


class ApiHandlers:
    def __init__(self, gateway: Gateway, keys: KeyCache, store: ResponseStore) -> None:
        self.gateway = gateway
        self.keys = keys
        self.store = store

    async def openai_key(self, headers: Mapping[str, str]) -> KeyView:
        return await self.keys.authenticate(headers.get("authorization"))

    async def anthropic_key(self, headers: Mapping[str, str]) -> KeyView:
        """Anthropic's clients send `x-api-key`; Bearer tokens work too."""
        authorization = headers.get("authorization")
        if authorization is None:
            api_key = headers.get("x-api-key")
            if not api_key:
                raise Unauthorized("missing API key: send 'x-api-key: <key>'")
            authorization = f"Bearer {api_key}"
        return await self.keys.authenticate(authorization)

    # --- Responses ------------------------------------------------------------------------------

    async def _responses_request(
        self, raw: bytes, key: KeyView
    ) -> tuple[responses.ResponsesIn, ChatCompletionIn, list[dict[str, Any]], Via]:
        """The request, its chat form, its own input as chat messages (to store), and the way
        to each candidate (forwarded as is where a deployment serves Responses itself)."""
        req = parse(responses.ResponsesIn, raw)
        responses.check(req)
        history = (
            await self.store.conversation(req.previous_response_id, key.id)
            if req.previous_response_id
            else []
        )
        body, own = responses.to_canonical(req, history)
        return req, body, own, responses_forward.via(req, raw, history)

    async def create_response(self, raw: bytes, headers: Mapping[str, str]) -> Response:
        key = await self.openai_key(headers)
        req, body, own, via = await self._responses_request(raw, key)
        skeleton = responses.skeleton(req, new_id("resp"))

        async def keep(response: dict[str, Any]) -> None:
            messages = [*own, responses.as_chat_message(response["output"])]
            await self.store.save(response, messages, key.id)

        if req.stream:
            translated = ResponseEvents(skeleton, keep if req.stored else None)
            renderer = responses_forward.Events(translated, req)
            events, extra = await self.gateway.stream(body, headers, key, renderer, via)
            self._name_route(extra, skeleton["id"])
            return EventStreamResponse(events, {**SSE_HEADERS, **extra})
        answer, extra = await self.gateway.complete(body, headers, key, via)
        if answer.get("object") == "response":  # forwarded as is
            response = responses_forward.answer(
                answer, req, extra.get("x-modelyard-cache") == "hit"
            )
        else:
            response = responses.from_chat(answer, skeleton)
        if req.stored:
            await keep(response)
        self._name_route(extra, response["id"])
        return JSONAnswer(response, headers=extra)

    def _name_route(self, headers: Mapping[str, str], response_id: str) -> None:
        """Feedback may name the answer by its response.id as well as by its route id."""
        learning = self.gateway.learning
        route_id = headers.get("x-modelyard-route-id")
        if learning is not None and route_id and headers.get("x-modelyard-cache") != "hit":
            learning.recorder.name_response(route_id, response_id)

    async def route_response(self, raw: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        key = await self.openai_key(headers)
        _, body, _, _ = await self._responses_request(raw, key)
        return await self._dry_run(body, headers, key, responses_forward.forwards)

    # --- Messages -------------------------------------------------------------------------------

    @staticmethod
    def _messages_request(raw: bytes) -> tuple[messages.MessagesIn, ChatCompletionIn]:
        req = parse(messages.MessagesIn, raw)
        messages.check(req)
        return req, messages.to_canonical(req)

    async def create_message(self, raw: bytes, headers: Mapping[str, str]) -> Response:
        key = await self.anthropic_key(headers)
        req, body = self._messages_request(raw)
        if req.stream:
            renderer = messages.MessageEvents(req.stop_sequences)
            events, extra = await self.gateway.stream(body, headers, key, renderer)
            return EventStreamResponse(events, {**SSE_HEADERS, **extra})
        answer, extra = await self.gateway.complete(body, headers, key)
        return JSONAnswer(messages.from_chat(answer, req.stop_sequences), headers=extra)

    async def route_message(self, raw: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        key = await self.anthropic_key(headers)
        _, body = self._messages_request(raw)
        return await self._dry_run(body, headers, key)

    async def count_tokens(self, raw: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """The router's own estimate, the one its budgets and context checks use: no model
        is called (deployments here have no token-counting endpoint)."""
        await self.anthropic_key(headers)
        req = parse(messages.CountTokensIn, raw)
        full = req.as_messages()
        messages.check(full)
        body = messages.to_canonical(full)
        tokens = estimate_tokens(body.prompt_text(), len(body.messages))
        return {"input_tokens": tokens + body.extra_prompt_tokens()}

    # --- shared ---------------------------------------------------------------------------------

    async def _dry_run(
        self,
        body: ChatCompletionIn,
        headers: Mapping[str, str],
        key: KeyView,
        as_is: Callable[[Candidate], bool] | None = None,
    ) -> dict[str, Any]:
        """The decision and the chat request; with `as_is`, also the candidates that would be
        sent the request as it came instead (`forwarded_as_is`)."""
        controls = self.gateway.controls(body, headers, key)
        plan = await self.gateway.plan(body, controls, key)
        chat = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        answer = {**plan.as_dict(), "chat_request": chat}
        answer["policy"] = self.gateway.policy_view(body, headers, key)
        if as_is is not None:
            answer["forwarded_as_is"] = [c.deployment.name for c in plan.candidates if as_is(c)]
        return answer

    def fast_routes(self) -> dict[str, Handler]:
        """The POST paths the process serves on its fast path."""
        return {"/v1/responses": self.create_response, "/v1/messages": self.create_message}


# Declared for the documentation: the handlers read the headers themselves.
Auth = Annotated[str | None, Header(description="Bearer <key>")]
ApiKey = Annotated[str | None, Header(alias="x-api-key", description="the key, Anthropic's way")]


def make_router(handlers: ApiHandlers) -> APIRouter:
    """The declarations validate the body too, so the schema documents it; the handlers
    (which read the raw body again, as the fast path does) do the work."""
    api = APIRouter()

    @api.post("/v1/responses", tags=["openai"])
    async def create_response(
        body: responses.ResponsesIn, request: Request, authorization: Auth = None
    ) -> Response:
        """OpenAI's Responses API over the router: `input` as text or items, `instructions`,
        function tools, `text.format`, `store` and `previous_response_id`, streaming with the
        Responses events. Forwarded as is to a server with the `responses_api` capability,
        answered through chat completions elsewhere. Hosted tools and other features chat
        deployments cannot honour are refused by name."""
        return await handlers.create_response(await request.body(), request.headers)

    @api.post("/v1/responses/route", tags=["openai"])
    async def route_response(
        body: responses.ResponsesIn, request: Request, authorization: Auth = None
    ) -> dict[str, Any]:
        """The decision for this Responses request without calling any model, and the chat
        request it became."""
        return await handlers.route_response(await request.body(), request.headers)

    @api.get("/v1/responses/{response_id}", tags=["openai"])
    async def get_response(response_id: str, request: Request) -> dict[str, Any]:
        """A stored response (`store` not false) made with the calling key."""
        key = await handlers.openai_key(request.headers)
        return await handlers.store.get(response_id, key.id)

    @api.get("/v1/responses/{response_id}/input_items", tags=["openai"])
    async def list_input_items(
        response_id: str,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        order: input_items.Order = "desc",
        after: str | None = None,
    ) -> dict[str, Any]:
        """A stored response's own input items (made with the calling key), newest first
        unless `order=asc`, `limit` at a time after the item `after`."""
        key = await handlers.openai_key(request.headers)
        messages = await handlers.store.own_input(response_id, key.id)
        return input_items.page(response_id, messages, limit, order, after)

    @api.delete("/v1/responses/{response_id}", tags=["openai"])
    async def delete_response(response_id: str, request: Request) -> dict[str, Any]:
        """Forget a stored response; responses that continued it can no longer be continued."""
        key = await handlers.openai_key(request.headers)
        await handlers.store.delete(response_id, key.id)
        return {"id": response_id, "object": "response", "deleted": True}

    @api.post("/v1/messages", tags=["anthropic"])
    async def create_message(
        body: messages.MessagesIn, request: Request, x_api_key: ApiKey = None
    ) -> Response:
        """Anthropic's Messages API, answered by the router through chat completions: system,
        text, image, tool_use and tool_result blocks, tools with input_schema, tool_choice,
        stop_sequences, streaming with Anthropic's events, errors in Anthropic's shape. Auth
        by `x-api-key` or `Authorization: Bearer`; any `anthropic-version` is accepted."""
        return await handlers.create_message(await request.body(), request.headers)

    @api.post("/v1/messages/route", tags=["anthropic"])
    async def route_message(
        body: messages.MessagesIn, request: Request, x_api_key: ApiKey = None
    ) -> dict[str, Any]:
        """The decision for this Messages request without calling any model, and the chat
        request it became."""
        return await handlers.route_message(await request.body(), request.headers)

    @api.post("/v1/messages/count_tokens", tags=["anthropic"])
    async def count_tokens(
        body: messages.CountTokensIn, request: Request, x_api_key: ApiKey = None
    ) -> dict[str, Any]:
        """Input tokens as the router estimates them for routing and budgets."""
        return await handlers.count_tokens(await request.body(), request.headers)

    return api
