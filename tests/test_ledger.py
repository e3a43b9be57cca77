"""The usage ledger writes batches on both databases, keeps them when the database is away,
and the usage summary reads them back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from router.accounts import repository as repo
from router.accounts.ledger import Ledger, UsageEntry
from tests.factories import usage_entry

pytestmark = pytest.mark.anyio


def entry(route_id: str, model: str, cost: str, day: dt.datetime | None = None) -> UsageEntry:
    return usage_entry(
        route_id,
        model_name=model,
        cost_usd=Decimal(cost),
        created_at=day or dt.datetime.now(dt.UTC),
    )


async def test_batches_reach_the_database(sessions: sessionmaker[Session]) -> None:
    ledger = Ledger(sessions, batch_size=3)
    for i in range(7):
        ledger.record(entry(f"r{i}", "a/model" if i % 2 else "b/model", "0.0000010000"))
    assert ledger.pending == 7
    assert await ledger.flush() == 7 and ledger.pending == 0
    today = dt.datetime.now(dt.UTC).date()
    with sessions() as session:
        rows = {
            r.model_name: r
            for r in repo.usage_rows(session, None, today, today + dt.timedelta(days=1))
        }
    assert rows["a/model"].requests == 3 and rows["b/model"].requests == 4
    assert rows["b/model"].cost_usd == Decimal("0.000004")
    assert rows["b/model"].input_tokens == 40 and rows["b/model"].day == today.isoformat()


def _rename_table(sessions: sessionmaker[Session], old: str, new: str) -> None:
    with sessions() as session:
        session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
        session.commit()


async def test_a_failed_write_keeps_the_batch(sessions: sessionmaker[Session]) -> None:
    ledger = Ledger(sessions)
    _rename_table(sessions, "usage_records", "usage_records_away")  # the table is gone
    ledger.record(entry("first", "a/model", "0"))
    ledger.record(entry("second", "a/model", "0"))
    assert await ledger.flush() == 0
    assert ledger.pending == 2  # kept for the next try, in order
    _rename_table(sessions, "usage_records_away", "usage_records")
    assert await ledger.flush() == 2 and ledger.pending == 0


async def test_a_record_delivered_twice_is_written_once(sessions: sessionmaker[Session]) -> None:
    ledger = Ledger(sessions)
    ledger.record(entry("dup", "a/model", "1"))
    await ledger.flush()
    ledger.record(entry("dup", "a/model", "1"))  # delivered again, after a crash say
    ledger.record(entry("fresh", "a/model", "1"))
    assert await ledger.flush() == 2
    with sessions() as session:
        rows = repo.usage_rows(session, None, dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    assert sum(r.requests for r in rows) == 2


async def test_days_outside_the_window_are_left_out(sessions: sessionmaker[Session]) -> None:
    ledger = Ledger(sessions)
    old = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    ledger.record(entry("old", "a/model", "1", old))
    ledger.record(entry("new", "a/model", "2"))
    await ledger.flush()
    with sessions() as session:
        january = repo.usage_rows(session, None, dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    assert [(r.day, r.cost_usd) for r in january] == [("2024-01-01", Decimal(1))]
