"""Adapters by name: a deployment's kind picks the class that reaches it."""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import Adapter, Target
from adapters.embedded import EmbeddedAdapter
from adapters.errors import UpstreamBadRequest
from adapters.hosted import HostedAdapter
from adapters.openai_compat import OpenAICompatibleAdapter

ADAPTERS: dict[str, Callable[[Target], Adapter]] = {
    "embedded": EmbeddedAdapter,
    "local": OpenAICompatibleAdapter,
    "hosted": HostedAdapter,
}


def make_adapter(target: Target) -> Adapter:
    factory = ADAPTERS.get(target.kind)
    if factory is None:
        raise UpstreamBadRequest(f"no adapter for deployments of kind '{target.kind}'")
    return factory(target)
