"""Measured speed per deployment: time to first token and tokens per second, as exponential
moving averages of live traffic. They replace the speed an operator typed (or the default for
the kind) in the decision's estimated seconds, which is what `fastest` ranks by and what the
load spreader weighs by.

In one process by default; with Redis, each replica publishes its averages and reads the
others' every `refresh` seconds (SharedSpeeds), so all of them route on the fleet's numbers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from redis.exceptions import RedisError

from router.routing.deployment_table import DeploymentTable, Floats

log = logging.getLogger("modelyard.speed")
ALPHA = 0.3  # weight of the newest sample: a few requests move the average
MIN_SECONDS = 1e-3  # clocks are not that precise; nothing is infinitely fast


@dataclass
class Speed:
    ttft: float | None = None  # seconds to the first token (streams only)
    tokens_per_second: float | None = None
    samples: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_seconds": None if self.ttft is None else round(self.ttft, 4),
            "tokens_per_second": None
            if self.tokens_per_second is None
            else round(self.tokens_per_second, 2),
            "samples": self.samples,
        }


def _average(old: float | None, new: float) -> float:
    return new if old is None else old + ALPHA * (new - old)


COLUMNS_MAX_AGE = 0.25  # seconds a routing table may use slightly older averages


class SpeedBook:
    """Averages by deployment id; `columns` lines them up with a snapshot's deployment table."""

    def __init__(self) -> None:
        self.local: dict[int, Speed] = {}
        self.version = 0  # rises with every change: cached columns are rebuilt lazily
        # Per table: (version, speeds, first-token seconds, when built, deployments measured).
        self._columns: weakref.WeakKeyDictionary[
            DeploymentTable, tuple[int, Floats, Floats, float, int]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def observe(
        self, deployment_id: int, seconds: float, tokens: int, ttft: float | None = None
    ) -> None:
        """One answered request: `seconds` from the call to its last token, `tokens` produced,
        `ttft` seconds to the first token when it streamed."""
        speed = self.local.setdefault(deployment_id, Speed())
        interval = seconds
        if ttft is not None:
            speed.ttft = _average(speed.ttft, max(ttft, 0.0))
            interval = seconds - ttft
        if tokens > 0:
            # Without a stream, prefill and generation are one interval: tokens over all of it,
            # so a slow start shows as a slow deployment too.
            rate = tokens / max(interval, MIN_SECONDS)
            speed.tokens_per_second = _average(speed.tokens_per_second, rate)
        speed.samples += 1
        self.version += 1

    def current(self) -> dict[int, Speed]:
        return self.local

    def get(self, deployment_id: int) -> Speed | None:
        return self.current().get(deployment_id)

    def columns(self, table: DeploymentTable) -> tuple[Floats, Floats]:
        """(tokens per second, seconds to first token) for every deployment in the table:
        measured where known, else the table's assumed speed and no first-token delay."""
        cached = self._columns.get(table)
        now = time.monotonic()
        # Every answered request moves the averages a little; rebuilding the columns for each
        # one cost a plain request more than its decision's arithmetic. A quarter-second-old
        # average routes as well, unless a deployment was measured for the first time.
        if cached is not None and (
            cached[0] == self.version
            or (now - cached[3] < COLUMNS_MAX_AGE and cached[4] == len(self.current()))
        ):
            return cached[1], cached[2]
        with self._lock:
            version = self.version
            speed = table.speed.copy()
            ttft = np.zeros(len(table))
            known = self.current()
            if known:
                position = {int(d): i for i, d in enumerate(table.ids)}
                for deployment_id, measured in known.items():
                    i = position.get(deployment_id)
                    if i is None:
                        continue
                    if measured.tokens_per_second:
                        speed[i] = measured.tokens_per_second
                    if measured.ttft is not None:
                        ttft[i] = measured.ttft
            self._columns[table] = (version, speed, ttft, now, len(known))
        return speed, ttft


class SharedSpeeds(SpeedBook):
    """Each replica's averages in one Redis hash (field: deployment and replica), merged by
    sample count; samples older than `stale` seconds are ignored."""

    def __init__(
        self,
        client: Any,
        refresh: float = 1.0,
        stale: float = 600.0,
        prefix: str = "modelyard",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.redis = client
        self.refresh = refresh
        self.stale = stale
        self.key = f"{prefix}:speeds"
        self.replica = f"{os.getpid()}-{os.urandom(4).hex()}"
        self.clock = clock
        self.unavailable = 0
        self._merged: dict[int, Speed] = {}

    def current(self) -> dict[int, Speed]:
        return self._merged or self.local

    async def sync(self) -> None:
        now = self.clock()
        mine = {
            f"{deployment_id}|{self.replica}": json.dumps(
                [s.ttft, s.tokens_per_second, s.samples, now]
            )
            for deployment_id, s in self.local.items()
        }
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if mine:
                    pipe.hset(self.key, mapping=mine)
                pipe.hgetall(self.key)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.unavailable += 1
            log.warning("redis unavailable for deployment speeds (%s)", exc)
            return
        merged = merge(results[-1], now - self.stale)
        for deployment_id, s in self.local.items():
            merged.setdefault(deployment_id, s)  # ours, even if Redis lost them
        self._merged = merged
        self.version += 1

    async def run(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(self.refresh)


def merge(fields: dict[bytes, bytes], since: float) -> dict[int, Speed]:
    """Replicas' averages, weighted by how many samples each saw."""
    sums: dict[int, list[float]] = {}
    for field, value in fields.items():
        try:
            deployment_id = int(field.decode().split("|", 1)[0])
            ttft, tps, samples, at = json.loads(value)
        except (ValueError, TypeError):
            continue  # a field this version does not understand
        if at < since or not samples:
            continue
        acc = sums.setdefault(deployment_id, [0.0, 0.0, 0.0, 0.0, 0.0])
        if ttft is not None:
            acc[0] += ttft * samples
            acc[1] += samples
        if tps is not None:
            acc[2] += tps * samples
            acc[3] += samples
        acc[4] += samples
    return {
        d: Speed(
            acc[0] / acc[1] if acc[1] else None,
            acc[2] / acc[3] if acc[3] else None,
            int(acc[4]),
        )
        for d, acc in sums.items()
    }
