"""Which hosted providers this install can call, and upstream failures as short plain reasons.

litellm reads each provider's key from the provider's own environment variable; which
variables those are is litellm's convention, so it lives here beside the hosted adapter. The
composition root passes the environment in (adapters never read it themselves).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# provider (litellm's prefix) → variable sets, any one of which makes the provider callable.
# Each set must be complete: Bedrock needs both halves of an AWS key.
PROVIDER_ENVIRONMENT: dict[str, tuple[tuple[str, ...], ...]] = {
    "openai": (("OPENAI_API_KEY",),),
    "azure": (("AZURE_API_KEY",), ("AZURE_OPENAI_API_KEY",)),
    "anthropic": (("ANTHROPIC_API_KEY",),),
    "anyscale": (("ANYSCALE_API_KEY",),),
    "bedrock": (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE",)),
    "cloudflare": (("CLOUDFLARE_API_KEY", "CLOUDFLARE_ACCOUNT_ID"),),
    "cohere": (("COHERE_API_KEY",),),
    "deepinfra": (("DEEPINFRA_API_KEY",),),
    "fireworks_ai": (("FIREWORKS_API_KEY",), ("FIREWORKS_AI_API_KEY",), ("FIREWORKSAI_API_KEY",)),
    "gemini": (("GEMINI_API_KEY",),),
    "groq": (("GROQ_API_KEY",),),
    "huggingface": (("HUGGINGFACE_API_KEY",), ("HF_TOKEN",)),
    "mistral": (("MISTRAL_API_KEY",),),
    "perplexity": (("PERPLEXITYAI_API_KEY",), ("PERPLEXITY_API_KEY",)),
    "replicate": (("REPLICATE_API_KEY",), ("REPLICATE_API_TOKEN",)),
    "together_ai": (("TOGETHERAI_API_KEY",), ("TOGETHER_API_KEY",), ("TOGETHER_AI_API_KEY",)),
}


def environment_names(provider: str) -> tuple[tuple[str, ...], ...]:
    """The variable sets for `provider`; an unknown one follows litellm's usual PROVIDER_API_KEY."""
    return PROVIDER_ENVIRONMENT.get(provider, ((f"{provider.upper()}_API_KEY",),))


def configured_providers(keys: Iterable[str], environ: Mapping[str, str]) -> frozenset[str]:
    """Providers with a key: those given one in settings (`keys`), those whose variables
    (above) are set in `environ`, and any other provider by litellm's PROVIDER_API_KEY rule."""
    found = set(keys)
    for provider, choices in PROVIDER_ENVIRONMENT.items():
        if any(all(environ.get(name) for name in names) for names in choices):
            found.add(provider)
    suffix = "_API_KEY"
    found.update(
        name[: -len(suffix)].lower()
        for name, value in environ.items()
        if name.endswith(suffix) and value and name[: -len(suffix)]
    )
    return frozenset(found)


_REPR = re.compile(r"<[^<>]*? (?:object )?at 0x[0-9a-fA-F]+>")
_PREFIX = re.compile(r"^(?:litellm\.)?\w*(?:Error|Exception)(?: - |: )")
_NOISE = re.compile(r"\s+")
MAX_REASON = 240


def short_reason(text: str) -> str:
    """A library's error text as one short sentence for a client: no object reprs, no chains
    of exception class names ("litellm.AuthenticationError: AuthenticationError: OpenAIException
    - …"), no tracebacks, at most MAX_REASON characters."""
    text = _REPR.sub("", text).split("\nTraceback", 1)[0]
    text = text.replace(" ssl:", " ").replace("[]", "")
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text.strip())
    text = _NOISE.sub(" ", text).strip(" .:-")
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1].rstrip() + "…"
    return text or "no reason given"
