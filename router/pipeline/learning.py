"""Learning on the request path, kept small: each request's estimator reads the feedback of
its key's scope; exploration may send it to an uncertain candidate within the key's
exploration budget; its outcome is queued for the batch writer. Nothing here waits on the
database."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from router.accounts.keys import KeyView
from router.core.requests import ChatCompletionIn, RouteControls
from router.quality.estimators import Estimate, QualityEstimator
from router.quality.feedback import Learning
from router.quality.traffic import OutcomeEntry, OutcomeRecorder
from router.routing.decision import Candidate, Decision
from router.routing.exploration import explore
from router.state.limits import KeyLimits, Limits

if TYPE_CHECKING:
    from router.pipeline.gateway import Gateway


@dataclass(frozen=True)
class ExplorationSettings:
    share: float = 0.1  # of requests with a proven candidate, tried on an uncertain one
    budget_usd_per_day: float = 1.0  # per key, unless its policy sets its own


class TrafficLearning:
    def __init__(
        self,
        learning: Learning,
        recorder: OutcomeRecorder,
        exploration: ExplorationSettings,
        rng: random.Random | None = None,
    ) -> None:
        self.learning = learning
        self.recorder = recorder
        self.exploration = exploration
        self.rng = rng or random.Random()

    def estimator(self, prior: QualityEstimator, key: KeyView) -> QualityEstimator:
        """The decision's estimator for the key. A scope that never sent feedback has learned
        nothing, and its points are the prior's: the prior itself, at no cost per model
        (exploration reads the unknown models' intervals itself)."""
        scope = self.learning.scope_of(key.policy.team)
        if scope not in self.learning.scopes:
            return prior
        return self.learning.scoped(prior, scope)

    @staticmethod
    def budget_limits(key: KeyView, default: float) -> KeyLimits:
        per_day = key.policy.exploration_budget_usd_per_day
        return KeyLimits(budget_usd_per_day=default if per_day is None else per_day)

    async def explore(
        self,
        gateway: Gateway,
        body: ChatCompletionIn,
        controls: RouteControls,
        key: KeyView,
        decision: Decision,
    ) -> Decision:
        """The decision, or one trying an uncertain candidate first, paid from the key's
        exploration budget (a counter of its own beside the key's budgets): its estimated
        cost is held there now, and `settle` replaces it with the answer's ledger cost."""
        if key.policy.explore is False or decision.min_quality is None:
            return decision
        if decision.need is not None:
            # The server's default need is advisory (routing/default_need.py): a request
            # below it is answered anyway, so there is nothing to explore for.
            return decision
        estimator = self.learning.scoped(gateway.estimator, self.learning.scope_of(key.policy.team))
        snapshot = gateway.snapshot()
        prompt = body.prompt_text()
        # min_quality 0: nothing is excluded for quality, and the server's default need
        # (which applies only when no need is stated) stays out of it.
        relaxed_controls = controls.model_copy(update={"min_quality": 0.0, "quality_as": None})

        def estimate(candidate: Candidate) -> Estimate:
            return estimator.estimate(prompt, decision.task, candidate.model, snapshot)

        explored = explore(
            decision,
            lambda: gateway.decide(
                body, relaxed_controls, None, self.estimator(gateway.estimator, key)
            ),
            estimate,
            self.rng,
            self.exploration.share,
            self.learning.confidence,
            # Exploring for a scope that never scores answers would teach nothing.
            may_explore=self.learning.scope_of(key.policy.team) in self.learning.scopes,
        )
        if explored.exploration is None:
            return explored  # as decided, or a proven candidate before an unproven cheaper one
        cost = explored.candidates[0].cost_usd
        limits = self.budget_limits(key, self.exploration.budget_usd_per_day)
        # A counter under the key's negated id: its own budget, shared by replicas like the
        # key's (Redis when configured), never mixed with what the key may spend.
        if not await gateway.limits.reserve(-key.id, limits, cost):
            return decision
        return explored

    async def settle(self, limits: Limits, key: KeyView, reserved: float, cost: Decimal) -> None:
        """The key's exploration budget charged what the explored answer cost (the ledger's
        figure, escalations of a cascade included), not the estimate held for it at the
        decision: an estimate from the prompt and max_tokens can be far from the bill."""
        budget = self.budget_limits(key, self.exploration.budget_usd_per_day)
        await limits.settle(-key.id, budget, reserved, cost)

    def record(
        self,
        key: KeyView,
        decision: Decision,
        candidate: Candidate,
        body: ChatCompletionIn,
        cost: Decimal,
    ) -> None:
        self.recorder.record(
            OutcomeEntry(
                route_id=decision.route_id,
                api_key_id=key.id,
                scope=self.learning.scope_of(key.policy.team),
                model_name=candidate.model.hf_id,
                deployment_name=candidate.deployment.name,
                task=decision.task,
                prompt=body.prompt_text(),
                # Even where the policy allows it, a prompt the privacy scan found personal
                # data or secrets in is never kept.
                store_prompt=bool(key.policy.store_prompts)
                and not (decision.privacy is not None and decision.privacy.findings),
                exploration=decision.exploration or "",
                cost_usd=cost,
            )
        )
