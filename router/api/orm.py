"""Stored Responses API answers: the one table of the API surfaces. It refers to the key that
made each answer (accounts' `api_keys`), so importing it registers the accounts' tables too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.orm import Base
from router.accounts.orm import now_utc


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
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
