"""Embedding adapters by deployment kind: the embedded WordLlama, OpenAI-compatible local
servers, hosted providers through litellm."""

from __future__ import annotations

from adapters.base import Target
from adapters.embeddings import Embedder
from adapters.errors import UpstreamBadRequest
from adapters.upstream_embeddings import HostedEmbedder, OpenAICompatibleEmbedder
from adapters.wordllama import PREFIX, WordLlamaEmbedder


def make_embedder(target: Target) -> Embedder:
    if target.kind == "embedded":
        if not target.served_name.startswith(PREFIX):
            raise UpstreamBadRequest(
                f"the embedded model '{target.served_name}' does not embed: only "
                f"{PREFIX}<config> deployments do"
            )
        return WordLlamaEmbedder(target)
    if target.kind == "local":
        return OpenAICompatibleEmbedder(target)
    if target.kind == "hosted":
        return HostedEmbedder(target)
    raise UpstreamBadRequest(f"no embedding adapter for deployments of kind '{target.kind}'")
