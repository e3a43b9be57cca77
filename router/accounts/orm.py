"""The accounts' tables: API keys with their routing policy, teams, the usage ledger, the
admin audit log and each key's pinned embedding model. (Stored Responses API answers live
with their API, in router/api/orm.py.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.orm import Base


def now_utc() -> dt.datetime:
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
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # After a rotation the old secret's hash keeps working until `previous_valid_until`, so
    # clients can move to the new secret without an outage.
    previous_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    previous_valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Team(Base):
    """Keys that share budgets and a policy. A key is a member when its policy names the team;
    the team's policy binds it (router/accounts/policy_limits.py)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    budget_usd_per_day: Mapped[float | None] = mapped_column(Float)
    budget_usd_per_month: Mapped[float | None] = mapped_column(Float)
    # Routing limits and defaults (a TeamPolicy) for every key of the team.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc)


class AuditEntry(Base):
    """One admin action: who, what, when, the target before and after, the request's id.
    Append-only: the ORM refuses updates and deletes (router/accounts/audit.py), and the migration
    adds database triggers that refuse them too."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    # No foreign key: the record outlives the key that made the change.
    actor_key_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(300), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)


class UsageRecord(Base):
    """One routed request, priced. Written in batches by the ledger."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, index=True
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
    # "explore" or "unproven" when the request went to an uncertain candidate to learn.
    exploration: Mapped[str | None] = mapped_column(String(16))


class EmbeddingPin(Base):
    """The model a key's `auto` embeddings come from: vectors of different models cannot be
    compared, so the first choice sticks. One row per key; the unique key makes the first
    writer win when replicas race."""

    __tablename__ = "embedding_pins"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    model_name: Mapped[str] = mapped_column(String(200))  # the catalog id (hf_id)
    route_id: Mapped[str | None] = mapped_column(String(64))  # the request that made the choice
    pinned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
