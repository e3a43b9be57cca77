"""Exploration: sending some requests to a candidate whose predicted quality is uncertain, so
that feedback can teach the router what it does not know yet.

A candidate is *proven* for a need when its interval's lower end meets it (an estimate
without an interval: its point, as the decision judges), *uncertain* when the need lies
inside its interval. Two cases, both only among candidates the decision already allows
(licence, privacy, the key's policy and every other rule applied: only the need is relaxed):

- `unproven`: no candidate is proven, but some are uncertain: the request goes to one of
  those instead of being refused, and the answer says the need was unproven.
- `explore`: a candidate is proven, and with probability `share` an uncertain candidate the
  strategy prefers to it (cheaper, under `cheapest`) takes the request instead.

Which uncertain candidate: Thompson sampling. Each draws a plausible quality from its
interval; the first in the strategy's order whose draw meets the need is tried (if none
does, the proven one answers). A candidate that is probably good enough is tried often, one
that is probably not, rarely, so exploring fades as the intervals narrow.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from statistics import NormalDist

from router.quality.estimators import Estimate
from router.routing.decision import Candidate, Decision

EXPLORE, UNPROVEN = "explore", "unproven"
UNCERTAIN_WIDTH = 0.05  # an interval narrower than this is knowledge, not uncertainty
UNCERTAIN_REACH = 0.0  # a need this far above the interval is still worth a rare draw
# An interval this wide (about ten scores or fewer at 80%) means the candidate was barely
# tried: it is explored without waiting for the share, until it has been seen enough.
BARELY_TRIED_WIDTH = 0.35


def _draw(estimate: Estimate, confidence: float, rng: random.Random) -> float:
    """A plausible quality: normal around the interval's middle, as wide as the interval.
    The middle, not the point: an unknown model's point is a size guess kept low on purpose
    (router/quality/feedback.py), its interval is what is known of it."""
    if estimate.low is None or estimate.high is None:
        return estimate.probability
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = (estimate.high - estimate.low) / (2.0 * z)
    return (estimate.low + estimate.high) / 2.0 + spread * rng.gauss(0.0, 1.0)


def _proven(candidate: Candidate, estimate: Estimate, need: float) -> bool:
    """Known to meet the need: the interval's lower end does (the point, where the estimate
    has no interval, as the decision itself judges)."""
    return candidate.quality >= need and estimate.lower_bound >= need


def _uncertain(estimate: Estimate, need: float) -> bool:
    """Not proven, and not known well enough to rule out: an interval still wide enough
    that a draw from it may meet the need. Ruling a candidate out for good on its upper
    bound would be a test repeated at every request, and some good candidates would fail it
    by chance early on; the draws give such a candidate a chance that fades as it is seen."""
    return (
        estimate.high is not None
        and estimate.low is not None
        and estimate.low < need <= estimate.high + UNCERTAIN_REACH
        and estimate.high - estimate.low >= UNCERTAIN_WIDTH
    )


def _barely_tried(estimate: Estimate) -> bool:
    return (
        estimate.high is not None
        and estimate.low is not None
        and estimate.high - estimate.low >= BARELY_TRIED_WIDTH
    )


def explore(
    decision: Decision,
    relaxed: Callable[[], Decision],
    estimate: Callable[[Candidate], Estimate],
    rng: random.Random,
    share: float,
    confidence: float,
    may_explore: bool = True,
) -> Decision:
    """The decision, or one that tries another candidate first (its `exploration` says
    why). `relaxed` makes the same decision without the quality need; `estimate` gives a
    candidate's estimate with its interval; `may_explore` False keeps a known-good choice
    (the scope sends no feedback, so exploring would teach nothing)."""
    need = decision.min_quality
    if need is None:
        return decision
    first = decision.candidates[0] if decision.candidates else None
    first_proven = first is not None and _proven(first, estimate(first), need)
    if first_proven and not may_explore:
        return decision
    # In the strategy's order, the uncertain candidates before the first proven one.
    pool: list[tuple[Candidate, Estimate]] = []
    safe: Candidate | None = None
    for candidate in relaxed().candidates:
        found = estimate(candidate)
        if _proven(candidate, found, need):
            safe = candidate
            break
        if _uncertain(found, need):
            pool.append((candidate, found))
    if safe is not None and (not may_explore or share <= 0 or rng.random() >= share):
        # A proven candidate answers; the uncertain ones get only the share, except those
        # barely tried yet, which the router must see a few times to know anything of.
        pool = [(c, e) for c, e in pool if may_explore and _barely_tried(e)]
    draws = [(c, _draw(e, confidence, rng)) for c, e in pool]
    if safe is None:  # answering while learning: the cheapest (first) that may meet the need
        pick = next((c for c, d in draws if d >= need), None)
    else:  # exploring: the likeliest to meet it, so a cheaper proven candidate is found soon
        best = max(draws, key=lambda pair: pair[1], default=None)
        pick = best[0] if best is not None and best[1] >= need else None
    kind: str = EXPLORE if safe is not None else UNPROVEN
    if pick is None:
        if safe is not None:  # nothing drew above the need: the proven one
            pick, kind = safe, ""
        elif pool:  # none is known to meet it: the likeliest to, so the request is answered
            pick = max(pool, key=lambda pair: pair[1].high or 0.0)[0]
        else:
            return decision
    if first is not None and pick.deployment.id == first.deployment.id and not kind:
        return decision
    rest = [c for c in decision.candidates if c.deployment.id != pick.deployment.id]
    return dataclasses.replace(
        decision,
        candidates=[pick, *rest],
        excluded=[e for e in decision.excluded if e.deployment != pick.deployment.name],
        exploration=kind or None,
    )


def exploration_headers(decision: Decision) -> dict[str, str]:
    if decision.exploration == UNPROVEN:
        return {
            "x-modelyard-exploration": UNPROVEN,
            "x-modelyard-need-proven": "no: no candidate is known to meet the need; an "
            "uncertain one answered while the router learns",
        }
    if decision.exploration == EXPLORE:
        return {"x-modelyard-exploration": EXPLORE}
    return {}
