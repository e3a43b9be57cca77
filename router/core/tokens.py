"""Token estimates without a tokenizer: what the decision prices a request by before any model
has counted it."""

DEFAULT_COMPLETION_TOKENS = 256  # expected answer length when max_tokens is not given


def estimate_tokens(text: str, messages: int) -> int:
    """Prompt tokens without a tokenizer: about 3.5 characters a token (English prose and
    code under the Llama/Mistral tokenizers), plus 4 tokens of chat framing per message."""
    return int(len(text) / 3.5) + 4 * messages + 1
