"""Pages that act as a key: sign in, the router playground and spend. The key lives in an
HttpOnly, SameSite=Strict cookie, so page scripts never see it and other sites cannot
send it; the API itself still takes only `Authorization: Bearer`."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from catalog.schemas import UsageProfile
from router.accounts import KeyCache, KeyView, summarise_usage
from router.accounts import repository as repo
from router.api import SSE_HEADERS
from router.core import (
    ChatCompletionIn,
    PrivacyRule,
    RouteControls,
    RouteError,
    Strategy,
    Unauthorized,
)
from router.pipeline import Gateway
from web.pages import charts
from web.pages.forms import form_text, local_path, same_origin
from web.pages.forms import signed_in as signed_in_key
from web.pages.queries import (
    KEY_COOKIE,
    PageInputError,
    describe_profile,
    given,
    saved_profile,
    validate,
)
from web.pages.rendering import render

SPEND_DAYS = 30  # the period shown when none is asked for
MAX_SPEND_DAYS = 366  # the charts have a bar for every day


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlaygroundForm(_Form):
    """The playground's form: one user message and the routing controls a caller can set."""

    prompt: str = Field(min_length=1, max_length=20_000)
    model: str = Field(default="auto", min_length=1, max_length=200)
    max_tokens: int = Field(default=128, ge=1, le=4096)
    strategy: Strategy | None = None
    min_quality: float | None = Field(default=None, ge=0, le=1)
    max_cost_usd: float | None = Field(default=None, ge=0, le=1000)
    privacy: PrivacyRule | None = None
    apply_profile: bool = False

    def request(self, profile: UsageProfile | None, stream: bool) -> ChatCompletionIn:
        # Fields left empty stay None, and None falls through to the key's policy.
        controls = RouteControls(
            strategy=self.strategy,
            min_quality=self.min_quality,
            max_cost_usd=self.max_cost_usd,
            privacy=self.privacy,
            use=profile if self.apply_profile else None,
        )
        return ChatCompletionIn(
            model=self.model,
            messages=[{"role": "user", "content": self.prompt}],
            max_tokens=self.max_tokens,
            stream=stream,
            route=controls,
        )


class SpendQuery(_Form):
    since: dt.date | None = None
    until: dt.date | None = None
    reference: str | None = Field(default=None, max_length=200)
    all_keys: bool = False


def make_router(
    gateway: Gateway, keys: KeyCache, session_dependency: Callable[..., Any]
) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
    pages = APIRouter(include_in_schema=False)

    async def signed_in(request: Request) -> KeyView | None:
        return await signed_in_key(request, keys)

    async def require_key(request: Request) -> KeyView:
        key = await signed_in(request)
        if key is None:
            raise Unauthorized("sign in with an API key first (the Sign in page)")
        return key

    SignedIn = Annotated[KeyView | None, Depends(signed_in)]
    Caller = Annotated[KeyView, Depends(require_key)]
    posted = [Depends(same_origin)]

    @pages.get("/signin")
    def signin_form(request: Request, key: SignedIn) -> Response:
        target = local_path(request.query_params.get("next"), "/playground")
        return render(request, "signin.html", {"next": target, "key": key, "error": None})

    @pages.post("/signin", dependencies=posted)
    async def signin(request: Request) -> Response:
        values = dict(parse_qsl(await form_text(request)))
        target = local_path(values.get("next"), "/playground")
        secret = values.get("key", "").strip()
        try:
            await keys.authenticate(f"Bearer {secret}")
        except Unauthorized:
            context = {"next": target, "key": None, "error": "That key is not valid or revoked."}
            return render(request, "signin.html", context, 401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            KEY_COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @pages.post("/signout", dependencies=posted)
    def signout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(KEY_COOKIE, path="/")
        return response

    @pages.get("/playground")
    def playground(request: Request, key: SignedIn) -> Response:
        snapshot = gateway.snapshot()
        routable = sorted(
            m.hf_id
            for m in snapshot.models.values()
            if any(d.status == "active" for d in m.deployments)
        )
        profile = saved_profile(request.cookies)
        context = {
            "key": key,
            "models": routable,
            "profile_words": describe_profile(profile) if profile else None,
        }
        return render(request, "playground.html", context)

    async def playground_request(request: Request, stream: bool) -> ChatCompletionIn:
        values = given(parse_qsl(await form_text(request)))
        form = validate(PlaygroundForm, values)
        return form.request(saved_profile(request.cookies), stream)

    @pages.post("/playground/decision", dependencies=posted)
    async def decision(request: Request, key: Caller) -> Response:
        """The router's decision for the form, without calling a model."""
        body = await playground_request(request, stream=False)
        plan = await gateway.plan(body, gateway.controls(body, {}, key), key)
        policy = gateway.policy_view(body, {}, key)
        return render(request, "_decision.html", {"decision": plan.as_dict(), "policy": policy})

    @pages.post("/playground/stream", dependencies=posted)
    async def stream(request: Request, key: Caller) -> Response:
        """The answer as server-sent events, exactly as /v1/chat/completions streams it."""
        body = await playground_request(request, stream=True)
        events, headers = await gateway.stream(body, {}, key)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={**SSE_HEADERS, **headers}
        )

    @pages.get("/spend")
    def spend(request: Request, session: SessionDep, key: SignedIn) -> Response:
        if key is None:
            return render(request, "spend.html", {"key": None, "error": None, "usage": None})
        values = given(request.query_params.multi_items())
        error, usage = None, None
        try:
            query = validate(SpendQuery, values)
            last = query.until or dt.datetime.now(dt.UTC).date()
            first = query.since or last - dt.timedelta(days=SPEND_DAYS)
            if first > last:
                raise RouteError("since is after until", param="since")
            if (last - first).days > MAX_SPEND_DAYS:
                raise RouteError(f"show at most {MAX_SPEND_DAYS} days at a time", param="since")
            every_key = key.is_admin and query.all_keys
            rows = repo.usage_rows(
                session, None if every_key else key.id, first, last + dt.timedelta(days=1)
            )
            reference = query.reference or key.policy.reference_model
            known = gateway.snapshot().find(reference) if reference else None
            if known is not None:  # an alias shows as the model it names
                values["reference"] = reference = known.hf_id
            usage = summarise_usage(rows, gateway.snapshot(), reference, first, last)
        except RouteError as exc:
            error = exc.message
        except PageInputError as exc:
            error = str(exc)
        models = sorted(m.hf_id for m in gateway.snapshot().models.values())
        context = {
            "key": key,
            "error": error,
            "usage": usage,
            "series": charts.spend_series(usage) if usage else None,
            "values": values,
            "models": models,
        }
        return render(request, "spend.html", context, 400 if error else 200)

    return pages
