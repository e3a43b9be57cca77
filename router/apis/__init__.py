"""The other APIs clients speak, each one translation over the chat-completions gateway:
the OpenAI Responses API (responses.py) and the Anthropic Messages API (messages.py).

A request in another API's shape becomes the canonical chat request (OpenAI's wire format,
validated by `ChatCompletionIn`), goes through the one gateway (decision, limits, budgets,
execution with fallback, ledger, metrics), and its chat answer — or its stream of
chat.completion.chunk dicts — is translated back. Nothing here decides or executes."""
