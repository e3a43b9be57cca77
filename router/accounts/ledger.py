"""The usage ledger: one record per routed request, buffered in memory and written in batches
off the request path. A clean shutdown flushes everything still buffered."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.accounts.orm import UsageRecord

log = logging.getLogger("modelyard.ledger")


@dataclass
class UsageEntry:
    route_id: str
    api_key_id: int | None
    model_id: int | None
    model_name: str | None
    deployment_id: int | None
    deployment_name: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    quality: float | None
    license_basis: str | None
    attempts: int
    stream: bool
    latency_ms: int
    status: str  # ok, partial, failed
    error: str | None = None
    # Under privacy auto/redact, the kinds found and their count ("email=1, iban=1" or
    # "none"); never the text. None: the request was not scanned.
    privacy_findings: str | None = None
    # "explore" or "unproven": an uncertain candidate answered (router/routing/exploration.py)
    exploration: str | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def write_entries(factory: sessionmaker[Session], batch: list[UsageEntry]) -> None:
    """One executemany through Core on the table (the ORM's unit of work, and its bulk path
    that fetches ids back, cost a seventh of the gateway's CPU under load). A record already
    written (the same route id, delivered again after a crash) is skipped: exactly once."""
    table = cast(Table, UsageRecord.__table__)
    rows = [dict(vars(entry)) for entry in batch]  # asdict() deep-copies every field
    with transaction(factory) as session:
        dialect = session.get_bind().dialect.name
        statement: Any
        if dialect == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=["route_id"])
        elif dialect == "sqlite":
            statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=["route_id"])
        else:
            statement = insert(table)
        session.connection().execute(statement, rows)


class Ledger:
    def __init__(
        self, factory: sessionmaker[Session], batch_size: int = 200, interval: float = 0.5
    ) -> None:
        self._factory = factory
        self._batch_size = batch_size
        self._interval = interval
        self._pending: deque[UsageEntry] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def record(self, entry: UsageEntry) -> None:
        """Never blocks the request: the entry waits for the next batch."""
        self._pending.append(entry)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-ledger")

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        written = 0
        while self._pending:
            batch = [
                self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))
            ]
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception:  # the database is away: keep the batch for the next try
                log.exception("ledger write failed; %d records kept for retry", len(batch))
                self._pending.extendleft(reversed(batch))
                return written
            written += len(batch)
        return written

    def _write(self, batch: list[UsageEntry]) -> None:
        write_entries(self._factory, batch)

    async def add(self, entry: UsageEntry) -> None:
        """Record an entry; the shared ledger awaits Redis here, this one only buffers."""
        self.record(entry)

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()
