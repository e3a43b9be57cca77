"""What enforcing key and team policies as limits adds to a request, printed for the closing
note (`make bench`); nothing here asserts a time. The reference, timed interleaved with each
case so that load on the machine falls on both alike, is the validation of the request's own
`route` object, which every request that carries controls pays anyway. A request without
controls whose key has no team pays nothing new (the key's policy is its controls), and one
of a team's keys pays the merge once per model while the key is cached (the gateway's memo).
Model names resolve through a dict here, as the snapshot's aliases do."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from router.accounts.policy import KeyPolicy, TeamPolicy
from router.accounts.policy_limits import Layer, effective
from router.core.requests import RouteControls

pytestmark = pytest.mark.slow

NAMES = {
    "phi-2": "microsoft/phi-2",
    "microsoft/phi-2": "microsoft/phi-2",
    "deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "llama-2-7b-chat": "meta-llama/Llama-2-7b-chat-hf",
}
KEY = KeyPolicy.model_validate(
    {
        "privacy": "auto",
        "use": {"commercial": True},
        "models": ["phi-2", "llama-2-7b-chat"],
        "max_cost_usd": 0.01,
    }
)
TEAM = ("research", TeamPolicy.model_validate({"privacy": "auto", "exclude": ["deepseek-v3"]}))
ROUTE = {"strategy": "fastest", "privacy": "local_only", "use": {"fine_tune": True}}


def resolve(ref: str) -> str | None:
    return NAMES.get(ref.lower())


def _per_call(run: Callable[[], object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        run()
    return (time.perf_counter() - started) / rounds


def _paired(case: Callable[[], object], reference: Callable[[], object]) -> tuple[float, float]:
    cases, references = [], []
    for _ in range(30):
        cases.append(_per_call(case, 300))
        references.append(_per_call(reference, 300))
    return statistics.median(cases), statistics.median(references)


def test_policy_enforcement_cost() -> None:
    def parse() -> object:
        return RouteControls.model_validate(ROUTE)

    def key_and_route() -> object:
        route = RouteControls.model_validate(ROUTE)
        return effective("app", KEY, None, [Layer("request", "route", route)], "auto", resolve)

    def team_key_and_route() -> object:
        route = RouteControls.model_validate(ROUTE)
        layers = [Layer("request", "route", route)]
        return effective("app", KEY, TEAM, layers, "phi-2", resolve)

    def team_key_alone() -> object:
        return effective("app", KEY, TEAM, [], "phi-2", resolve)

    for name, case, parses in (
        ("key policy + route", key_and_route, True),
        ("team + key policy + route + explicit model", team_key_and_route, True),
        ("team + key policy, no controls (a memo miss)", team_key_alone, False),
    ):
        took, reference = _paired(case, parse)
        added = took - reference if parses else took
        print(
            f"\n{name}: {took * 1e6:.1f} µs; parsing the route alone {reference * 1e6:.1f} µs; "
            f"the policy adds {added * 1e6:.1f} µs"
        )
