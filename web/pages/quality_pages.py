"""The Quality page: per model and task, what the router believed before any feedback (the
prior), what the callers' scores changed it to, how many scores, and what exploring cost.
A key sees its own scope (its team, or the whole install); an admin key sees every scope."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from router.accounts import KeyCache, KeyView
from router.pipeline import Gateway
from router.quality import exploration_spend
from web.pages.forms import signed_in as signed_in_key
from web.pages.rendering import render

SPEND_DAYS = 30  # exploration spend shown: the last 30 days


@dataclass(frozen=True)
class QualityRow:
    scope: str
    model: str
    task: str
    prior: float | None  # None: the model is not in the catalog any more
    prior_basis: str
    learned: float
    low: float | None
    high: float | None
    scores: int
    mean_score: float
    explored: int
    exploration_usd: float


def quality_rows(gateway: Gateway, session: Session, scopes: set[str] | None) -> list[QualityRow]:
    """One row per (scope, model, task) with scores or exploration spend; `scopes` None: all."""
    traffic = gateway.learning
    if traffic is None:
        return []
    learning = traffic.learning
    snapshot = gateway.snapshot()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=SPEND_DAYS)
    spend: dict[tuple[str, str, str], tuple[int, float]] = {}
    for row in exploration_spend(session, since):
        requests, usd = spend.get((row.scope, row.model, row.task), (0, 0.0))
        spend[(row.scope, row.model, row.task)] = (requests + row.requests, usd + row.cost_usd)
    keys = set(learning.tasks) | set(spend)
    rows = []
    for scope, model_id, task in sorted(keys):
        if scopes is not None and scope not in scopes:
            continue
        tally = learning.tasks.get((scope, model_id, task))
        model = snapshot.find(model_id)
        prior = learned = None
        if model is not None:
            prior = gateway.estimator.estimate("", task, model, snapshot)
            # The task's posterior (no template): what the page can say for the whole task.
            learned = learning.posterior(prior, scope, model_id, task, "")
        explored, usd = spend.get((scope, model_id, task), (0, 0.0))
        rows.append(
            QualityRow(
                scope=scope,
                model=model_id,
                task=task,
                prior=prior.probability if prior else None,
                prior_basis=prior.basis if prior else "not in the catalog any more",
                learned=learned.probability if learned else 0.0,
                low=learned.low if learned else None,
                high=learned.high if learned else None,
                scores=tally.scores if tally else 0,
                mean_score=tally.total / tally.scores if tally and tally.scores else 0.0,
                explored=explored,
                exploration_usd=usd,
            )
        )
    return rows


def make_router(
    gateway: Gateway, keys: KeyCache, session_dependency: Callable[..., Any]
) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
    pages = APIRouter(include_in_schema=False)

    async def signed_in(request: Request) -> KeyView | None:
        return await signed_in_key(request, keys)

    @pages.get("/quality")
    def quality(
        request: Request, session: SessionDep, key: Annotated[KeyView | None, Depends(signed_in)]
    ) -> Response:
        if key is None:
            return render(request, "quality.html", {"key": None, "rows": [], "scope": None})
        traffic = gateway.learning
        scope = traffic.learning.scope_of(key.policy.team) if traffic else ""
        rows = quality_rows(gateway, session, None if key.is_admin else {scope})
        context = {
            "key": key,
            "rows": rows,
            "scope": scope,
            "days": SPEND_DAYS,
            "scope_by": traffic.learning.scope_by if traffic else "team",
        }
        return render(request, "quality.html", context)

    return pages
