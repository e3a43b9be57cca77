"""The adapters' one exception tree. Every client library's error (httpx, aiohttp, litellm,
llama.cpp) is translated into one of these at the adapter boundary, so the router can decide
on fallbacks and OpenAI-style errors without knowing which library failed."""

from __future__ import annotations


class AdapterError(Exception):
    """Base. `retryable`: another deployment may well succeed (the router falls back)."""

    code = "upstream_error"
    status = 502  # what the gateway answers when no fallback is left
    retryable = True
    param: str | None = None  # the request field at fault, when one is

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status


class UpstreamTimeout(AdapterError):
    code = "upstream_timeout"
    status = 504


class UpstreamUnavailable(AdapterError):
    """Connection refused, reset, or the upstream went away mid-answer."""

    code = "upstream_unavailable"
    status = 503


class UpstreamServerError(AdapterError):
    code = "upstream_server_error"
    status = 502


class RateLimited(AdapterError):
    code = "rate_limited"
    status = 429

    def __init__(
        self, message: str, *, retry_after: float | None = None, upstream_status: int | None = 429
    ) -> None:
        super().__init__(message, upstream_status=upstream_status)
        self.retry_after = retry_after


class UpstreamBadRequest(AdapterError):
    """The upstream refused the request itself; another deployment of the same kind would too."""

    code = "upstream_bad_request"
    status = 400
    retryable = False


class ContextTooLong(UpstreamBadRequest):
    """Too long for this deployment; one with a larger window may still take it."""

    code = "context_length_exceeded"
    retryable = True


class MalformedResponse(AdapterError):
    """The upstream answered, but not with a valid chat completion (or cut it short)."""

    code = "malformed_upstream_response"
    status = 502


class ModelUnavailable(AdapterError):
    """The embedded model cannot be loaded here (package or file missing)."""

    code = "model_unavailable"
    status = 503


class UnsupportedParameter(UpstreamBadRequest):
    """The deployment cannot honour a parameter the request set. Another deployment may (the
    router falls back); if none can, the caller gets a 400 naming the parameter."""

    code = "unsupported_parameter"
    retryable = True

    def __init__(self, param: str, why: str) -> None:
        super().__init__(f"{param}: {why}")
        self.param = param


class ProviderKeyMissing(AdapterError):
    """A hosted provider needs a key that neither the settings nor the environment give."""

    code = "provider_key_missing"
    status = 503
