"""POST /v1/feedback: the caller's score (0-1) for an answer, named by the route id every
answer carries (`x-modelyard-route-id`) or by a Responses API `response.id`. Scores move the
router's quality estimates for the caller's scope (router/quality/feedback.py)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.accounts.keys import KeyCache, KeyView
from router.core.errors import RouteError
from router.pipeline.gateway import Gateway
from router.quality import repository as repo
from router.quality.feedback import LEARNED_METRIC
from router.quality.traffic import OutcomeRecorder


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route_id: str = Field(
        min_length=1,
        max_length=100,
        description="The answer's x-modelyard-route-id header, or a Responses API response.id",
    )
    score: float = Field(ge=0, le=1, strict=True, description="How good the answer was, 0-1")
    name: str = Field(
        default=LEARNED_METRIC,
        min_length=1,
        max_length=64,
        pattern=r"^[\w.\-:]+$",
        description=f"The metric; '{LEARNED_METRIC}' (the default) is the one learned from",
    )


def make_router(
    gateway: Gateway,
    keys: KeyCache,
    factory: sessionmaker[Session],
    recorder: OutcomeRecorder,
) -> APIRouter:
    api = APIRouter()

    async def rate_limited(key: KeyView) -> dict[str, str]:
        """A score counts as a request against the key's per-minute limit."""
        limits = gateway.limits_for(key)
        if not limits.rated:
            return {}
        verdict = await gateway.limits.admit(key.id, limits, 0)
        if not verdict.allowed:
            wait = max(1, math.ceil(verdict.retry_after))
            raise RouteError(
                f"rate limit reached for this key; retry in {wait} s",
                "rate_limit_exceeded",
                429,
                headers={**verdict.headers, "Retry-After": str(wait)},
            )
        return verdict.headers

    def store(body: FeedbackIn, key: KeyView) -> dict[str, Any] | None:
        with transaction(factory) as session:
            found = repo.find_route(session, body.route_id)
            if found is None or (found.api_key_id != key.id and not key.is_admin):
                return None
            replaced = repo.put_feedback(session, found.route_id, body.name, body.score, key.id)
            return {
                "object": "feedback",
                "route_id": found.route_id,
                "name": body.name,
                "score": body.score,
                "model": found.model_name,
                "replaced": replaced,
            }

    @api.post("/v1/feedback", tags=["router"])
    async def feedback(
        body: FeedbackIn,
        response: Response,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Score an answer. Only the key that made the request, or an admin, may; another
        key's route, an unknown one or one past the retention period is a 404. Sending the
        same (route, name) again replaces the score."""
        key = await keys.authenticate(authorization)
        response.headers.update(await rate_limited(key))
        stored = await asyncio.to_thread(store, body, key)
        if stored is None:
            # An answer of the last moments may still be in this replica's buffer, or on its
            # way to the database.
            await recorder.flush()
            stored = await asyncio.to_thread(store, body, key)
        if stored is None:
            raise RouteError(
                f"no route '{body.route_id}' for this key: unknown, past retention, or "
                "another key's",
                "route_not_found",
                404,
                param="route_id",
            )
        return stored

    return api
