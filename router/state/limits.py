"""Rate limits and budgets per API key: in this process by default, or in Redis so that every
replica enforces the same numbers (MODELYARD_REDIS_URL).

Rate limits count requests and tokens per minute over a sliding window: this minute's count
plus last minute's, weighted by how much of last minute still lies within the window.

Budgets are USD per day and per month (UTC). A request reserves its estimated cost before it
is sent and settles the real cost after, atomically across replicas (one Lua script), so
concurrent requests can overspend a budget by at most what one request's real cost exceeds
its estimate. Costs are kept as integer nano-dollars. A request that costs nothing (a free
local deployment) never needs a reservation, so a spent budget never blocks it.

If Redis is unreachable the backend follows the configured policy: `open` lets the request
through (and logs it, and counts it in `unavailable`), `closed` refuses it with a 503.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from router.core.errors import RouteError

log = logging.getLogger("modelyard.limits")

WINDOW = 60  # seconds: rate limits are per minute
NANO = 10**9
FailurePolicy = Literal["open", "closed"]


@dataclass(frozen=True)
class KeyLimits:
    """What a key's policy allows, and its team's budgets; None means no limit."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    budget_usd_per_day: float | None = None
    budget_usd_per_month: float | None = None
    team: str | None = None
    team_usd_per_day: float | None = None
    team_usd_per_month: float | None = None

    @property
    def rated(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    @property
    def budgeted(self) -> bool:
        return any(
            v is not None
            for v in (
                self.budget_usd_per_day,
                self.budget_usd_per_month,
                self.team_usd_per_day,
                self.team_usd_per_month,
            )
        )


@dataclass
class RateVerdict:
    allowed: bool
    retry_after: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def nano(usd: float | Decimal) -> int:
    return math.ceil(Decimal(str(usd)) * NANO)


def budget_windows(limits: KeyLimits, key_id: int, now: dt.datetime) -> list[tuple[str, int, int]]:
    """(counter name, limit in nano-USD, seconds to keep it) for each budget that applies:
    the key's own per day and month, and its team's."""
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    scopes = [
        (f"key:{key_id}", limits.budget_usd_per_day, limits.budget_usd_per_month),
        (f"team:{limits.team}", limits.team_usd_per_day, limits.team_usd_per_month),
    ]
    windows = []
    for scope, per_day, per_month in scopes:
        if per_day is not None:
            windows.append((f"{scope}:{day}", nano(per_day), 2 * 86_400))
        if per_month is not None:
            windows.append((f"{scope}:{month}", nano(per_month), 32 * 86_400))
    return windows


def sliding(previous: float, current: float, elapsed: float) -> float:
    """The count over the last WINDOW seconds, `elapsed` seconds into the current minute."""
    return previous * (1 - elapsed / WINDOW) + current


def wait_for(previous: float, current: float, cost: float, limit: float, elapsed: float) -> float:
    """Seconds until `cost` more fits under `limit`, as last minute's count slides out."""
    if current + cost > limit:
        return WINDOW - elapsed  # only the next minute has room
    # previous * (1 - t / WINDOW) + current + cost <= limit, solved for t.
    needed = WINDOW * (1 - (limit - current - cost) / previous) if previous else elapsed
    return max(needed - elapsed, 0.0)


def rate_headers(
    limits: KeyLimits, requests: float, tokens: float, elapsed: float
) -> dict[str, str]:
    """The x-ratelimit-* headers OpenAI clients read."""
    headers = {}
    reset = f"{max(WINDOW - elapsed, 0.0):.0f}s"
    if limits.requests_per_minute is not None:
        headers["x-ratelimit-limit-requests"] = str(limits.requests_per_minute)
        remaining = max(limits.requests_per_minute - math.ceil(requests), 0)
        headers["x-ratelimit-remaining-requests"] = str(remaining)
        headers["x-ratelimit-reset-requests"] = reset
    if limits.tokens_per_minute is not None:
        headers["x-ratelimit-limit-tokens"] = str(limits.tokens_per_minute)
        remaining = max(limits.tokens_per_minute - math.ceil(tokens), 0)
        headers["x-ratelimit-remaining-tokens"] = str(remaining)
        headers["x-ratelimit-reset-tokens"] = reset
    return headers


class Limits(Protocol):
    unavailable: int  # requests let through or refused because the store was away

    async def admit(self, key_id: int, limits: KeyLimits, tokens: int) -> RateVerdict: ...

    async def add_tokens(self, key_id: int, tokens: int) -> None: ...

    async def budget_left(self, key_id: int, limits: KeyLimits) -> Decimal | None: ...

    async def reserve(self, key_id: int, limits: KeyLimits, usd: float | Decimal) -> bool: ...

    async def settle(
        self, key_id: int, limits: KeyLimits, reserved: float | Decimal, actual: float | Decimal
    ) -> None: ...


class InProcessLimits:
    """One replica's limits, in memory. Single-threaded asyncio makes each call atomic."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.unavailable = 0
        self._counts: defaultdict[tuple[int, str, int], float] = defaultdict(float)
        self._spent: defaultdict[str, int] = defaultdict(int)

    def _minute(self) -> tuple[int, float]:
        now = self.clock()
        return int(now // WINDOW), now % WINDOW

    def _count(self, key_id: int, metric: str, minute: int) -> tuple[float, float]:
        return (
            self._counts.get((key_id, metric, minute - 1), 0.0),
            self._counts.get((key_id, metric, minute), 0.0),
        )

    async def admit(self, key_id: int, limits: KeyLimits, tokens: int) -> RateVerdict:
        minute, elapsed = self._minute()
        if len(self._counts) > 200_000:  # drop windows long past
            recent = {k: v for k, v in self._counts.items() if k[2] >= minute - 1}
            self._counts = defaultdict(float, recent)
        checks = (
            ("requests", limits.requests_per_minute, 1),
            ("tokens", limits.tokens_per_minute, tokens),
        )
        waits, seen = [], {}
        for metric, limit, cost in checks:
            previous, current = self._count(key_id, metric, minute)
            seen[metric] = sliding(previous, current, elapsed)
            if limit is not None and seen[metric] + cost > limit:
                waits.append(wait_for(previous, current, cost, limit, elapsed))
        if waits:
            headers = rate_headers(limits, seen["requests"], seen["tokens"], elapsed)
            return RateVerdict(False, max(waits), headers)
        for metric, _limit, cost in checks:
            self._counts[(key_id, metric, minute)] = (
                self._counts.get((key_id, metric, minute), 0) + cost
            )
        headers = rate_headers(limits, seen["requests"] + 1, seen["tokens"] + tokens, elapsed)
        return RateVerdict(True, 0.0, headers)

    async def add_tokens(self, key_id: int, tokens: int) -> None:
        minute, _ = self._minute()
        self._counts[(key_id, "tokens", minute)] = (
            self._counts.get((key_id, "tokens", minute), 0) + tokens
        )

    def _windows(self, limits: KeyLimits, key_id: int) -> list[tuple[str, int, int]]:
        return budget_windows(limits, key_id, dt.datetime.fromtimestamp(self.clock(), dt.UTC))

    async def budget_left(self, key_id: int, limits: KeyLimits) -> Decimal | None:
        windows = self._windows(limits, key_id)
        if not windows:
            return None
        left = min(limit - self._spent[name] for name, limit, _ in windows)
        return Decimal(max(left, 0)) / NANO

    async def reserve(self, key_id: int, limits: KeyLimits, usd: float | Decimal) -> bool:
        amount = nano(usd)
        windows = self._windows(limits, key_id)
        if amount <= 0 or not windows:
            return True
        if any(self._spent[n] + amount > limit for n, limit, _ in windows):
            return False
        for name, _limit, _ in windows:
            self._spent[name] += amount
        return True

    async def settle(
        self, key_id: int, limits: KeyLimits, reserved: float | Decimal, actual: float | Decimal
    ) -> None:
        held = nano(reserved) if reserved else 0
        delta = nano(actual) - held
        for name, _limit, _ in self._windows(limits, key_id):
            self._spent[name] += delta


# KEYS: previous and current minute for requests, then for tokens.
# ARGV: elapsed seconds, window, request limit (-1: none), token limit (-1: none), tokens.
_ADMIT = """
local elapsed, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local costs = {1, tonumber(ARGV[5])}
local seen, over = {}, 0
for i = 1, 2 do
  local previous = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local current = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  seen[2 * i - 1], seen[2 * i] = previous, current
  local count = previous * (1 - elapsed / window) + current
  if limits[i] >= 0 and count + costs[i] > limits[i] then over = 1 end
end
if over == 0 then
  for i = 1, 2 do
    redis.call('INCRBY', KEYS[2 * i], costs[i])
    redis.call('EXPIRE', KEYS[2 * i], 2 * window + 5)
  end
end
return {over, seen[1], seen[2], seen[3], seen[4]}
"""
# KEYS: one budget window each. ARGV: amount, then (limit, ttl) per key.
_RESERVE = """
local amount = tonumber(ARGV[1])
for i = 1, #KEYS do
  local spent = tonumber(redis.call('GET', KEYS[i]) or '0')
  if spent + amount > tonumber(ARGV[2 * i]) then return 0 end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], amount)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return 1
"""


class LimitsUnavailable(RouteError):
    def __init__(self) -> None:
        super().__init__(
            "rate limits and budgets cannot be checked right now; try again shortly",
            "limits_unavailable",
            503,
        )


class RedisLimits:
    """Limits every replica shares, in Redis; each check-and-update is one Lua script."""

    def __init__(
        self,
        client: Any,
        policy: FailurePolicy = "open",
        clock: Callable[[], float] = time.time,
        prefix: str = "modelyard",
    ) -> None:
        self.redis = client
        self.policy = policy
        self.clock = clock
        self.prefix = prefix
        self.unavailable = 0
        self._admit = client.register_script(_ADMIT)
        self._reserve = client.register_script(_RESERVE)

    def _away(self, what: str, exc: Exception, *, may_refuse: bool = True) -> None:
        """Redis is unreachable: count it, log it, and let through or refuse per policy.
        Settling after an answer never refuses: the answer is already paid for upstream."""
        from redis.exceptions import RedisError

        if not isinstance(exc, RedisError | OSError):
            raise exc
        self.unavailable += 1
        log.warning("redis unavailable for %s (%s); failing %s", what, exc, self.policy)
        if may_refuse and self.policy == "closed":
            raise LimitsUnavailable() from exc

    def _rate_keys(self, key_id: int, minute: int) -> list[str]:
        base = f"{self.prefix}:rate:{key_id}"
        return [
            f"{base}:{metric}:{m}"
            for metric in ("requests", "tokens")
            for m in (minute - 1, minute)
        ]

    def _budget_keys(self, windows: Sequence[tuple[str, int, int]]) -> list[str]:
        return [f"{self.prefix}:budget:{name}" for name, _, _ in windows]

    def _windows(self, limits: KeyLimits, key_id: int) -> list[tuple[str, int, int]]:
        return budget_windows(limits, key_id, dt.datetime.fromtimestamp(self.clock(), dt.UTC))

    async def admit(self, key_id: int, limits: KeyLimits, tokens: int) -> RateVerdict:
        now = self.clock()
        minute, elapsed = int(now // WINDOW), now % WINDOW
        args = [
            elapsed,
            WINDOW,
            -1 if limits.requests_per_minute is None else limits.requests_per_minute,
            -1 if limits.tokens_per_minute is None else limits.tokens_per_minute,
            tokens,
        ]
        try:
            over, req_prev, req_cur, tok_prev, tok_cur = await self._admit(
                keys=self._rate_keys(key_id, minute), args=args
            )
        except Exception as exc:
            self._away("rate limits", exc)
            return RateVerdict(True)
        requests = sliding(float(req_prev), float(req_cur), elapsed)
        used_tokens = sliding(float(tok_prev), float(tok_cur), elapsed)
        if over:
            waits = []
            for limit, prev, cur, cost in (
                (limits.requests_per_minute, req_prev, req_cur, 1),
                (limits.tokens_per_minute, tok_prev, tok_cur, tokens),
            ):
                if limit is not None and sliding(float(prev), float(cur), elapsed) + cost > limit:
                    waits.append(wait_for(float(prev), float(cur), cost, limit, elapsed))
            headers = rate_headers(limits, requests, used_tokens, elapsed)
            return RateVerdict(False, max(waits or [1.0]), headers)
        return RateVerdict(
            True, 0.0, rate_headers(limits, requests + 1, used_tokens + tokens, elapsed)
        )

    async def add_tokens(self, key_id: int, tokens: int) -> None:
        minute = int(self.clock() // WINDOW)
        try:
            await self.redis.incrby(self._rate_keys(key_id, minute)[3], tokens)
        except Exception as exc:
            self._away("token accounting", exc, may_refuse=False)

    async def budget_left(self, key_id: int, limits: KeyLimits) -> Decimal | None:
        windows = self._windows(limits, key_id)
        if not windows:
            return None
        try:
            spent = await self.redis.mget(self._budget_keys(windows))
        except Exception as exc:
            self._away("budgets", exc)
            return None
        left = min(limit - int(s or 0) for (_, limit, _), s in zip(windows, spent, strict=True))
        return Decimal(max(left, 0)) / NANO

    async def reserve(self, key_id: int, limits: KeyLimits, usd: float | Decimal) -> bool:
        amount = nano(usd)
        windows = self._windows(limits, key_id)
        if amount <= 0 or not windows:
            return True
        args: list[int] = [amount]
        for _name, limit, ttl in windows:
            args += [limit, ttl]
        try:
            return bool(await self._reserve(keys=self._budget_keys(windows), args=args))
        except Exception as exc:
            self._away("budgets", exc)
            return True

    async def settle(
        self, key_id: int, limits: KeyLimits, reserved: float | Decimal, actual: float | Decimal
    ) -> None:
        delta = nano(actual) - (nano(reserved) if reserved else 0)
        windows = self._windows(limits, key_id)
        if not delta or not windows:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in self._budget_keys(windows):
                    pipe.incrby(key, delta)
                await pipe.execute()
        except Exception as exc:
            self._away("budget settlement", exc, may_refuse=False)
