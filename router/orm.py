"""The router's tables: API keys with their routing policy, the usage ledger, and stored
Responses API answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.orm import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiKey(Base):
    """A caller's key. Only a SHA-256 hash of the secret is stored; the prefix helps people
    recognise a key in lists without revealing it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Routing defaults for this key (min quality, privacy, usage profile, budgets…).
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UsageRecord(Base):
    """One routed request, priced. Written in batches by the ledger."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, index=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    # Names as they were: the ledger outlives renamed or removed catalog rows.
    model_name: Mapped[str | None] = mapped_column(String(200), index=True)
    deployment_name: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 10), default=Decimal(0))
    quality: Mapped[float | None] = mapped_column(Float)
    license_basis: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    stream: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    # The kinds of personal data or secrets privacy auto/redact found ("email=1, iban=1").
    privacy_findings: Mapped[str | None] = mapped_column(String(200))


class StoredResponse(Base):
    """A Responses API answer kept for `previous_response_id` and GET /v1/responses/{id}.
    `messages` are the chat messages it added to its conversation (its input, then its
    output), so a conversation is the chain of its responses' messages. Only the key that
    made it can read, continue or delete it."""

    __tablename__ = "stored_responses"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    previous_response_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
