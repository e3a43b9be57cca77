"""Outcomes from live traffic: what each routed request leaves for learning, buffered in
memory and written in batches off the request path (as the usage ledger is).

The request path only appends an entry holding the prompt's text; the batch writer turns the
text into a fixed-size feature vector (feature hashing of its words: a few microseconds per
kilobyte, no model to load) and a template signature, then drops the text unless the key's
policy lets prompts be stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.quality import repository as repo

log = logging.getLogger("modelyard.learning")

FEATURE_SIZE = 128  # hashed word features per prompt, stored as float32
FEATURE_CHARS = 4000  # the prompt's first characters are enough to say what it is
TEMPLATE_CHARS = 80  # the opening that names a template (system prompt, few-shot preamble)
_WORD = re.compile(r"\w+")


def prompt_features(text: str) -> npt.NDArray[np.float32]:
    """The prompt's words hashed into FEATURE_SIZE signed buckets, scaled to unit length."""
    vector = np.zeros(FEATURE_SIZE, dtype=np.float32)
    for word in _WORD.findall(text[:FEATURE_CHARS].lower()):
        bucket = zlib.crc32(word.encode())
        vector[bucket % FEATURE_SIZE] += 1.0 if bucket & 0x80000000 else -1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def template_of(prompt: str) -> str:
    """A signature of the prompt's opening, whitespace-normalised: prompts made from one
    template share it; a free-form prompt gets one of its own."""
    opening = " ".join(prompt[: TEMPLATE_CHARS * 2].split())[:TEMPLATE_CHARS]
    return hashlib.blake2b(opening.encode(), digest_size=8).hexdigest()


@dataclass
class OutcomeEntry:
    route_id: str
    api_key_id: int | None
    scope: str
    model_name: str
    deployment_name: str
    task: str
    prompt: str  # kept only in memory until the batch is written
    store_prompt: bool
    exploration: str = ""
    cost_usd: Decimal = Decimal(0)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def row(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "response_id": None,
            "created_at": self.created_at,
            "api_key_id": self.api_key_id,
            "scope": self.scope,
            "model_name": self.model_name,
            "deployment_name": self.deployment_name,
            "task": self.task,
            "template": template_of(self.prompt),
            "features": prompt_features(self.prompt).tobytes(),
            "prompt": self.prompt if self.store_prompt else None,
            "exploration": self.exploration,
            "cost_usd": self.cost_usd,
        }


class OutcomeRecorder:
    """Buffers outcomes and writes them every `interval` seconds, or at `batch_size`; forgets
    those older than `retention_days` once an hour. A clean shutdown writes what is left."""

    PURGE_SECONDS = 3600.0

    def __init__(
        self,
        factory: sessionmaker[Session],
        retention_days: float = 90.0,
        batch_size: int = 200,
        interval: float = 0.5,
    ) -> None:
        self._factory = factory
        self.retention_days = retention_days
        self._batch_size = batch_size
        self._interval = interval
        self._pending: deque[OutcomeEntry] = deque()
        # Route id → (Responses API id, tries): a streamed answer's route is written when its
        # stream ends, which may be after its id is known.
        self._names: dict[str, tuple[str, int]] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._purged_at = 0.0

    def record(self, entry: OutcomeEntry) -> None:
        """Never blocks the request: the entry waits for the next batch."""
        self._pending.append(entry)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def name_response(self, route_id: str, response_id: str) -> None:
        """The Responses API id of a route, so feedback may name either."""
        self._names[route_id] = (response_id, 0)

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._names)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outcome-recorder")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self.flush()
            if loop.time() - self._purged_at > self.PURGE_SECONDS:
                self._purged_at = loop.time()
                await self.purge()

    async def flush(self) -> int:
        """Write what is buffered; a batch already on its way is waited for first, so after
        this returns every outcome recorded before the call is in the database."""
        async with self._writing:
            return await self._flush()

    async def _flush(self) -> int:
        written = 0
        while self._pending or self._names:
            batch = [
                self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))
            ]
            names, self._names = self._names, {}
            try:
                later = await asyncio.to_thread(self._write, batch, names)
            except Exception:  # the database is away: keep everything for the next try
                log.exception("outcome write failed; %d kept for retry", len(batch))
                self._pending.extendleft(reversed(batch))
                self._names = {**names, **self._names}
                return written
            written += len(batch)
            if later:  # routes not written yet: their names wait for a later batch
                self._names = {**later, **self._names}
                break
        return written

    def _write(
        self, batch: list[OutcomeEntry], names: dict[str, tuple[str, int]]
    ) -> dict[str, tuple[str, int]]:
        later = {}
        with transaction(self._factory) as session:
            if batch:
                repo.add_outcomes(session, [entry.row() for entry in batch])
            for route_id, (response_id, tries) in names.items():
                if not repo.name_response(session, route_id, response_id) and tries < 20:
                    later[route_id] = (response_id, tries + 1)
        return later

    async def purge(self) -> int:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.retention_days)

        def run() -> int:
            with transaction(self._factory) as session:
                return repo.purge(session, before)

        try:
            return await asyncio.to_thread(run)
        except Exception:
            log.exception("purging old outcomes failed; trying again later")
            return 0

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()
