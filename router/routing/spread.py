"""Load spreading: deployments whose estimated cost for a request is within a tolerance of the
cheapest share its traffic instead of the cheapest taking all of it.

Among those near-equal candidates the order is: fewest requests in flight (from this replica)
first; among equals, deployments not yet measured first (so each gets measured), then a random
order weighted by expected speed (1 / estimated seconds, which measured time to first token
and tokens per second feed). A slow deployment thus collects requests in flight and loses its
share under load, and gets fewer requests in proportion to its speed when idle. Later
candidates keep the decision's order, as fallbacks.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, overload

from router.routing.speed import SpeedBook

if TYPE_CHECKING:
    from router.routing.decision import Candidate, Decision

MAX_GROUP = 32  # more near-equal deployments than this are spread among their first 32
SPREAD_STRATEGIES = frozenset({"cheapest"})


class Spread(Sequence["Candidate"]):
    """The decision's candidates with the first `len(head)` replaced by `head`."""

    def __init__(self, head: list[Candidate], rest: Sequence[Candidate]) -> None:
        self._head = head
        self._rest = rest

    def __len__(self) -> int:
        return len(self._rest)

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> list[Candidate]: ...
    def __getitem__(self, i: int | slice) -> Candidate | list[Candidate]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        return self._head[i] if i < len(self._head) else self._rest[i]

    def __iter__(self) -> Iterator[Candidate]:
        yield from self._head
        for i in range(len(self._head), len(self._rest)):
            yield self._rest[i]


class Spreader:
    def __init__(
        self, speeds: SpeedBook, tolerance: float = 0.1, rng: random.Random | None = None
    ) -> None:
        self.speeds = speeds
        self.tolerance = tolerance
        self.rng = rng or random.Random()
        self.inflight: defaultdict[int, int] = defaultdict(int)

    # --- requests in flight ----------------------------------------------------------------

    def begin(self, deployment_id: int) -> None:
        self.inflight[deployment_id] += 1

    def end(self, deployment_id: int) -> None:
        left = self.inflight[deployment_id] - 1
        if left > 0:
            self.inflight[deployment_id] = left
        else:
            self.inflight.pop(deployment_id, None)

    # --- ordering --------------------------------------------------------------------------

    def order(self, decision: Decision) -> Decision:
        candidates = decision.candidates
        if self.tolerance <= 0 or decision.strategy not in SPREAD_STRATEGIES or len(candidates) < 2:
            return decision
        limit = candidates[0].cost_usd * (1 + self.tolerance)
        if candidates[1].cost_usd > limit:
            return decision  # the usual case: one clear cheapest, nothing to spread
        group = [candidates[0]]
        for i in range(1, min(len(candidates), MAX_GROUP)):
            if candidates[i].cost_usd > limit:
                break
            group.append(candidates[i])
        return dataclasses.replace(decision, candidates=Spread(self.arrange(group), candidates))

    def arrange(self, group: list[Candidate]) -> list[Candidate]:
        by_load: dict[int, list[Candidate]] = defaultdict(list)
        for c in group:
            by_load[self.inflight.get(c.deployment.id, 0)].append(c)
        ordered: list[Candidate] = []
        for load in sorted(by_load):
            same = by_load[load]
            unmeasured = [c for c in same if self.speeds.get(c.deployment.id) is None]
            measured = [c for c in same if self.speeds.get(c.deployment.id) is not None]
            ordered += unmeasured + self._weighted(measured)
        return ordered

    def _weighted(self, group: list[Candidate]) -> list[Candidate]:
        """A random order where each next pick is as likely as its expected speed."""
        left = list(group)
        picked: list[Candidate] = []
        while left:
            weights = [1.0 / max(c.seconds, 1e-3) for c in left]
            i = self.rng.choices(range(len(left)), weights)[0]
            picked.append(left.pop(i))
        return picked
