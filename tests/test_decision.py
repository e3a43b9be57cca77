"""The routing decision on the seeded catalog: pure, so no server is needed."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.snapshot import CatalogSnapshot
from router.core.errors import RouteError
from router.core.requests import RouteControls
from router.core.tokens import estimate_tokens
from router.quality.estimators import CatalogQualityEstimator, classify
from router.routing.decision import RouteRequest, decide

ESTIMATOR = CatalogQualityEstimator()


def route(
    snapshot: CatalogSnapshot,
    model: str = "auto",
    prompt: str = "Tell me a joke about cats.",
    max_tokens: int | None = 100,
    needs: frozenset[str] = frozenset(),
    cooling: set[int] | None = None,
    **controls: Any,
) -> Any:
    request = RouteRequest(
        model, prompt, 1, max_tokens, needs, RouteControls.model_validate(controls)
    )
    return decide(request, snapshot, ESTIMATOR, cooling or set())


def reasons(decision: Any) -> dict[str, str]:
    return {e.deployment: e.reason for e in decision.excluded}


def test_cheapest_first_with_no_constraints(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot)
    chosen = decision.candidates[0]
    assert chosen.deployment.name == "embedded/smollm2-135m-instruct"  # free and local
    costs = [c.cost_usd for c in decision.candidates]
    assert costs == sorted(costs)
    assert decision.as_dict()["chosen"]["deployment"] == chosen.deployment.name


def test_quality_need_picks_the_cheapest_good_enough(snapshot: CatalogSnapshot) -> None:
    decision = route(
        snapshot, prompt="Who was the first president of the United States?", min_quality=0.6
    )
    assert decision.task == "knowledge"
    assert all(c.quality >= 0.6 for c in decision.candidates)
    assert reasons(decision)["embedded/smollm2-135m-instruct"] == "quality"
    best_value = min(decision.candidates, key=lambda c: c.cost_usd)
    assert decision.candidates[0] is best_value


def test_quality_as_a_named_model(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot, prompt="What is the capital of Peru?", quality_as="llama-2-70b-chat")
    reference = ESTIMATOR.estimate(
        "", "knowledge", snapshot.models["meta-llama/Llama-2-70b-chat-hf"], snapshot
    )
    # The need is the reference's lower bound, and each candidate's lower bound meets it.
    assert reference.low is not None and decision.min_quality == reference.low
    assert all(c.quality_low is not None for c in decision.candidates)
    assert all((c.quality_low or 0) >= reference.low for c in decision.candidates)
    below = [e for e in decision.excluded if e.reason == "quality"]
    assert below and all("(lower bound) is below" in e.detail for e in below)


def test_privacy_local_only(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot, privacy="local_only")
    assert {c.deployment.privacy.value for c in decision.candidates} == {"local"}
    assert reasons(decision)["fireworks/phi-2"] == "privacy"


def test_licence_profile_excludes_with_the_clause(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot, use={"train_on_outputs": True})
    excluded = {e.model: e for e in decision.excluded if e.reason == "license"}
    assert "meta-llama/Llama-2-7b-chat-hf" in excluded
    assert "outputs_to_improve_models" in excluded["meta-llama/Llama-2-7b-chat-hf"].detail
    assert "mistralai/Mistral-7B-v0.1" not in excluded
    big = route(snapshot, use={"commercial": True, "monthly_active_users": 200_000_000})
    assert "Qwen/Qwen2.5-72B-Instruct" in {e.model for e in big.excluded if e.reason == "license"}


def test_a_named_model_and_its_deployments_only(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot, model="phi-2")
    assert {c.model.hf_id for c in decision.candidates} == {"microsoft/phi-2"}
    with pytest.raises(RouteError) as raised:
        route(snapshot, model="nobody/nothing")
    assert raised.value.status == 404 and raised.value.code == "model_not_found"


def test_context_window(snapshot: CatalogSnapshot) -> None:
    long_prompt = "word " * 40_000  # ~57K tokens
    decision = route(snapshot, prompt=long_prompt)
    assert reasons(decision)["embedded/smollm2-135m-instruct"] == "context_window"
    # The window that counts is the smaller of the model's and the deployment's, where known
    # (litellm's map gives hosted deployments theirs when the card's is unverified).
    windows = [
        min(w for w in (c.model.context_window, c.deployment.max_context) if w)
        for c in decision.candidates
    ]
    assert all(w >= 57_000 for w in windows)
    assert decision.candidates  # the 128K models remain


def test_capabilities_are_the_deployments(snapshot: CatalogSnapshot) -> None:
    decision = route(snapshot, needs=frozenset({"tools"}))
    # litellm's model map says which hosted deployments call tools; the embedded one calls them
    # under a grammar (adapters/embedded_tools.py).
    chosen = {c.deployment.name for c in decision.candidates}
    assert {"deepinfra/qwen2.5-72b-instruct", "embedded/smollm2-135m-instruct"} <= chosen
    assert all("tools" in c.deployment.capabilities for c in decision.candidates)
    excluded = {e.deployment: e for e in decision.excluded}
    assert excluded["replicate/llama-2-7b"].reason == "capability"
    both = route(snapshot, needs=frozenset({"tools", "vision"}))
    assert all({"tools", "vision"} <= c.deployment.capabilities for c in both.candidates)
    lacking = {e.deployment: e.detail for e in both.excluded}
    assert lacking["embedded/smollm2-135m-instruct"] == "the deployment lacks vision"
    schema = route(snapshot, needs=frozenset({"json_schema"}))
    assert "embedded/smollm2-135m-instruct" in {c.deployment.name for c in schema.candidates}


def test_cost_ceiling_health_lists_and_strategies(snapshot: CatalogSnapshot) -> None:
    capped = route(snapshot, max_cost_usd=0.00001)
    assert "price" in set(reasons(capped).values())
    assert all(c.cost_usd <= 0.00001 for c in capped.candidates)
    embedded = snapshot.models["HuggingFaceTB/SmolLM2-135M-Instruct"].deployments[0]
    cooled = route(snapshot, cooling={embedded.id})
    assert reasons(cooled)[embedded.name] == "health"
    only = route(snapshot, models=["phi-2", "mistral-7b"])
    assert {c.model.hf_id for c in only.candidates} == {
        "microsoft/phi-2",
        "mistralai/Mistral-7B-v0.1",
    }
    without = route(snapshot, exclude=["smollm2"])
    assert reasons(without)[embedded.name] == "excluded"
    best = route(snapshot, strategy="best")
    qualities = [c.quality for c in best.candidates]
    assert qualities == sorted(qualities, reverse=True)
    fastest = route(snapshot, strategy="fastest")
    assert fastest.candidates[0].seconds == min(c.seconds for c in fastest.candidates)
    with pytest.raises(RouteError, match="unknown models: nope"):
        route(snapshot, models=["nope"])


def test_task_classification_and_token_estimate() -> None:
    assert classify("def add(a, b): return a + b  # fix this bug") == "code"
    assert classify("What is 17 * 23?") == "math"
    assert classify("Why does ice float on water?") == "reasoning"
    assert classify("Who wrote Hamlet?") == "knowledge"
    assert classify("Hello there, how are you today?") == "chat"
    assert estimate_tokens("x" * 350, 2) == 100 + 8 + 1


def test_quality_comes_from_scores_ancestors_or_size(snapshot: CatalogSnapshot) -> None:
    llama70 = snapshot.models["meta-llama/Llama-2-70b-hf"]
    own = ESTIMATOR.estimate("", "code", llama70, snapshot)
    assert own.basis.startswith("code: ability ")
    assert "HumanEval 29.9" in own.basis and "MBPP 45" in own.basis and "Llama 2 paper" in own.basis
    assert own.low is not None and own.high is not None
    assert own.low < own.probability < own.high
    vicuna = snapshot.models["lmsys/vicuna-13b-v1.5"]
    inherited = ESTIMATOR.estimate("", "knowledge", vicuna, snapshot)
    assert "of meta-llama/Llama-2-13b-hf" in inherited.basis
    smol = snapshot.models["HuggingFaceTB/SmolLM2-135M-Instruct"]
    prior = ESTIMATOR.estimate("", "chat", smol, snapshot)
    assert "family and size prior" in prior.basis and prior.probability < 0.3
