"""Learning from feedback, piece by piece: the posterior over the prior, exploration's choices,
the outcome recorder on SQLite and PostgreSQL, and a short replay of outcome data as traffic."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog.snapshot import CatalogSnapshot
from router.accounts.keys import KeyView
from router.accounts.policy import KeyPolicy
from router.core.requests import RouteControls
from router.pipeline.cascade import escalation_order
from router.pipeline.learning import ExplorationSettings, TrafficLearning
from router.quality import repository as repo
from router.quality.estimators import SIZE_PRIOR_BASIS, CatalogQualityEstimator, Estimate
from router.quality.feedback import Learning
from router.quality.orm import RouteFeedback, RouteOutcome
from router.quality.outcomes import load_outcomes
from router.quality.traffic import (
    FEATURE_SIZE,
    OutcomeEntry,
    OutcomeRecorder,
    prompt_features,
    template_of,
)
from router.routing.decision import Candidate, RouteRequest, decide
from router.routing.exploration import chance, explore
from router.routing.exploration import draw as explore_draw
from router.state.limits import InProcessLimits

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing"
KNOWN = Estimate(0.6, "code: mean of 2 benchmark score(s)")
UNKNOWN = Estimate(0.3, f"code: {SIZE_PRIOR_BASIS}")


def test_without_feedback_a_known_model_keeps_its_prior_exactly() -> None:
    learning = Learning()
    assert learning.posterior(KNOWN, "", "m", "code", "t") is KNOWN


def test_an_unknown_model_gets_a_wide_interval_around_its_size_guess() -> None:
    found = Learning(confidence=0.8).posterior(UNKNOWN, "", "m", "code", "t")
    assert found.probability == 0.3  # never counted as meeting a need nobody saw it meet
    assert found.low is not None and found.high is not None
    assert found.low <= 0.11 and found.high >= 0.89


def test_scores_move_the_prior_by_its_strength_and_say_so() -> None:
    learning = Learning(prior_strength=10.0)
    for _ in range(30):
        learning.add("search", "m", "code", "t", 1.0)
    moved = learning.posterior(KNOWN, "search", "m", "code", "t")
    assert moved.probability == pytest.approx((0.6 * 10 + 30) / 40, abs=1e-4)
    assert moved.basis.startswith("learned: 0.90 from 30 scores (team search)")
    assert moved.low is not None and moved.high is not None
    assert moved.low < moved.probability < moved.high
    # Another scope learned nothing.
    assert learning.posterior(KNOWN, "", "m", "code", "t") is KNOWN


def test_a_template_is_learned_apart_from_the_rest_of_its_task() -> None:
    learning = Learning(prior_strength=10.0)
    for _ in range(40):
        learning.add("", "m", "reasoning", "arc", 1.0)
        learning.add("", "m", "reasoning", "wino", 0.0)
    arc = learning.posterior(KNOWN, "", "m", "reasoning", "arc")
    wino = learning.posterior(KNOWN, "", "m", "reasoning", "wino")
    new = learning.posterior(KNOWN, "", "m", "reasoning", "other")
    assert arc.probability > 0.9 and wino.probability < 0.1
    assert 0.4 < new.probability < 0.6  # the task's pooled posterior


def test_the_interval_narrows_as_scores_come_in() -> None:
    widths = []
    learning = Learning()
    for n in range(1, 200):
        learning.add("", "m", "code", "t", float(n % 4 != 0))
        if n in (5, 50, 199):
            found = learning.posterior(UNKNOWN, "", "m", "code", "t")
            assert found.low is not None and found.high is not None
            widths.append(found.high - found.low)
    assert widths[0] > widths[1] > widths[2]


def test_prompt_features_are_fixed_size_unit_vectors_and_templates_group_openings() -> None:
    short, long = prompt_features("hello"), prompt_features("word " * 10_000)
    assert short.shape == long.shape == (FEATURE_SIZE,)
    assert abs(float((short**2).sum()) - 1.0) < 1e-5
    assert prompt_features("").sum() == 0.0
    preamble = "Please answer with the letter of the correct answer.\n\n" + "x" * 80
    assert template_of(preamble + "first") == template_of(preamble + "second")
    assert template_of("Write a function to add") != template_of("Write a function to sort")


# --- exploration ------------------------------------------------------------------------------


def _replay_catalog(prices: tuple[float, ...]) -> CatalogSnapshot:
    import numpy as np

    from router.evaluation.replay import replay_snapshot
    from router.quality.learned import LearnedQuality

    names = tuple(f"new/m{i}" for i in range(len(prices)))
    return replay_snapshot(
        LearnedQuality(
            method="task",
            models=names,
            vocabulary=(),
            idf=np.zeros(0),
            cost_per_token=np.array(prices),
            cost_fixed=np.zeros(len(prices)),
            names={},
            meta={},
        )
    )


def _route(
    snapshot: CatalogSnapshot,
    learning: Learning,
    need: float,
    seed: int,
    share: float = 0.0,
    strategy: str | None = None,
) -> tuple[str, str | None]:
    estimator = learning.scoped(CatalogQualityEstimator(), "")
    request = RouteRequest(
        "auto", "a prompt", 1, None, frozenset(), RouteControls(min_quality=need, strategy=strategy)
    )
    decision = decide(request, snapshot, estimator)
    relaxed = RouteRequest("auto", "a prompt", 1, None, frozenset(), RouteControls())

    def estimate(candidate: Candidate) -> Estimate:
        return estimator.estimate("a prompt", decision.task, candidate.model, snapshot)

    explored = explore(
        decision,
        lambda: decide(relaxed, snapshot, estimator),
        estimate,
        random.Random(seed),
        share,
        learning.confidence,
    )
    if not explored.candidates:
        return "", explored.exploration
    return explored.candidates[0].model.hf_id, explored.exploration


def test_unknown_models_answer_a_need_none_is_known_to_meet_and_known_bad_ones_do_not() -> None:
    snapshot = _replay_catalog((1e-6, 2e-6))
    learning = Learning()
    chosen = {_route(snapshot, learning, 0.7, seed) for seed in range(40)}
    assert {kind for _, kind in chosen} == {"unproven"}
    assert {model for model, _ in chosen} == {"new/m0", "new/m1"}
    template = template_of("a prompt")
    for _ in range(30):  # m0 is bad, m1 is good
        learning.add("", "new/m0", "chat", template, 0.0)
        learning.add("", "new/m1", "chat", template, 1.0)
    results = {_route(snapshot, learning, 0.7, seed) for seed in range(40)}
    assert results == {("new/m1", None)}  # proven: no exploring, the bad one never again


def test_a_need_probably_beyond_every_candidate_goes_to_the_one_likely_closest() -> None:
    """Two cheap models at 12/20 and a dearer one at 130/200 (0.65, its interval below 0.7):
    none is likely to meet 0.7. The cheapest used to answer whenever its draw reached the need
    and the dearer one, known to come closest, never; now the highest draw answers, so the
    dearer one answers most, and the cheap ones only as often as they might be better."""
    snapshot = _replay_catalog((1e-6, 2e-6, 9e-6))
    learning = Learning()
    template = template_of("a prompt")
    for model, good, scores in (("new/m0", 12, 20), ("new/m1", 12, 20), ("new/m2", 130, 200)):
        for k in range(scores):
            learning.add("", model, "chat", template, 1.0 if k < good else 0.0)
    routes = [_route(snapshot, learning, 0.7, seed) for seed in range(400)]
    assert {kind for _, kind in routes} == {"unproven"}
    counts = {model: sum(m == model for m, _ in routes) for model in ("new/m0", "new/m1", "new/m2")}
    assert counts["new/m2"] > 0.3 * len(routes)
    assert counts["new/m2"] > max(counts["new/m0"], counts["new/m1"])
    assert counts["new/m0"] < 2 * counts["new/m1"]  # the cheapest is not favoured for its price


def test_a_share_explores_a_cheaper_uncertain_candidate_and_none_without_a_share() -> None:
    snapshot = _replay_catalog((1e-6, 2e-6))
    learning = Learning()
    template = template_of("a prompt")
    for _ in range(60):
        learning.add("", "new/m1", "chat", template, 1.0)
    for score in (1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0):
        learning.add("", "new/m0", "chat", template, score)  # 7/10: maybe good enough
    without = {_route(snapshot, learning, 0.7, seed, share=0.0) for seed in range(50)}
    assert without == {("new/m1", None)}
    with_share = [_route(snapshot, learning, 0.7, seed, share=0.5) for seed in range(200)]
    explored = [model for model, kind in with_share if kind == "explore"]
    assert explored and set(explored) == {"new/m0"}
    assert 0.1 < len(explored) / len(with_share) < 0.5


def test_an_unlucky_start_does_not_rule_out_a_candidate_that_would_save_much() -> None:
    """1 good answer in 6 puts the cheap model's interval below the need, which used to rule
    it out for good; its chance of meeting the need (a few percent) still gets it a draw now
    and then, beside a proven one twelve times dearer."""
    snapshot = _replay_catalog((1e-6, 12e-6))
    learning = Learning()
    template = template_of("a prompt")
    for _ in range(60):
        learning.add("", "new/m1", "chat", template, 1.0)
    for score in (1.0, 0.0, 0.0, 0.0, 0.0, 0.0):
        learning.add("", "new/m0", "chat", template, score)
    estimate = learning.posterior(UNKNOWN, "", "new/m0", "chat", template)
    assert estimate.high is not None and estimate.high < 0.7 and estimate.beta is not None
    assert 0.01 <= (chance(estimate, 0.7, learning.confidence) or 0.0) < 0.1
    routes = [_route(snapshot, learning, 0.7, seed, share=0.1) for seed in range(1500)]
    explored = [model for model, kind in routes if kind == "explore"]
    assert set(explored) == {"new/m0"}
    assert 0 < len(explored) < 150  # tried, rarely (about 1 in 40)


def test_exploring_grows_with_what_a_cheaper_candidate_would_save() -> None:
    template = template_of("a prompt")

    def explored_share(dearer: float) -> float:
        learning = Learning()
        for _ in range(60):
            learning.add("", "new/m1", "chat", template, 1.0)
        for score in (1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0):
            learning.add("", "new/m0", "chat", template, score)  # 9/12: likely good enough
        snapshot = _replay_catalog((1e-6, dearer * 1e-6))
        routes = [_route(snapshot, learning, 0.7, seed, share=0.1) for seed in range(600)]
        return sum(kind == "explore" for _, kind in routes) / len(routes)

    near, far = explored_share(1.5), explored_share(12.0)
    # share x saving, at most 1, times the square of its chance, times its draw meeting the need
    assert 0.02 < near < 0.15
    assert far > 3 * near


def test_a_learned_estimate_carries_its_beta_and_its_chance_of_meeting_a_need() -> None:
    learning = Learning()
    for score in (1.0, 1.0, 1.0, 0.0):
        learning.add("", "m", "code", "t", score)
    found = learning.posterior(KNOWN, "", "m", "code", "t")
    assert found.beta == pytest.approx((6.0 + 3.0, 4.0 + 1.0))  # prior 0.6 x 10, then 3 of 4
    odds = [chance(found, need, 0.8) or 0.0 for need in (0.3, 0.6, 0.9)]
    assert odds[0] > 0.95 and 0.5 < odds[1] < 0.8 and odds[2] < 0.01
    draws = [explore_draw(found, 0.8, random.Random(i)) for i in range(2000)]
    assert sum(draws) / len(draws) == pytest.approx(9 / 14, abs=0.01)


def test_the_exploration_budget_is_charged_the_answers_cost_not_the_estimate() -> None:
    """The estimate is held when the router decides to explore; the answer's ledger cost
    replaces it once known, and a request that is never answered releases it."""

    async def run() -> None:
        limits = InProcessLimits()
        traffic = TrafficLearning(
            Learning(), OutcomeRecorder(sessionmaker()), ExplorationSettings(budget_usd_per_day=1.0)
        )
        key = KeyView(5, "app", False, KeyPolicy())
        budget = traffic.budget_limits(key, 1.0)
        assert await limits.reserve(-key.id, budget, 0.4)  # the estimate, held
        await traffic.settle(limits, key, 0.4, Decimal("0.05"))  # the bill
        assert await limits.budget_left(-key.id, budget) == pytest.approx(Decimal("0.95"))
        assert await limits.reserve(-key.id, budget, 0.4)
        await traffic.settle(limits, key, 0.4, Decimal(0))  # never answered
        assert await limits.budget_left(-key.id, budget) == pytest.approx(Decimal("0.95"))
        assert await limits.budget_left(key.id, budget) == pytest.approx(Decimal("1"))  # apart

    asyncio.run(run())


def test_a_cascade_starts_from_the_cheapest_candidate_that_may_meet_the_need() -> None:
    """Never-scored m0 and m1 may meet 0.7 (their intervals reach it); m2 is known to. Plain
    `cheapest` answers from m2; a cascade starts from m0, and escalates to m2 before m1."""
    snapshot = _replay_catalog((1e-6, 2e-6, 3e-6))
    learning = Learning()
    template = template_of("a prompt")
    for _ in range(40):
        learning.add("", "new/m2", "chat", template, 1.0)
    estimator = learning.scoped(CatalogQualityEstimator(), "")

    def candidates(strategy: str | None) -> list[str]:
        controls = RouteControls(min_quality=0.7, strategy=strategy)
        request = RouteRequest("auto", "a prompt", 1, None, frozenset(), controls)
        decision = decide(request, snapshot, estimator)
        if strategy == "cascade":
            return [c.model.hf_id for c in escalation_order(decision)]
        return [c.model.hf_id for c in decision.candidates]

    assert candidates(None) == ["new/m2"]
    assert candidates("cascade") == ["new/m0", "new/m2", "new/m1"]
    assert _route(snapshot, Learning(), 0.95, 0, strategy="cascade") == ("", None)


def test_a_need_beyond_every_interval_is_still_refused() -> None:
    snapshot = _replay_catalog((1e-6,))
    assert _route(snapshot, Learning(), 0.95, 0) == ("", None)


# --- the recorder, on both databases ----------------------------------------------------------


def _entry(route_id: str, **overrides: object) -> OutcomeEntry:
    values: dict[str, object] = {
        "route_id": route_id,
        "api_key_id": 7,
        "scope": "search",
        "model_name": "new/m0",
        "deployment_name": "replay/new/m0",
        "task": "code",
        "prompt": "def add(a, b): return a + b",
        "store_prompt": False,
        "cost_usd": Decimal("0.0001"),
    }
    values.update(overrides)
    return OutcomeEntry(**values)  # type: ignore[arg-type]


def test_the_recorder_writes_names_tallies_and_purges(sessions: sessionmaker[Session]) -> None:
    async def run() -> None:
        recorder = OutcomeRecorder(sessions, retention_days=30)
        recorder.record(_entry("r1"))
        recorder.record(_entry("r1"))  # delivered twice: kept once
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        recorder.record(_entry("r2", created_at=old, exploration="explore"))
        recorder.name_response("r1", "resp_1")
        recorder.name_response("r3", "resp_3")  # its route comes later
        await recorder.flush()
        recorder.record(_entry("r3"))
        await recorder.flush()
        with sessions.begin() as session:
            assert repo.find_route(session, "resp_1").route_id == "r1"  # type: ignore[union-attr]
            assert repo.find_route(session, "resp_3").route_id == "r3"  # type: ignore[union-attr]
            assert repo.put_feedback(session, "r1", "quality", 1.0, 7) is False
            assert repo.put_feedback(session, "r1", "quality", 0.5, 7) is True
            assert repo.put_feedback(session, "r2", "quality", 0.0, 7) is False
        with sessions() as session:
            rows = repo.tallies(session, "quality")
            assert sorted((r.scores, r.total) for r in rows) == [(2, 0.5)]
            assert session.scalars(select(RouteOutcome.prompt)).all() == [None, None, None]
        assert await recorder.purge() == 1
        with sessions() as session:
            assert {r.route_id for r in session.scalars(select(RouteOutcome))} == {"r1", "r3"}
            assert [f.route_id for f in session.scalars(select(RouteFeedback))] == ["r1"]

    asyncio.run(run())


# --- replaying outcome data as traffic ---------------------------------------------------------


@pytest.mark.skipif(not SHARED.exists(), reason="the shared outcome data is not here")
def test_a_short_replay_learns_from_nothing() -> None:
    from router.evaluation.learning_replay import replay_learning

    outcomes = load_outcomes(sorted(SHARED.glob("*.csv")))
    result = replay_learning(outcomes, requests=900, last=300, seed=0, share=0.2)
    first, later = result["curve"][0], result["curve"][-3:]
    assert result["refused"] < 100
    # From unknown models to near the oracle: the later windows beat the first.
    assert sum(w["accuracy"] for w in later) / 3 > first["accuracy"]
    assert result["accuracy_gap_last"] < 0.06


def test_an_unknown_model_starts_from_what_other_models_do_on_the_task() -> None:
    learning = Learning()
    assert learning.population_mean("", "code") == 0.5  # too few scores to say
    for _ in range(30):
        learning.add("", "known", "code", "t", 1.0)
        learning.add("", "other", "code", "t", 0.0 if _ % 5 == 0 else 1.0)
    assert learning.population_mean("", "code") == pytest.approx(0.9)
    learning.add("", "new", "code", "t", 0.0)  # one bad score among models that do well
    found = learning.posterior(UNKNOWN, "", "new", "code", "t")
    assert found.high is not None and found.high >= 0.7  # not ruled out by one score
    assert learning.population_mean("team", "code") == 0.5  # another scope's scores don't count
