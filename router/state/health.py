"""Deployment health: a deployment that fails `threshold` times within `window` seconds cools
down for `cooldown` seconds, and the router skips it with that reason. In-process by default;
replicas share it through Redis (SharedHealth)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger("modelyard.health")


class InProcessHealth:
    def __init__(
        self,
        threshold: int = 3,
        window: float = 60.0,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self._clock = clock
        self._failures: dict[int, deque[float]] = {}
        self._cooling_until: dict[int, float] = {}

    def is_cooling(self, deployment_id: int) -> bool:
        until = self._cooling_until.get(deployment_id)
        if until is None:
            return False
        if self._clock() >= until:
            # Cool-down over: the next request probes the deployment again.
            del self._cooling_until[deployment_id]
            return False
        return True

    def cooling(self) -> frozenset[int]:
        """Deployments cooling down now (the decision reads this once per request)."""
        if not self._cooling_until:
            return frozenset()
        return frozenset(d for d in list(self._cooling_until) if self.is_cooling(d))

    def failed(self, deployment_id: int) -> bool:
        """Count a failure; True when it puts the deployment to cool down."""
        now = self._clock()
        recent = self._failures.setdefault(deployment_id, deque())
        recent.append(now)
        while recent and recent[0] < now - self.window:
            recent.popleft()
        if len(recent) >= self.threshold:
            self._cooling_until[deployment_id] = now + self.cooldown
            recent.clear()
            return True
        return False

    def succeeded(self, deployment_id: int) -> None:
        self._failures.pop(deployment_id, None)


class Health(Protocol):
    def cooling(self) -> frozenset[int]: ...

    def failed(self, deployment_id: int) -> bool: ...

    def succeeded(self, deployment_id: int) -> None: ...


# KEYS: the deployment's recent failures, the set of cooling deployments.
# ARGV: now, window, threshold, cooldown, deployment id, a unique member for this failure.
_FAILED = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local threshold, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
if redis.call('ZCARD', KEYS[1]) >= threshold then
  redis.call('ZADD', KEYS[2], now + cooldown, ARGV[5])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class SharedHealth:
    """Health every replica shares through Redis. Failures are counted in Redis (one Lua
    script each, sent off the request path); a deployment over the threshold joins a sorted
    set scored by the end of its cool-down, which each replica mirrors every `refresh`
    seconds, so the decision still reads a local set. When the cool-down ends the next
    request probes the deployment again. If Redis is away, this replica's own counts go on
    deciding (they are always kept too)."""

    def __init__(
        self,
        client: Any,
        threshold: int = 3,
        window: float = 60.0,
        cooldown: float = 30.0,
        refresh: float = 0.25,
        clock: Callable[[], float] = time.time,
        prefix: str = "modelyard",
    ) -> None:
        self.redis = client
        self.local = InProcessHealth(threshold, window, cooldown)
        self.threshold, self.window, self.cooldown = threshold, window, cooldown
        self.refresh = refresh
        self.clock = clock
        self.key = f"{prefix}:cooling"
        self.prefix = prefix
        self.unavailable = 0
        self._remote: frozenset[int] = frozenset()
        self._script = client.register_script(_FAILED)
        self._pending: set[asyncio.Task[None]] = set()

    def cooling(self) -> frozenset[int]:
        local = self.local.cooling()
        return local | self._remote if self._remote else local

    def failed(self, deployment_id: int) -> bool:
        cooled = self.local.failed(deployment_id)
        task = asyncio.get_running_loop().create_task(self._report(deployment_id))
        self._pending.add(task)  # keep a reference until it is done
        task.add_done_callback(self._pending.discard)
        return cooled

    def succeeded(self, deployment_id: int) -> None:
        # No Redis write on the hot path: failures age out of the window by themselves.
        self.local.succeeded(deployment_id)

    async def _report(self, deployment_id: int) -> None:
        now = self.clock()
        member = f"{now}:{uuid.uuid4().hex}"
        args = [now, self.window, self.threshold, self.cooldown, deployment_id, member]
        try:
            cooled = await self._script(
                keys=[f"{self.prefix}:failures:{deployment_id}", self.key], args=args
            )
        except (RedisError, OSError) as exc:
            self.unavailable += 1
            log.warning("redis unavailable for deployment health (%s)", exc)
            return
        if cooled:
            self._remote = self._remote | {deployment_id}

    async def sync(self) -> None:
        """Mirror the shared cooling set once (and forget cool-downs that are over)."""
        now = self.clock()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(self.key, "-inf", now)
                pipe.zrangebyscore(self.key, now, "+inf")
                _, members = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.unavailable += 1
            log.warning("redis unavailable for deployment health (%s)", exc)
            return
        self._remote = frozenset(int(m) for m in members)

    async def run(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(self.refresh)
