"""Prices and context sizes of hosted models, read offline from litellm's bundled cost map.

The JSON file is read straight from the installed litellm package, without importing litellm:
the import costs ~10 s and would pull network-facing code into seeding and start-up.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.errors import PriceUnknown
from catalog.orm import Deployment
from catalog.terms import PriceSource

COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class HostedPrice:
    key: str  # the cost-map entry the price came from
    input_cost_per_token: float
    output_cost_per_token: float
    max_context: int | None


@functools.cache
def litellm_cost_map() -> dict[str, dict[str, Any]]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise PriceUnknown("litellm is not installed, so its cost map cannot be read")
    path = Path(next(iter(spec.submodule_search_locations))) / COST_MAP_FILE
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PriceUnknown(f"cannot read litellm's cost map at {path}: {exc}") from exc
    return data


def hosted_price(
    served_name: str, cost_map: dict[str, dict[str, Any]] | None = None
) -> HostedPrice:
    """The price litellm knows for `served_name` (the name litellm is called with).

    Some entries are keyed without their provider prefix (`meta.llama2-13b-chat-v1` for
    `bedrock/meta.llama2-13b-chat-v1`), so the prefix is dropped when it names the provider.
    """
    table = litellm_cost_map() if cost_map is None else cost_map
    candidates = [served_name]
    provider, _, rest = served_name.partition("/")
    if rest:
        candidates.append(rest)
    for key in candidates:
        entry = table.get(key)
        if entry is None or (key == rest and entry.get("litellm_provider") != provider):
            continue
        inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(inp, int | float) and isinstance(out, int | float):
            context = entry.get("max_input_tokens") or entry.get("max_tokens")
            return HostedPrice(key, float(inp), float(out), int(context) if context else None)
    raise PriceUnknown(
        f"litellm's cost map has no input and output price for '{served_name}'; "
        "give input_cost_per_token and output_cost_per_token explicitly",
        {"served_name": served_name},
    )


def token_prices(deployment: Deployment) -> tuple[float, float] | None:
    """USD per input and output token, deriving local hardware cost from hourly cost and speed."""
    if deployment.price_source == PriceSource.FREE:
        return (0.0, 0.0)
    if deployment.price_source == PriceSource.HARDWARE:
        if deployment.cost_per_hour is None or not deployment.tokens_per_second:
            return None
        per_token = deployment.cost_per_hour / 3600 / deployment.tokens_per_second
        return (per_token, per_token)
    if deployment.input_cost_per_token is None or deployment.output_cost_per_token is None:
        return None
    return (deployment.input_cost_per_token, deployment.output_cost_per_token)
