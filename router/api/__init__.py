"""The surfaces clients speak, each a translation over the one gateway (router/pipeline/):

- OpenAI chat completions, the legacy completions, the dry run and model cards
  (chat_http.py, model_cards.py);
- the OpenAI Responses API (responses.py; forwarded as is to servers that serve it,
  responses_forward.py; stored answers, response_store.py, orm.py, repository.py);
- the Anthropic Messages API (messages.py);
- embeddings (embeddings.py) through the same decision, admission, fallback and ledger.

A request in another API's shape becomes the canonical chat request (OpenAI's wire format,
validated by `ChatCompletionIn`), goes through the gateway (decision, limits, budgets,
execution with fallback, ledger, metrics), and its chat answer — or its stream of
chat.completion.chunk dicts — is translated back. Nothing here decides or executes. The
`*_http.py` modules are the HTTP handlers; `web` mounts them.

May import: every other router package (and `catalog`, `adapters`)."""

from router.api import feedback_http
from router.api.chat_http import SSE_HEADERS, chat_response
from router.api.embeddings import EmbedderPool, EmbeddingsService
from router.api.event_stream import EventStreamResponse
from router.api.json_answer import JSONAnswer
from router.api.response_store import ResponseStore
from router.api.responses_messages_http import ApiHandlers

__all__ = [
    "SSE_HEADERS",
    "ApiHandlers",
    "EmbedderPool",
    "EmbeddingsService",
    "EventStreamResponse",
    "JSONAnswer",
    "ResponseStore",
    "chat_response",
    "feedback_http",
]
