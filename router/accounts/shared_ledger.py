"""The usage ledger for several replicas: each record goes to a Redis list before the answer
leaves, so a replica that crashes loses none; writers move batches to a processing list of
their own, write them to the database, then drop that list. A writer that died between the
two leaves its processing list behind, and the next writer that sees its heartbeat gone
writes it again: the database skips route ids it already has, so every record lands once.

If Redis is away, records take the in-process path (buffered here, written in batches) and
resume through Redis when it returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router.accounts.ledger import Ledger, UsageEntry, write_entries

log = logging.getLogger("modelyard.ledger")

# KEYS: the shared queue, this writer's processing list. ARGV: how many to claim.
_CLAIM = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('RPUSH', KEYS[2], unpack(items))
  redis.call('LTRIM', KEYS[1], #items, -1)
end
return items
"""


def encode(entry: UsageEntry) -> str:
    values = dict(vars(entry))
    values["cost_usd"] = str(entry.cost_usd)
    values["created_at"] = entry.created_at.isoformat()
    return json.dumps(values)


def decode(raw: bytes | str) -> UsageEntry:
    values: dict[str, Any] = json.loads(raw)
    values["cost_usd"] = Decimal(values["cost_usd"])
    values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
    return UsageEntry(**values)


class SharedLedger(Ledger):
    def __init__(
        self,
        factory: sessionmaker[Session],
        client: Any,
        batch_size: int = 200,
        interval: float = 0.5,
        heartbeat: float = 10.0,
        prefix: str = "modelyard",
    ) -> None:
        super().__init__(factory, batch_size, interval)
        self.redis = client
        self.writer = f"{os.uname().nodename}-{os.getpid()}-{os.urandom(4).hex()}"
        self.queue = f"{prefix}:ledger:queue"
        self.processing_prefix = f"{prefix}:ledger:processing:"
        self.alive_prefix = f"{prefix}:ledger:alive:"
        self.heartbeat = heartbeat
        self.unavailable = 0
        self._claim = client.register_script(_CLAIM)

    @property
    def processing(self) -> str:
        return self.processing_prefix + self.writer

    def _away(self, what: str, exc: Exception) -> bool:
        from redis.exceptions import RedisError

        if not isinstance(exc, RedisError | OSError):
            raise exc
        self.unavailable += 1
        log.warning("redis unavailable for the ledger (%s: %s)", what, exc)
        return True

    async def add(self, entry: UsageEntry) -> None:
        try:
            await self.redis.rpush(self.queue, encode(entry))
        except Exception as exc:
            self._away("record", exc)
            self.record(entry)  # this replica's buffer, written straight to the database

    async def flush(self) -> int:
        written = await super().flush()  # anything buffered while Redis was away
        try:
            await self.redis.set(
                self.alive_prefix + self.writer, "1", ex=max(1, int(self.heartbeat))
            )
            written += await self._write_orphans()
            while True:
                claimed = await self._claim(
                    keys=[self.queue, self.processing], args=[self._batch_size]
                )
                mine = await self.redis.lrange(self.processing, 0, -1)
                if not mine:
                    break
                await asyncio.to_thread(write_entries, self._factory, [decode(r) for r in mine])
                await self.redis.delete(self.processing)
                written += len(mine)
                if not claimed:
                    break
        except Exception as exc:
            from redis.exceptions import RedisError

            if isinstance(exc, RedisError | OSError):
                self._away("write", exc)
            else:  # the database is away: the processing list waits in Redis for the next try
                log.exception("ledger write failed; the batch stays in Redis for the next try")
        return written

    async def _write_orphans(self) -> int:
        """Processing lists of writers whose heartbeat is gone: written again, once."""
        written = 0
        async for key in self.redis.scan_iter(match=self.processing_prefix + "*"):
            name = key.decode() if isinstance(key, bytes) else str(key)
            writer = name.removeprefix(self.processing_prefix)
            if writer == self.writer or await self.redis.exists(self.alive_prefix + writer):
                continue
            orphaned = await self.redis.lrange(name, 0, -1)
            if orphaned:
                await asyncio.to_thread(write_entries, self._factory, [decode(r) for r in orphaned])
                written += len(orphaned)
            await self.redis.delete(name)
            log.info("ledger: wrote %d records left by writer %s", len(orphaned), writer)
        return written

    async def aclose(self) -> None:
        await super().aclose()
        try:
            await self.redis.delete(self.alive_prefix + self.writer)
        except Exception as exc:
            self._away("close", exc)
