"""The router's vocabulary: the request shapes every surface becomes (the canonical chat
request plus its `route` controls, the legacy completions request), the exception tree,
and token estimates made without a tokenizer.

May import: `catalog` and `adapters` only (nothing else of the router)."""

from router.core.errors import (
    Forbidden,
    KeyExists,
    KeyNotFound,
    KeyStateConflict,
    RouteError,
    RouterError,
    TeamNotFound,
    Unauthorized,
)
from router.core.requests import (
    ChatCompletionIn,
    CompletionIn,
    Message,
    PrivacyRule,
    RouteControls,
    Strategy,
    TextPart,
)
from router.core.tokens import DEFAULT_COMPLETION_TOKENS, estimate_tokens

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "ChatCompletionIn",
    "CompletionIn",
    "Forbidden",
    "KeyExists",
    "KeyNotFound",
    "KeyStateConflict",
    "Message",
    "PrivacyRule",
    "RouteControls",
    "RouteError",
    "RouterError",
    "Strategy",
    "TeamNotFound",
    "TextPart",
    "Unauthorized",
    "estimate_tokens",
]
