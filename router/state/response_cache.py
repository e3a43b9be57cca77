"""The response cache: opt-in per request or per key (`cache_ttl_seconds`), exact match on the
normalised request, in this process or in Redis (shared by replicas). Only complete (not
streamed) answers are cached; a cached answer costs nothing and says so in a header.

Entries are scoped to the API key: one tenant's prompts never answer another's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from catalog.snapshot import CatalogSnapshot
from router.core.requests import ChatCompletionIn, Message, RouteControls, TextPart

log = logging.getLogger("modelyard.cache")


def cache_key(
    key_id: int, body: ChatCompletionIn, controls: RouteControls, snapshot: CatalogSnapshot
) -> str:
    """The same question asked the same way gives the same key: the model named by id or by
    alias, text given as a string or as parts, and field order make no difference."""
    model = snapshot.find(body.model)
    normal = {
        "key": key_id,
        "model": model.hf_id if model else body.model.lower(),
        "messages": [_message(m) for m in body.messages],
        "max_tokens": body.completion_limit(),
        "stop": body.stops(),
        # Every other parameter that reaches the model (tools, response_format, logprobs, n,
        # penalties, unknown extras…) as sent; bookkeeping that cannot change the answer is out.
        "params": body.model_dump(
            mode="json", by_alias=True, exclude_unset=True, exclude_none=True, exclude=_NOT_PARAMS
        ),
        "route": controls.model_dump(mode="json", exclude={"cache_ttl_seconds"}, exclude_none=True),
    }
    raw = json.dumps(normal, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


_NOT_PARAMS = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "stream",
    "stream_options",
    "route",
    "user",
    "metadata",
}


def _message(m: Message) -> list[Any]:
    """Text given as a string or as text parts is the same text; anything else as sent."""
    content: Any = m.content
    if isinstance(content, list):
        if all(isinstance(p, TextPart) and not p.model_extra for p in content):
            content = m.text()
        else:
            content = [p.model_dump(mode="json", exclude_unset=True) for p in content]
    rest = m.model_dump(
        mode="json", exclude_unset=True, exclude_none=True, exclude={"role", "content", "name"}
    )
    return [m.role, content, m.name, rest]


class ResponseCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None: ...


class InProcessCache:
    """Least recently used entries go first once `size` is reached."""

    def __init__(self, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self.clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class RedisCache:
    """Shared by replicas; if Redis is away the request simply misses the cache."""

    def __init__(self, client: Any, prefix: str = "modelyard") -> None:
        self.redis = client
        self.prefix = f"{prefix}:cache:"
        self.unavailable = 0

    def _away(self, exc: Exception) -> None:
        from redis.exceptions import RedisError

        if not isinstance(exc, RedisError | OSError):
            raise exc
        self.unavailable += 1
        log.warning("redis unavailable for the response cache (%s)", exc)

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(self.prefix + key)
        except Exception as exc:
            self._away(exc)
            return None
        return json.loads(raw) if raw else None

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        try:
            await self.redis.set(self.prefix + key, json.dumps(value), ex=ttl)
        except Exception as exc:
            self._away(exc)
