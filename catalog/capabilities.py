"""What a deployment can do with a chat request: tools, structured output, images, logprobs…

Capabilities belong to deployments, not models: the same open model takes tools behind vLLM
with a tool parser and not behind a plain llama.cpp server. They come from three places:

- hosted deployments: litellm's bundled model map (`supports_function_calling` and friends),
  read at seed or registration time, never typed by hand;
- local servers: declared when registered (`deployments add --capabilities tools,json_schema`);
  `responses_api` says the server answers POST /v1/responses itself;
- the embedded model: known here (grammar-constrained JSON and tool calls; no images or
  logprobs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, get_args

from catalog.errors import PriceUnknown
from catalog.prices import litellm_cost_map

DeploymentCapability = Literal[
    "tools",
    "parallel_tools",
    "tool_choice",
    "json_mode",
    "json_schema",
    "vision",
    "audio",
    "files",
    "logprobs",
    "n",
    # Not a need of any request: the upstream serves POST /v1/responses itself (vLLM, OpenAI),
    # so an OpenAI-compatible one is sent a Responses request as the client wrote it
    # (router/api/responses_forward.py) instead of its chat translation.
    "responses_api",
]
ALL: tuple[DeploymentCapability, ...] = get_args(DeploymentCapability)

# llama-cpp-python builds a grammar from a JSON schema, so even a fresh install answers
# response_format with valid JSON, and tool calls whose arguments fit each tool's schema
# (adapters/embedded_tools.py).
EMBEDDED: tuple[DeploymentCapability, ...] = (
    "tools",
    "parallel_tools",
    "tool_choice",
    "json_mode",
    "json_schema",
)

# litellm's model-map flags, and the capability each one grants.
MAP_FLAGS: dict[str, tuple[DeploymentCapability, ...]] = {
    "supports_function_calling": ("tools",),
    "supports_parallel_function_calling": ("parallel_tools",),
    "supports_tool_choice": ("tool_choice",),
    # A provider that takes a JSON schema takes json_object too.
    "supports_response_schema": ("json_schema", "json_mode"),
    "supports_vision": ("vision",),
    "supports_audio_input": ("audio",),
    "supports_pdf_input": ("files",),
}
# The map says nothing of logprobs or n: litellm's parameter table decides per provider at call
# time, and the hosted adapter refuses (naming the parameter) what the provider cannot take.
CHECKED_AT_CALL_TIME: tuple[DeploymentCapability, ...] = ("logprobs", "n")
# The map lists the endpoints a model is served on; Responses is one of them.
RESPONSES_ENDPOINT = "/v1/responses"


def _map_entry(served_name: str, table: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The entry for `served_name`, with the same provider-prefix rule as prices."""
    entry = table.get(served_name)
    if entry is not None:
        return entry
    provider, _, rest = served_name.partition("/")
    entry = table.get(rest) if rest else None
    if entry is not None and entry.get("litellm_provider") == provider:
        return entry
    return None


def hosted_capabilities(
    served_name: str, cost_map: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """What litellm's model map says the hosted model takes (none if it does not know it)."""
    try:
        table = litellm_cost_map() if cost_map is None else cost_map
    except PriceUnknown:
        return []
    entry = _map_entry(served_name, table) or {}
    found: set[DeploymentCapability] = set(CHECKED_AT_CALL_TIME)
    for flag, grants in MAP_FLAGS.items():
        if entry.get(flag) is True:
            found.update(grants)
    if RESPONSES_ENDPOINT in (entry.get("supported_endpoints") or ()):
        found.add("responses_api")
    return ordered(found)


def ordered(capabilities: Iterable[str]) -> list[str]:
    """In the canonical order, without repeats (so equal sets store equally)."""
    given = set(capabilities)
    return [c for c in ALL if c in given]
