"""Each key's pinned embedding model. Vectors from different models live in different spaces,
so once a key's `auto` embeddings have come from a model, they keep coming from it.

The pin is a row in `embedding_pins`, not a ledger lookup: the ledger is written in batches
(and through Redis with replicas), so two requests a moment apart, or on two replicas, could
not see each other's choice there; the row's unique key makes the first writer win
everywhere, at once, and survives restarts. Reads are cached for `ttl` seconds, so a pin an
operator clears reaches every replica within that time.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.accounts import repository as repo


class EmbeddingPins:
    def __init__(self, factory: sessionmaker[Session], ttl: float = 10.0) -> None:
        self._factory = factory
        self._ttl = ttl
        self._cache: dict[int, tuple[float, str | None]] = {}

    def _read(self, api_key_id: int) -> str | None:
        with self._factory() as session:
            return repo.embedding_pin(session, api_key_id)

    def _claim(self, api_key_id: int, model_name: str, route_id: str) -> str:
        with transaction(self._factory) as session:
            return repo.claim_embedding_pin(session, api_key_id, model_name, route_id)

    async def get(self, api_key_id: int) -> str | None:
        now = time.monotonic()
        cached = self._cache.get(api_key_id)
        if cached is None or cached[0] < now:
            if len(self._cache) > 100_000:
                self._cache.clear()
            model = await asyncio.to_thread(self._read, api_key_id)
            cached = self._cache[api_key_id] = (now + self._ttl, model)
        return cached[1]

    async def claim(self, api_key_id: int, model_name: str, route_id: str) -> str:
        """Pin the key to `model_name`, unless another request pinned it first: the pin that
        holds, which every later request of the key follows."""
        held = await asyncio.to_thread(self._claim, api_key_id, model_name, route_id)
        self._cache[api_key_id] = (time.monotonic() + self._ttl, held)
        return held
