"""What learning keeps of live traffic: one row per routed request (its outcome, waiting for
feedback) and the caller's scores for it. Written off the request path (router/quality/
traffic.py); read by the feedback endpoint and, aggregated, by every replica's learner."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalog.orm import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RouteOutcome(Base):
    """A routed request as learning needs it: who asked (key, and the scope its scores count
    in), what answered, the task and a fixed-size feature vector of the prompt. Never the
    prompt's text, unless the key's policy says `store_prompts: true`."""

    __tablename__ = "route_outcomes"

    route_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The Responses API's `response.id`, which feedback may name instead of the route id.
    response_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, index=True
    )
    # No foreign key: an outcome (and what was learned from it) outlives a deleted key.
    api_key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(String(64), default="")  # team, or "" for the install
    model_name: Mapped[str] = mapped_column(String(200))
    deployment_name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(32))
    # The prompt's opening, hashed: requests from one template (a system prompt, a few-shot
    # preamble) share it, so learning can tell them apart from the rest of their task.
    template: Mapped[str] = mapped_column(String(16))
    features: Mapped[bytes] = mapped_column(LargeBinary)  # float32, FEATURE_SIZE values
    prompt: Mapped[str | None] = mapped_column(Text)
    # "": routed as usual; "explore": a share sent to an uncertain candidate; "unproven":
    # no candidate was known to meet the need, so an uncertain one answered.
    exploration: Mapped[str] = mapped_column(String(16), default="")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 10), default=Decimal(0))


class RouteFeedback(Base):
    """A caller's score (0-1) for one route, one row per metric name: sending the same
    (route, name) again replaces the score."""

    __tablename__ = "route_feedback"
    __table_args__ = (UniqueConstraint("route_id", "name", name="uq_route_feedback"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[str] = mapped_column(
        ForeignKey("route_outcomes.route_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    api_key_id: Mapped[int | None] = mapped_column(Integer)  # who sent it (the owner or an admin)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, index=True
    )
