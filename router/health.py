"""Deployment health: a deployment that fails `threshold` times within `window` seconds cools
down for `cooldown` seconds, and the router skips it with that reason. In-process here;
replicas share it through Redis (see the shared-state work)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


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

    def failed(self, deployment_id: int) -> None:
        now = self._clock()
        recent = self._failures.setdefault(deployment_id, deque())
        recent.append(now)
        while recent and recent[0] < now - self.window:
            recent.popleft()
        if len(recent) >= self.threshold:
            self._cooling_until[deployment_id] = now + self.cooldown
            recent.clear()

    def succeeded(self, deployment_id: int) -> None:
        self._failures.pop(deployment_id, None)
