"""Exploration: sending some requests to a candidate whose predicted quality is uncertain, so
that feedback can teach the router what it does not know yet.

A candidate is *proven* for a need when its interval's lower end meets it (an estimate
without an interval: its point, as the decision judges), *uncertain* when the need lies
inside its interval. Two cases, both only among candidates the decision already allows
(licence, privacy, the key's policy and every other rule applied: only the need is relaxed):

- `unproven`: no candidate is proven, but some are uncertain: the request goes to one of
  those instead of being refused, and the answer says the need was unproven. When every
  candidate is more likely than not to fall short (the need is probably beyond them all),
  the one likely to come closest answers (Thompson sampling on quality), not the cheapest.
- `explore`: a candidate is proven, and an uncertain candidate the strategy prefers to it
  (cheaper, under `cheapest`) takes the request instead, on a share of requests that grows
  with what it would save (`share` times the proven one's cost over its own) and shrinks
  with the square of its chance of meeting the need.

Which uncertain candidate: Thompson sampling. Each draws a plausible quality from its
posterior (a Beta where the estimate was learned from feedback); the first in the
strategy's order whose draw meets the need (the cheapest that may meet it) is tried; if
none does, the proven one answers. A candidate that is probably good enough is tried often,
one that is probably not, rarely, so exploring fades as the posteriors narrow. A candidate
is dropped only when its chance of meeting the need falls under `RULED_OUT`, not when the
need leaves its interval: a good candidate unlucky in its first answers keeps a chance.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from functools import lru_cache
from statistics import NormalDist

from router.quality.estimators import Estimate
from router.routing.decision import Candidate, Decision

EXPLORE, UNPROVEN = "explore", "unproven"
UNCERTAIN_WIDTH = 0.05  # an interval narrower than this is knowledge, not uncertainty
RULED_OUT = 0.01  # a chance of meeting the need below this is not worth a draw
LIKELY_POWER = 2  # how much a low chance of meeting the need holds exploring back
# Without a proven candidate, a need that no candidate is at least this likely to meet is
# probably beyond them all: the request goes to the one likely best, not the cheapest.
REACHABLE = 0.5
# An interval this wide (about ten scores or fewer at 80%) means the candidate was barely
# tried: it is explored without waiting for the share, until it has been seen enough.
BARELY_TRIED_WIDTH = 0.35


def draw(estimate: Estimate, confidence: float, rng: random.Random) -> float:
    """A plausible quality: a draw from the Beta posterior where the estimate is one, else
    normal around the interval's middle, as wide as the interval. The middle, not the point:
    an unknown model's point is a size guess kept low on purpose (router/quality/feedback.py),
    its interval is what is known of it."""
    if estimate.beta is not None:
        return rng.betavariate(*estimate.beta)
    if estimate.low is None or estimate.high is None:
        return estimate.probability
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = (estimate.high - estimate.low) / (2.0 * z)
    return (estimate.low + estimate.high) / 2.0 + spread * rng.gauss(0.0, 1.0)


@lru_cache(maxsize=65_536)
def _beta_chance(a: float, b: float, need: float) -> float:
    from scipy.special import betainc  # imported on first use, never at start-up

    return float(1.0 - betainc(a, b, need))


def chance(estimate: Estimate, need: float, confidence: float) -> float | None:
    """The chance the candidate's quality meets the need, as far as the router knows: under
    its Beta posterior, or a normal as wide as its interval; None without an interval."""
    if estimate.beta is not None:
        return _beta_chance(*estimate.beta, need)
    if estimate.low is None or estimate.high is None:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = max((estimate.high - estimate.low) / (2.0 * z), 1e-9)
    return 1.0 - NormalDist((estimate.low + estimate.high) / 2.0, spread).cdf(need)


def _proven(candidate: Candidate, estimate: Estimate, need: float) -> bool:
    """Known to meet the need: the interval's lower end does (the point, where the estimate
    has no interval, as the decision itself judges)."""
    return candidate.quality >= need and estimate.lower_bound >= need


def _uncertain(estimate: Estimate, need: float, confidence: float) -> bool:
    """Not proven, and not known well enough to rule out: an interval still wide enough,
    and a chance of meeting the need not yet negligible. Not the interval's upper end: a
    good candidate unlucky in its first few answers falls below it, and would never be
    tried again; its chance shrinks with its scores instead, and so do its draws."""
    found = chance(estimate, need, confidence)
    return (
        found is not None
        and estimate.high is not None
        and estimate.low is not None
        and estimate.low < need
        and found >= RULED_OUT
        and estimate.high - estimate.low >= UNCERTAIN_WIDTH
    )


def _barely_tried(estimate: Estimate) -> bool:
    return (
        estimate.high is not None
        and estimate.low is not None
        and estimate.high - estimate.low >= BARELY_TRIED_WIDTH
    )


def _in_play(
    candidate: Candidate,
    estimate: Estimate,
    safe: Candidate,
    need: float,
    share: float,
    confidence: float,
    rng: random.Random,
) -> bool:
    """Whether this request may try the uncertain candidate over the proven one. The chance
    is `share` times what the proven one costs over what this one costs (at most 1): one
    that would save nine tenths of every later answer is worth trying ten times as often as
    one that would save little, for the same risk (one answer). It is scaled by the square
    of the candidate's chance of meeting the need, so a candidate close to the need at best
    (which only many answers could prove or rule out) is tried rarely, and a likely one
    often, until it is proven."""
    if share <= 0:
        return False
    saving = safe.cost_usd / candidate.cost_usd if candidate.cost_usd > 0 else math.inf
    likely = chance(estimate, need, confidence) or 0.0
    return rng.random() < min(1.0, share * max(1.0, saving)) * likely**LIKELY_POWER


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
        if _uncertain(found, need, confidence):
            pool.append((candidate, found))
    if safe is None:
        # Answering a need no candidate is known to meet: only with one whose interval
        # reaches it; a need beyond every interval is refused, as the decision refused it.
        pool = [(c, e) for c, e in pool if e.high is not None and need <= e.high]
    else:
        # A proven candidate answers; an uncertain one before it is tried on a share of
        # requests that grows with what it would save, and those barely tried yet always
        # (the router must see a candidate a few times to know anything of it).
        proven = safe
        pool = [
            (c, e)
            for c, e in pool
            if may_explore
            and (_barely_tried(e) or _in_play(c, e, proven, need, share, confidence, rng))
        ]
    if (
        safe is None
        and pool
        and all((chance(e, need, confidence) or 0.0) < REACHABLE for _, e in pool)
    ):
        # Every candidate is more likely than not to fall short: the need is probably beyond
        # them all, so the request goes to the one likely to come closest.
        return _closest(decision, relaxed(), estimate, confidence, rng)
    draws = [(c, draw(e, confidence, rng)) for c, e in pool]
    # The first in the strategy's order (the cheapest, under `cheapest`) that may meet the
    # need, as its draw says: a candidate likely to meet it is tried often, one unlikely to,
    # rarely, so trying fades as the posteriors narrow.
    pick = next((c for c, d in draws if d >= need), None)
    kind: str = EXPLORE if safe is not None else UNPROVEN
    if pick is None:
        if safe is not None:  # nothing drew above the need: the proven one
            pick, kind = safe, ""
        elif pool:  # none is known to meet it: the likeliest to, so the request is answered
            pick = max(pool, key=lambda pair: chance(pair[1], need, confidence) or 0.0)[0]
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


def _closest(
    decision: Decision,
    relaxed: Decision,
    estimate: Callable[[Candidate], Estimate],
    confidence: float,
    rng: random.Random,
) -> Decision:
    """A need probably beyond every candidate: the one that comes closest, by Thompson
    sampling over all of them (each draws a plausible quality; the highest draw answers), so
    a good candidate unlucky in its first answers still gets its turns, and the cheapest
    is not sent a request it is only a little more likely to fail."""
    pick = max(relaxed.candidates, key=lambda c: draw(estimate(c), confidence, rng))
    rest = [c for c in decision.candidates if c.deployment.id != pick.deployment.id]
    return dataclasses.replace(
        decision,
        candidates=[pick, *rest],
        excluded=[e for e in decision.excluded if e.deployment != pick.deployment.name],
        exploration=UNPROVEN,
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
