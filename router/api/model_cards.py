"""/v1/models entries: OpenAI's fields, plus what OpenRouter-style clients read to choose a
model (`context_length`, `pricing`, `supported_parameters`) and the deployments' capabilities.
The OpenAI SDK keeps unknown fields, so the extras break nothing."""

from __future__ import annotations

from typing import Any

from catalog.snapshot import ModelView
from catalog.terms import DeploymentStatus

# Honoured by every deployment kind (the embedded model included).
BASE_PARAMETERS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)
# Parameters a capability opens.
CAPABILITY_PARAMETERS = {
    "tools": ("tools", "tool_choice"),
    "parallel_tools": ("parallel_tool_calls",),
    "json_mode": ("response_format",),
    "json_schema": ("response_format", "structured_outputs"),
    "logprobs": ("logprobs", "top_logprobs"),
    "n": ("n",),
}


def base_card(model_id: str, created: int) -> dict[str, Any]:
    owner = model_id.split("/", 1)[0] if "/" in model_id else "modelyard"
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def model_card(model: ModelView, created: int) -> dict[str, Any]:
    """The model's card, from its active deployments: the union of their capabilities, the
    largest window they accept, and the cheapest blended price (USD per token, as text, the
    way OpenRouter writes it)."""
    active = [d for d in model.deployments if d.status == DeploymentStatus.ACTIVE]
    capabilities = sorted({c for d in active for c in d.capabilities})
    windows = [w for d in active if (w := d.max_context or model.context_window)]
    priced = [
        (d.input_cost_per_token, d.output_cost_per_token)
        for d in active
        if d.input_cost_per_token is not None and d.output_cost_per_token is not None
    ]
    cheapest = min(priced, key=lambda p: p[0] + p[1]) if priced else None
    parameters = list(BASE_PARAMETERS)
    for capability in capabilities:
        for name in CAPABILITY_PARAMETERS.get(capability, ()):
            if name not in parameters:
                parameters.append(name)
    return {
        **base_card(model.hf_id, created),
        "context_length": max(windows) if windows else model.context_window,
        "pricing": (
            {"prompt": f"{cheapest[0]:.12g}", "completion": f"{cheapest[1]:.12g}"}
            if cheapest
            else None
        ),
        "capabilities": capabilities,
        "supported_parameters": parameters,
    }
