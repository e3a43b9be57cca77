"""All SQL of learning from traffic: outcomes in, feedback in, tallies out, old rows away."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from router.quality.orm import RouteFeedback, RouteOutcome


def add_outcomes(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany; a route already written (delivered again) is skipped."""
    table = cast(Table, RouteOutcome.__table__)
    dialect = session.get_bind().dialect.name
    statement: Any = insert(table)
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=["route_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=["route_id"])
    session.connection().execute(statement, list(rows))


def name_response(session: Session, route_id: str, response_id: str) -> bool:
    """False when the route is not written yet."""
    result = session.execute(
        update(RouteOutcome)
        .where(RouteOutcome.route_id == route_id)
        .values(response_id=response_id)
    )
    return bool(getattr(result, "rowcount", 0))


def find_route(session: Session, ref: str) -> RouteOutcome | None:
    """The outcome a route id, or a Responses API response id, names."""
    return session.scalars(
        select(RouteOutcome).where(
            or_(RouteOutcome.route_id == ref, RouteOutcome.response_id == ref)
        )
    ).first()


def put_feedback(
    session: Session, route_id: str, name: str, score: float, api_key_id: int | None
) -> bool:
    """Store the score; True when it replaced an earlier one for the same (route, name)."""
    found = session.scalars(
        select(RouteFeedback).where(RouteFeedback.route_id == route_id, RouteFeedback.name == name)
    ).first()
    now = dt.datetime.now(dt.UTC)
    if found is not None:
        found.score, found.api_key_id, found.updated_at = score, api_key_id, now
        return True
    session.add(
        RouteFeedback(
            route_id=route_id, name=name, score=score, api_key_id=api_key_id, updated_at=now
        )
    )
    return False


class TallyRow(NamedTuple):
    scope: str
    model: str
    task: str
    template: str
    scores: int
    total: float  # the sum of the scores


def tallies(session: Session, name: str) -> list[TallyRow]:
    """Scores of one metric per (scope, model, task, template), over everything kept."""
    rows = session.execute(
        select(
            RouteOutcome.scope,
            RouteOutcome.model_name,
            RouteOutcome.task,
            RouteOutcome.template,
            func.count(RouteFeedback.id),
            func.sum(RouteFeedback.score),
        )
        .join(RouteFeedback, RouteFeedback.route_id == RouteOutcome.route_id)
        .where(RouteFeedback.name == name)
        .group_by(
            RouteOutcome.scope, RouteOutcome.model_name, RouteOutcome.task, RouteOutcome.template
        )
    )
    return [TallyRow(s, m, t, tp, int(n), float(total or 0.0)) for s, m, t, tp, n, total in rows]


class SpendRow(NamedTuple):
    scope: str
    model: str
    task: str
    exploration: str
    requests: int
    cost_usd: float


def exploration_spend(session: Session, since: dt.datetime) -> list[SpendRow]:
    """What exploring cost since `since`, per scope, model and task."""
    rows = session.execute(
        select(
            RouteOutcome.scope,
            RouteOutcome.model_name,
            RouteOutcome.task,
            RouteOutcome.exploration,
            func.count(),
            func.sum(RouteOutcome.cost_usd),
        )
        .where(RouteOutcome.exploration != "", RouteOutcome.created_at >= since)
        .group_by(
            RouteOutcome.scope, RouteOutcome.model_name, RouteOutcome.task, RouteOutcome.exploration
        )
    )
    return [SpendRow(s, m, t, e, int(n), float(c or 0)) for s, m, t, e, n, c in rows]


def purge(session: Session, before: dt.datetime) -> int:
    """Forget outcomes (and their scores) older than `before`; returns how many."""
    old = select(RouteOutcome.route_id).where(RouteOutcome.created_at < before)
    # Feedback first: SQLite honours ON DELETE CASCADE only with its pragma, so say it.
    session.execute(delete(RouteFeedback).where(RouteFeedback.route_id.in_(old)))
    result = session.execute(delete(RouteOutcome).where(RouteOutcome.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
