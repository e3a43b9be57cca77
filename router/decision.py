"""The routing decision: pure, in memory, no I/O. Every deployment either becomes a ranked
candidate or is excluded with the reason; the same Decision explains a dry run, a response
header and a playground row."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catalog import licensing
from catalog.schemas import UsageProfile
from catalog.snapshot import CatalogSnapshot, DeploymentView, ModelView
from catalog.terms import DeploymentKind, Verdict
from router.errors import RouteError
from router.quality import QualityEstimator, classify
from router.schemas import RouteControls

DEFAULT_COMPLETION_TOKENS = 256  # expected answer length when max_tokens is not given
# Assumed speeds where a deployment has no measured tokens/s (only used to rank "fastest").
DEFAULT_TOKENS_PER_SECOND = {
    DeploymentKind.EMBEDDED: 100.0,
    DeploymentKind.LOCAL: 50.0,
    DeploymentKind.HOSTED: 60.0,
}
ALLOWED = (Verdict.ALLOWED, Verdict.ALLOWED_WITH_OBLIGATIONS)


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


@dataclass(frozen=True)
class Candidate:
    deployment: DeploymentView
    model: ModelView
    quality: float
    quality_basis: str
    cost_usd: float
    seconds: float
    license_verdict: Verdict
    licenses: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.name,
            "model": self.model.hf_id,
            "kind": self.deployment.kind.value,
            "privacy": self.deployment.privacy.value,
            "predicted_quality": self.quality,
            "quality_basis": self.quality_basis,
            "estimated_cost_usd": round(self.cost_usd, 10),
            "estimated_seconds": round(self.seconds, 3),
            "license_verdict": self.license_verdict.value,
            "licenses": list(self.licenses),
        }


@dataclass(frozen=True)
class Excluded:
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
    is_cooling: Callable[[int], bool] = lambda _deployment_id: False,
    today_use: UsageProfile | None = None,
) -> Decision:
    controls = request.controls
    task = classify(request.prompt)
    prompt_tokens = estimate_tokens(request.prompt, request.messages)
    completion = request.max_tokens or DEFAULT_COMPLETION_TOKENS
    use = controls.use or today_use or UsageProfile()
    strategy = controls.strategy or "cheapest"

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
        route_id=f"route-{uuid.uuid4().hex}",
        task=task,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        min_quality=min_quality,
        strategy=strategy,
    )
    for model in pool:
        _consider_model(decision, model, request, snapshot, estimator, is_cooling, use, allow, deny)
    rank: dict[str, Callable[[Candidate], tuple[float, ...]]] = {
        "cheapest": lambda c: (c.cost_usd, c.seconds, -c.quality),
        "fastest": lambda c: (c.seconds, c.cost_usd, -c.quality),
        "best": lambda c: (-c.quality, c.cost_usd, c.seconds),
    }
    decision.candidates.sort(key=rank[strategy])
    return decision


def _consider_model(
    decision: Decision,
    model: ModelView,
    request: RouteRequest,
    snapshot: CatalogSnapshot,
    estimator: QualityEstimator,
    is_cooling: Callable[[int], bool],
    use: UsageProfile,
    allow: set[str] | None,
    deny: set[str],
) -> None:
    if not model.deployments:
        return
    controls = request.controls

    def exclude_all(reason: str, detail: str) -> None:
        for d in model.deployments:
            decision.excluded.append(Excluded(d.name, model.hf_id, reason, detail))

    if allow is not None and model.hf_id not in allow:
        return exclude_all("not_in_models", "not among route.models")
    if model.hf_id in deny:
        return exclude_all("excluded", "named in route.exclude")
    missing = request.needs - set(model.capabilities)
    if missing:
        return exclude_all("capability", f"the model lacks {', '.join(sorted(missing))}")
    compliance = licensing.check_model(snapshot, model, use)
    if compliance.verdict not in ALLOWED:
        decisive = next((r for r in compliance.reasons if r.verdict == compliance.verdict), None)
        why = f"{decisive.license} {decisive.term}: {decisive.message}" if decisive else ""
        return exclude_all("license", f"{compliance.verdict.value}: {why}".strip())
    needed = decision.prompt_tokens + decision.completion_tokens
    quality = estimator.estimate(request.prompt, decision.task, model, snapshot)
    licences = tuple(sorted({lic.license for lic in compliance.licenses}))
    for d in model.deployments:
        window = (
            min(w for w in (model.context_window, d.max_context) if w)
            if (model.context_window or d.max_context)
            else None
        )
        if d.status != "active":
            reason, detail = "disabled", "the deployment is disabled"
        elif controls.privacy == "local_only" and d.privacy != "local":
            reason, detail = "privacy", "prompts would leave our machines (privacy: local_only)"
        elif window is not None and needed > window:
            reason, detail = "context_window", f"needs ~{needed} tokens, the window is {window}"
        elif is_cooling(d.id):
            reason, detail = "health", "cooling down after repeated failures"
        elif d.input_cost_per_token is None or d.output_cost_per_token is None:
            reason, detail = "price", "the deployment has no known price"
        else:
            cost = (
                decision.prompt_tokens * d.input_cost_per_token
                + decision.completion_tokens * d.output_cost_per_token
            )
            if controls.max_cost_usd is not None and cost > controls.max_cost_usd:
                reason, detail = (
                    "price",
                    f"estimated ${cost:.6f} is over max_cost_usd ${controls.max_cost_usd}",
                )
            elif decision.min_quality is not None and quality.probability < decision.min_quality:
                reason = "quality"
                detail = f"predicted {quality.probability:.2f} is below {decision.min_quality:.2f}"
            else:
                speed = d.tokens_per_second or DEFAULT_TOKENS_PER_SECOND[d.kind]
                decision.candidates.append(
                    Candidate(
                        d,
                        model,
                        quality.probability,
                        quality.basis,
                        cost,
                        decision.completion_tokens / speed,
                        compliance.verdict,
                        licences,
                    )
                )
                continue
        decision.excluded.append(Excluded(d.name, model.hf_id, reason, detail))
