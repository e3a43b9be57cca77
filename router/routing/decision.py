"""The routing decision: pure, in memory, no I/O. Every deployment either becomes a ranked
candidate or is excluded with the reason; the same Decision explains a dry run, a response
header and a playground row.

Checks that depend on the model (allow and deny lists, capabilities, licence, predicted
quality) run once per model; checks that depend on the deployment run as vector operations
over the snapshot's deployment table, and candidates and exclusions become objects only
when someone reads them: the gateway usually reads one candidate of thousands.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, overload

import numpy as np
import numpy.typing as npt

from catalog import licensing
from catalog.schemas import UsageProfile
from catalog.snapshot import CatalogSnapshot, DeploymentView, ModelView
from catalog.terms import Verdict
from router.core.errors import RouteError
from router.core.requests import RouteControls
from router.core.tokens import DEFAULT_COMPLETION_TOKENS, estimate_tokens
from router.privacy.check import PrivacyCheck
from router.quality.estimators import QualityEstimator, classify, embedding_quality
from router.routing.deployment_table import (
    DeploymentTable,
    Floats,
    Ints,
    model_table,
    table_for,
)
from router.routing.provider_keys import uncredentialed
from router.routing.speed import SpeedBook

EMBEDDINGS = "embeddings"  # the capability of embedding models, and the need of their requests
ALLOWED = (Verdict.ALLOWED, Verdict.ALLOWED_WITH_OBLIGATIONS)
# Output tokens a request's `reasoning_effort` adds before the answer, when the request sets
# no max_tokens: the router's assumption (docs/quality.md), not any model's published figure.
REASONING_TOKENS = {"none": 0, "minimal": 0, "low": 1_000, "medium": 4_000, "high": 16_000}
NO_USE = UsageProfile()  # no profile given: built once, not per request


_ROUTE_PREFIX = f"route-{os.urandom(8).hex()}-"  # random per process, so replicas never clash
_route_numbers = itertools.count(1)


def next_route_id() -> str:
    """A unique id per decision: a per-process random prefix and a counter (os.urandom per
    request was a syscall on the hot path)."""
    return f"{_ROUTE_PREFIX}{next(_route_numbers):x}"


@dataclass(frozen=True)
class RouteRequest:
    """What the decision needs to know of a request."""

    model: str  # catalog id, alias, or "auto"
    prompt: str
    messages: int
    max_tokens: int | None
    needs: frozenset[str]
    controls: RouteControls
    budget_usd: float | None = None  # what the key's budgets have left; None: no budget
    privacy: PrivacyCheck | None = None  # what privacy auto/redact found in the request
    extra_tokens: int = 0  # prompt tokens the text does not show: tool schemas, images
    # Embeddings: the vector size asked for; the tokens when known exactly (token arrays);
    # the longest input's tokens, which is what a deployment's window must hold.
    dimensions: int | None = None
    prompt_tokens: int | None = None
    longest_input: int | None = None
    reasoning_effort: str | None = None  # the request's: the estimate follows that mode


class Candidate(NamedTuple):
    # A named tuple, not a dataclass: thousands are made per decision, and this is cheaper.
    deployment: DeploymentView
    model: ModelView
    quality: float
    quality_basis: str
    quality_estimator: str
    cost_usd: float
    seconds: float
    license_verdict: Verdict
    licenses: tuple[str, ...]
    order: tuple[float, float, float]  # the ranking key for the decision's strategy
    tokens_per_second: float = 0.0  # measured from live traffic when `speed_measured`
    ttft_seconds: float = 0.0
    speed_measured: bool = False
    quality_low: float | None = None  # the estimate's 90% interval, where it has one
    quality_high: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.name,
            "model": self.model.hf_id,
            "kind": self.deployment.kind.value,
            "privacy": self.deployment.privacy.value,
            "predicted_quality": self.quality,
            "quality_basis": self.quality_basis,
            "quality_estimator": self.quality_estimator,
            "quality_interval": None
            if self.quality_low is None
            else [self.quality_low, self.quality_high],
            "estimated_cost_usd": round(self.cost_usd, 10),
            "estimated_seconds": round(self.seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "ttft_seconds": round(self.ttft_seconds, 4),
            "speed": "measured" if self.speed_measured else "assumed",
            "license_verdict": self.license_verdict.value,
            "licenses": list(self.licenses),
        }


class Excluded(NamedTuple):
    deployment: str
    model: str
    reason: str  # licence, privacy, context_window, capability, health, price, quality, …
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {
            "deployment": self.deployment,
            "model": self.model,
            "reason": self.reason,
            "detail": self.detail,
        }


T = TypeVar("T")


class LazyList(Sequence[T]):
    """A read-only list whose items are made on first access, then kept (so `is` holds)."""

    def __init__(self, size: int, make: Callable[[int], T]) -> None:
        self._items: list[T | None] = [None] * size
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def _get(self, i: int) -> T:
        item = self._items[i]
        if item is None:
            item = self._items[i] = self._make(i)
        return item

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(len(self)))]
        return self._get(range(len(self))[i])

    def __iter__(self) -> Iterator[T]:
        return (self._get(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"LazyList({list(self)!r})"


@dataclass
class Decision:
    route_id: str
    task: str
    prompt_tokens: int
    completion_tokens: int
    min_quality: float | None
    strategy: str
    candidates: Sequence[Candidate]
    excluded: Sequence[Excluded]
    privacy: PrivacyCheck | None = None
    need: str | None = None  # the server's default need for auto, when it applied (need.py)
    # "explore" or "unproven" when an uncertain candidate goes first (routing/exploration.py)
    exploration: str | None = None

    def as_dict(self) -> dict[str, Any]:
        privacy = {"privacy": self.privacy.as_dict()} if self.privacy else {}
        return {
            **privacy,
            "route_id": self.route_id,
            "task": self.task,
            "estimated_prompt_tokens": self.prompt_tokens,
            "estimated_completion_tokens": self.completion_tokens,
            "min_quality": self.min_quality,
            "strategy": self.strategy,
            "need": self.need,
            "exploration": self.exploration,
            "chosen": self.candidates[0].as_dict() if self.candidates else None,
            "candidates": [c.as_dict() for c in self.candidates],
            "excluded": [e.as_dict() for e in self.excluded],
        }


def _resolve(snapshot: CatalogSnapshot, refs: list[str] | None, field_name: str) -> set[str] | None:
    if refs is None:
        return None
    found = {ref: snapshot.find(ref) for ref in refs}
    unknown = [ref for ref, model in found.items() if model is None]
    if unknown:
        raise RouteError(
            f"route.{field_name} names unknown models: {', '.join(unknown)}", "model_not_found", 404
        )
    return {m.hf_id for m in found.values() if m is not None}


# Why a deployment is out, in the order the checks run. Model-level reasons come first.
CANDIDATE, OUTSIDE = 0, 1  # OUTSIDE: not the model the request named; not reported
NOT_IN_MODELS, EXCLUDED, CAPABILITY, LICENSE = 2, 3, 4, 5
DISABLED, PRIVACY, WINDOW, HEALTH, UNPRICED, OVER_BUDGET, BUDGET, QUALITY = range(6, 14)
NO_CREDENTIALS = 14  # before WINDOW in precedence (the overwrite order), whatever its number
REASONS = {
    NOT_IN_MODELS: "not_in_models",
    EXCLUDED: "excluded",
    CAPABILITY: "capability",
    LICENSE: "license",
    DISABLED: "disabled",
    PRIVACY: "privacy",
    WINDOW: "context_window",
    HEALTH: "health",
    UNPRICED: "price",
    OVER_BUDGET: "price",
    BUDGET: "budget",
    QUALITY: "quality",
    NO_CREDENTIALS: "no_credentials",
}


@dataclass
class _ModelFacts:
    """What the decision learned of each routable model, by position in the table."""

    code: npt.NDArray[np.int8]
    detail: list[str]
    quality: Floats
    low: Floats  # the lower bound a need is compared with (the point without an interval)
    high: list[float | None]
    basis: list[str]
    source: list[str]
    verdict: list[Verdict]
    licenses: list[tuple[str, ...]]


def _judge_models(
    table: DeploymentTable,
    request: RouteRequest,
    snapshot: CatalogSnapshot,
    estimator: QualityEstimator,
    task: str,
    named: ModelView | None,
    allow: set[str] | None,
    deny: set[str],
) -> _ModelFacts:
    count = len(table.models)
    # Filled as lists and made arrays at the end: a numpy item assignment costs ~10x a
    # list's, and the loop makes two per model.
    quality, low = [0.0] * count, [0.0] * count
    facts = _ModelFacts(
        np.full(count, OUTSIDE if named else CANDIDATE, dtype=np.int8),
        [""] * count,
        np.zeros(0),
        np.zeros(0),
        [None] * count,
        [""] * count,
        [""] * count,
        [Verdict.NEEDS_REVIEW] * count,
        [()] * count,
    )
    if named is not None:
        position = table.index.get(named.hf_id)
        chosen = [] if position is None else [(position, named)]
    else:
        chosen = list(enumerate(table.models))
    verdicts = licensing.checker(snapshot, request.controls.use or NO_USE)
    embeds = EMBEDDINGS in request.needs
    for i, model in chosen:
        code, detail = CANDIDATE, ""
        # Capabilities are the deployments' (a server's tool parser, a provider's schema
        # support), checked per deployment in decide().
        if allow is not None and model.hf_id not in allow:
            code, detail = NOT_IN_MODELS, "not among route.models"
        elif model.hf_id in deny:
            code, detail = EXCLUDED, "named in route.exclude"
        elif embeds and EMBEDDINGS not in model.capabilities:
            code, detail = CAPABILITY, "the model lacks embeddings"
        elif not embeds and EMBEDDINGS in model.capabilities and "chat" not in model.capabilities:
            code, detail = CAPABILITY, "an embedding model: it answers /v1/embeddings only"
        elif request.dimensions and request.dimensions not in model.embedding_dimensions:
            sizes = ", ".join(map(str, model.embedding_dimensions)) or "no declared"
            code, detail = CAPABILITY, f"returns {sizes} dimensions, not {request.dimensions}"
        else:
            compliance = verdicts(model)
            if compliance.verdict not in ALLOWED:
                decisive = next(
                    (r for r in compliance.reasons if r.verdict == compliance.verdict), None
                )
                why = f"{decisive.license} {decisive.term}: {decisive.message}" if decisive else ""
                code, detail = LICENSE, f"{compliance.verdict.value}: {why}".strip()
            else:
                estimate = (
                    embedding_quality(model)
                    if embeds
                    else estimator.estimate(request.prompt, task, model, snapshot)
                )
                quality[i] = estimate.probability
                # Estimate.lower_bound, without the property's call on the hot path
                low[i] = estimate.probability if estimate.low is None else estimate.low
                facts.high[i] = estimate.high
                facts.basis[i], facts.source[i] = estimate.basis, estimate.estimator
                facts.verdict[i] = compliance.verdict
                facts.licenses[i] = compliance.license_ids
        facts.code[i], facts.detail[i] = code, detail
    facts.quality, facts.low = np.array(quality), np.array(low)
    return facts


def _order_keys(
    strategy: str, cost: Floats, seconds: Floats, quality: Floats, value: float | None
) -> tuple[Floats, Floats, Floats]:
    """Sort keys, most significant first."""
    if strategy == "fastest":
        return (seconds, cost, -quality)
    if strategy == "best":
        return (-quality, cost, seconds)
    if strategy == "balanced" and value:
        # The expected value of the answer minus its cost, in units of a good answer.
        return (cost / value - quality, cost, seconds)
    return (cost, seconds, -quality)


def decide(
    request: RouteRequest,
    snapshot: CatalogSnapshot,
    estimator: QualityEstimator,
    cooling: Collection[int] = frozenset(),
    providers: frozenset[str] | None = None,
    measured: SpeedBook | None = None,
) -> Decision:
    """`providers`: the hosted providers with a key configured (None: do not check).
    `measured`: speeds from live traffic, over the catalog's assumed ones."""
    controls = request.controls
    embeds = EMBEDDINGS in request.needs
    task = EMBEDDINGS if embeds else classify(request.prompt, request.needs)
    if request.reasoning_effort is not None and hasattr(estimator, "for_effort"):
        estimator = estimator.for_effort(request.reasoning_effort)  # the mode asked for
    prompt_tokens = (
        estimate_tokens(request.prompt, request.messages) + request.extra_tokens
        if request.prompt_tokens is None
        else request.prompt_tokens
    )
    completion = 0 if embeds else request.max_tokens or DEFAULT_COMPLETION_TOKENS
    if request.max_tokens is None and request.reasoning_effort in REASONING_TOKENS:
        # Reasoning tokens are billed as output; a stated max_tokens already caps them.
        completion += REASONING_TOKENS[request.reasoning_effort]
    strategy = controls.strategy or "cheapest"
    if strategy == "balanced" and not controls.quality_value_usd:
        raise RouteError(
            "strategy 'balanced' needs route.quality_value_usd (what a good answer is worth)",
            param="route.quality_value_usd",
        )
    named = None
    if request.model.lower() != "auto":
        named = snapshot.find(request.model)
        if named is None:
            raise RouteError(
                f"the model '{request.model}' does not exist in the catalog", "model_not_found", 404
            )
    allow = _resolve(snapshot, controls.models, "models")
    deny = _resolve(snapshot, controls.exclude, "exclude") or set()
    min_quality = controls.min_quality
    if controls.quality_as is not None:
        reference = snapshot.find(controls.quality_as)
        if reference is None:
            raise RouteError(
                f"route.quality_as names an unknown model: {controls.quality_as}",
                "model_not_found",
                404,
            )
        # The reference's lower bound: it meets its own need, and a model meets it only
        # when its own lower bound does.
        min_quality = estimator.estimate(request.prompt, task, reference, snapshot).lower_bound

    table = table_for(snapshot) if named is None else model_table(snapshot, named)
    facts = _judge_models(table, request, snapshot, estimator, task, named, allow, deny)
    # An embeddings request's inputs are each read on their own: the longest must fit.
    needed = (request.longest_input if embeds else None) or prompt_tokens + completion
    quality = facts.quality[table.owner]
    cost = prompt_tokens * table.input_cost + completion * table.output_cost
    # An embedding's time goes into reading its inputs; a chat answer's into writing.
    work = completion or prompt_tokens
    if measured is None:
        speed, ttft = table.speed, None
        seconds = work / speed
    else:
        speed, ttft = measured.columns(table)
        seconds = ttft + work / speed
    max_cost = controls.max_cost_usd
    # The checks run from the last reason to the first, each overwriting the one before, so
    # the reason that sticks is the first that applies; a model's own reason beats them all.
    code = np.zeros(len(table), dtype=np.int8)
    if min_quality is not None:  # a need is met by the interval's lower end, not the point
        reach = facts.low[table.owner]
        if strategy == "cascade":
            # A cascade checks each answer and escalates a failed one, so it may start from
            # a candidate that may meet the need: the interval's upper end reaches it.
            upper = [q if h is None else h for q, h in zip(facts.quality, facts.high, strict=True)]
            reach = np.asarray(upper, dtype=np.float64)[table.owner]
        code[reach < min_quality] = QUALITY
    if request.budget_usd is not None:  # free deployments (cost 0) always fit
        code[cost > request.budget_usd] = BUDGET
    if max_cost is not None:
        code[cost > max_cost] = OVER_BUDGET
    code[table.unpriced] = UNPRICED
    if cooling:
        code[np.isin(table.ids, np.fromiter(cooling, dtype=np.int64))] = HEALTH
    if providers is not None:
        code[uncredentialed(table, providers)] = NO_CREDENTIALS
    code[table.window < needed] = WINDOW
    stays_local = request.privacy is not None and request.privacy.keeps_local
    if controls.privacy == "local_only" or stays_local:
        code[table.external] = PRIVACY
    code[table.disabled] = DISABLED
    # Embeddings is a model's capability (judged above); the rest are the deployments'.
    deployment_needs = request.needs - {EMBEDDINGS}
    if deployment_needs:
        code[table.lacking_any(deployment_needs)] = CAPABILITY
    by_model = facts.code[table.owner]
    code = np.where(by_model != CANDIDATE, by_model, code)

    chosen: Ints = np.flatnonzero(code == CANDIDATE)
    value = controls.quality_value_usd
    keys = _order_keys(strategy, cost[chosen], seconds[chosen], quality[chosen], value)
    permutation: Ints = np.lexsort(keys[::-1])
    ranked = chosen[permutation]
    out = np.flatnonzero(code > OUTSIDE)

    def candidate(k: int) -> Candidate:
        i = int(ranked[k])
        m = int(table.owner[i])
        q = float(quality[i])
        c, t = float(cost[i]), float(seconds[i])
        j = int(permutation[k])
        order = (float(keys[0][j]), float(keys[1][j]), float(keys[2][j]))
        return Candidate(
            table.deployments[i],
            table.models[m],
            q,
            facts.basis[m],
            facts.source[m],
            c,
            t,
            facts.verdict[m],
            facts.licenses[m],
            order,
            float(speed[i]),
            0.0 if ttft is None else float(ttft[i]),
            measured is not None and measured.get(int(table.ids[i])) is not None,
            float(facts.low[m]) if facts.high[m] is not None else None,
            facts.high[m],
        )

    def excluded(k: int) -> Excluded:
        i = int(out[k])
        m = int(table.owner[i])
        why = int(code[i])
        if why == PRIVACY and stays_local and request.privacy is not None:
            return Excluded(
                table.deployments[i].name,
                table.models[m].hf_id,
                REASONS[why],
                request.privacy.exclusion_detail(),
            )
        return Excluded(
            table.deployments[i].name,
            table.models[m].hf_id,
            REASONS[why],
            _detail(
                why,
                _missing(table.deployments[i], request.needs)
                if why == CAPABILITY and facts.code[m] == CANDIDATE
                else facts.detail[m],
                needed,
                float(table.window[i]),
                float(cost[i]),
                controls.max_cost_usd,
                float(facts.low[m]),
                min_quality,
                table.deployments[i].provider,
            ),
        )

    return Decision(
        route_id=next_route_id(),
        task=task,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        min_quality=min_quality,
        strategy=strategy,
        candidates=LazyList(len(ranked), candidate),
        excluded=LazyList(len(out), excluded),
        privacy=request.privacy,
    )


def _missing(deployment: DeploymentView, needs: frozenset[str]) -> str:
    lacks = sorted(needs - deployment.capabilities)
    return f"the deployment lacks {', '.join(lacks)}"


def _detail(
    why: int,
    model_detail: str,
    needed: int,
    window: float,
    cost: float,
    max_cost: float | None,
    quality: float,
    min_quality: float | None,
    provider: str = "",
) -> str:
    if why < DISABLED:
        return model_detail
    if why == DISABLED:
        return "the deployment is disabled"
    if why == NO_CREDENTIALS:
        return f"no key is configured for the provider '{provider}'"
    if why == PRIVACY:
        return "prompts would leave our machines (privacy: local_only)"
    if why == WINDOW:
        return f"needs ~{needed} tokens, the window is {int(window)}"
    if why == HEALTH:
        return "cooling down after repeated failures"
    if why == UNPRICED:
        return "the deployment has no known price"
    if why == OVER_BUDGET:
        return f"estimated ${cost:.6f} is over max_cost_usd ${max_cost}"
    if why == BUDGET:
        return f"estimated ${cost:.6f} is more than the key's budget has left"
    return f"predicted {quality:.2f} (lower bound) is below {min_quality:.2f}"
