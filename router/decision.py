"""The routing decision: pure, in memory, no I/O. Every deployment either becomes a ranked
candidate or is excluded with the reason; the same Decision explains a dry run, a response
header and a playground row."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from catalog import licensing
from catalog.schemas import ModelCompliance, UsageProfile
from catalog.snapshot import CatalogSnapshot, DeploymentView, ModelView
from catalog.terms import DeploymentKind, DeploymentStatus, Privacy, Verdict
from router.errors import RouteError
from router.quality import QualityEstimator, classify
from router.schemas import RouteControls

DEFAULT_COMPLETION_TOKENS = 256  # expected answer length when max_tokens is not given
# Assumed speeds where a deployment has no measured tokens/s (only used to rank "fastest").
# Keyed by the kind's text: hashing an enum member calls Python code, a str's hash is cached.
DEFAULT_TOKENS_PER_SECOND = {
    DeploymentKind.EMBEDDED.value: 100.0,
    DeploymentKind.LOCAL.value: 50.0,
    DeploymentKind.HOSTED.value: 60.0,
}
ALLOWED = (Verdict.ALLOWED, Verdict.ALLOWED_WITH_OBLIGATIONS)
ACTIVE = DeploymentStatus.ACTIVE
LOCAL = Privacy.LOCAL


def estimate_tokens(text: str, messages: int) -> int:
    """Prompt tokens without a tokenizer: about 3.5 characters a token (English prose and
    code under the Llama/Mistral tokenizers), plus 4 tokens of chat framing per message."""
    return int(len(text) / 3.5) + 4 * messages + 1


@dataclass(frozen=True)
class RouteRequest:
    """What the decision needs to know of a request."""

    model: str  # catalog id, alias, or "auto"
    prompt: str
    messages: int
    max_tokens: int | None
    needs: frozenset[str]
    controls: RouteControls


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.name,
            "model": self.model.hf_id,
            "kind": self.deployment.kind.value,
            "privacy": self.deployment.privacy.value,
            "predicted_quality": self.quality,
            "quality_basis": self.quality_basis,
            "quality_estimator": self.quality_estimator,
            "estimated_cost_usd": round(self.cost_usd, 10),
            "estimated_seconds": round(self.seconds, 3),
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


@dataclass
class Decision:
    route_id: str
    task: str
    prompt_tokens: int
    completion_tokens: int
    min_quality: float | None
    strategy: str
    candidates: list[Candidate] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "task": self.task,
            "estimated_prompt_tokens": self.prompt_tokens,
            "estimated_completion_tokens": self.completion_tokens,
            "min_quality": self.min_quality,
            "strategy": self.strategy,
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


def decide(
    request: RouteRequest,
    snapshot: CatalogSnapshot,
    estimator: QualityEstimator,
    cooling: Collection[int] = frozenset(),
) -> Decision:
    controls = request.controls
    task = classify(request.prompt)
    prompt_tokens = estimate_tokens(request.prompt, request.messages)
    completion = request.max_tokens or DEFAULT_COMPLETION_TOKENS
    use = controls.use or UsageProfile()
    strategy = controls.strategy or "cheapest"
    if strategy == "balanced" and not controls.quality_value_usd:
        raise RouteError(
            "strategy 'balanced' needs route.quality_value_usd (what a good answer is worth)",
            param="route.quality_value_usd",
        )

    if request.model.lower() == "auto":
        pool = list(snapshot.models.values())
    else:
        chosen = snapshot.find(request.model)
        if chosen is None:
            raise RouteError(
                f"the model '{request.model}' does not exist in the catalog", "model_not_found", 404
            )
        pool = [chosen]
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
        min_quality = estimator.estimate(request.prompt, task, reference, snapshot).probability

    decision = Decision(
        route_id=f"route-{os.urandom(12).hex()}",
        task=task,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        min_quality=min_quality,
        strategy=strategy,
    )
    verdicts = licensing.checker(snapshot, use)
    for model in pool:
        _consider_model(
            decision, model, request, snapshot, estimator, cooling, verdicts, allow, deny
        )
    decision.candidates.sort(key=_ORDER)
    return decision


_ORDER = itemgetter(9)
new_tuple = tuple.__new__


def _consider_model(
    decision: Decision,
    model: ModelView,
    request: RouteRequest,
    snapshot: CatalogSnapshot,
    estimator: QualityEstimator,
    cooling: Collection[int],
    verdicts: Callable[[ModelView], ModelCompliance],
    allow: set[str] | None,
    deny: set[str],
) -> None:
    if not model.deployments:
        return
    controls = request.controls
    excluded = decision.excluded

    def exclude_all(reason: str, detail: str) -> None:
        excluded.extend(Excluded(d.name, model.hf_id, reason, detail) for d in model.deployments)

    if allow is not None and model.hf_id not in allow:
        return exclude_all("not_in_models", "not among route.models")
    if model.hf_id in deny:
        return exclude_all("excluded", "named in route.exclude")
    missing = request.needs - set(model.capabilities) if request.needs else None
    if missing:
        return exclude_all("capability", f"the model lacks {', '.join(sorted(missing))}")
    compliance = verdicts(model)
    if compliance.verdict not in ALLOWED:
        decisive = next((r for r in compliance.reasons if r.verdict == compliance.verdict), None)
        why = f"{decisive.license} {decisive.term}: {decisive.message}" if decisive else ""
        return exclude_all("license", f"{compliance.verdict.value}: {why}".strip())
    quality = estimator.estimate(request.prompt, decision.task, model, snapshot)
    probability = quality.probability
    licences = tuple(sorted({lic.license for lic in compliance.licenses}))
    # Per-deployment checks in one tight loop: this runs for every deployment in the catalog.
    prompt, completion = decision.prompt_tokens, decision.completion_tokens
    needed = prompt + completion
    local_only = controls.privacy == "local_only"
    max_cost = controls.max_cost_usd
    min_quality = decision.min_quality
    too_weak = min_quality is not None and probability < min_quality
    model_window = model.context_window
    by_cost, by_speed = decision.strategy == "cheapest", decision.strategy == "fastest"
    # balanced: the expected value of the answer minus its cost, in units of a good answer.
    value = controls.quality_value_usd if decision.strategy == "balanced" else None
    verdict = compliance.verdict
    basis, source = quality.basis, quality.estimator
    candidates = decision.candidates
    for d in model.deployments:
        window = (
            d.max_context
            if d.max_context and (not model_window or d.max_context < model_window)
            else model_window
        )
        if d.status is not ACTIVE:
            excluded.append(Excluded(d.name, model.hf_id, "disabled", "the deployment is disabled"))
        elif local_only and d.privacy is not LOCAL:
            excluded.append(
                Excluded(
                    d.name,
                    model.hf_id,
                    "privacy",
                    "prompts would leave our machines (privacy: local_only)",
                )
            )
        elif window is not None and needed > window:
            excluded.append(
                Excluded(
                    d.name,
                    model.hf_id,
                    "context_window",
                    f"needs ~{needed} tokens, the window is {window}",
                )
            )
        elif d.id in cooling:
            excluded.append(
                Excluded(d.name, model.hf_id, "health", "cooling down after repeated failures")
            )
        elif d.input_cost_per_token is None or d.output_cost_per_token is None:
            excluded.append(
                Excluded(d.name, model.hf_id, "price", "the deployment has no known price")
            )
        else:
            cost = prompt * d.input_cost_per_token + completion * d.output_cost_per_token
            if max_cost is not None and cost > max_cost:
                detail = f"estimated ${cost:.6f} is over max_cost_usd ${max_cost}"
                excluded.append(Excluded(d.name, model.hf_id, "price", detail))
            elif too_weak:
                detail = f"predicted {probability:.2f} is below {min_quality:.2f}"
                excluded.append(Excluded(d.name, model.hf_id, "quality", detail))
            else:
                speed = d.tokens_per_second or DEFAULT_TOKENS_PER_SECOND[d.kind._value_]
                seconds = completion / speed
                if by_cost:
                    order = (cost, seconds, -probability)
                elif by_speed:
                    order = (seconds, cost, -probability)
                elif value:
                    order = (cost / value - probability, cost, seconds)
                else:
                    order = (-probability, cost, seconds)
                # tuple.__new__ skips the named tuple's Python-level constructor.
                candidates.append(
                    new_tuple(
                        Candidate,
                        (
                            d,
                            model,
                            probability,
                            basis,
                            source,
                            cost,
                            seconds,
                            verdict,
                            licences,
                            order,
                        ),
                    )
                )
