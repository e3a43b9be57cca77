"""Hosted providers (OpenAI, Azure, Together, Fireworks, Anyscale, Bedrock, Mistral…) through
litellm. `import litellm` costs ~10 s, so it happens on the first hosted call, never at start-up
or on the local path; its cost map is read from the installed package, never fetched."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from adapters.base import Target
from adapters.credentials import short_reason
from adapters.errors import (
    AdapterError,
    ContextTooLong,
    MalformedResponse,
    ProviderKeyMissing,
    RateLimited,
    UnsupportedParameter,
    UpstreamBadRequest,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.schemas import ChatRequest, unsupported

# Set by the router for every request, never a provider parameter to check.
ALWAYS_TAKEN = frozenset({"stream_options"})


@functools.cache
def litellm_module() -> ModuleType:
    # litellm would otherwise download its cost map on import; the bundled copy is enough.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def translate(exc: Exception, secret: str | None) -> AdapterError:
    """litellm's exception (by class name: its module is loaded lazily) as one of ours."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if _connection_failure(exc):
        # litellm reports a refused connection as an InternalServerError; the cause says more.
        names.add("APIConnectionError")
    # The provider's own words, without litellm's class-name chains or object reprs.
    message = short_reason(_scrub(str(getattr(exc, "message", None) or exc), secret))
    status = getattr(exc, "status_code", None)
    if "ContextWindowExceededError" in names:
        return ContextTooLong(message, upstream_status=status)
    if "RateLimitError" in names:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        retry_after = headers.get("retry-after") if hasattr(headers, "get") else None
        try:
            seconds = float(retry_after) if retry_after else None
        except ValueError:
            seconds = None
        return RateLimited(message, retry_after=seconds)
    if "Timeout" in names:
        return UpstreamTimeout(message, upstream_status=status)
    if "APIConnectionError" in names:
        return UpstreamUnavailable(message, upstream_status=status)
    if names & {"AuthenticationError", "PermissionDeniedError"}:
        return UpstreamServerError(message, upstream_status=status)
    if names & {"BadRequestError", "NotFoundError", "UnprocessableEntityError"}:
        return UpstreamBadRequest(message, upstream_status=status)
    if "APIResponseValidationError" in names:
        return MalformedResponse(message, upstream_status=status)
    return UpstreamServerError(message, upstream_status=status)


def _connection_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError) or type(current).__name__ in (
            "ConnectError",
            "APIConnectionError",
            "ClientConnectorError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


@functools.lru_cache(maxsize=1024)
def provider_params(served_name: str) -> frozenset[str] | None:
    """The OpenAI parameters litellm maps for this provider and model (None: it cannot say)."""
    litellm = litellm_module()
    try:
        params = litellm.get_supported_openai_params(model=served_name)
    except Exception:  # an unknown provider prefix: litellm raises its own BadRequestError
        return None
    return frozenset(params) if params is not None else None


class HostedAdapter:
    def __init__(self, target: Target) -> None:
        self.target = target
        self._key_checked = False

    def _require_key(self, litellm: ModuleType) -> None:
        """Say which key is missing before calling, instead of the provider's 401. A server
        of our own (`base_url`) may need no key at all."""
        if self._key_checked or self.target.api_key or self.target.base_url:
            return
        try:
            found = litellm.validate_environment(model=self.target.served_name)
        except Exception:  # litellm cannot tell for this model: let the call decide
            found = {"keys_in_environment": True}
        missing = found.get("missing_keys") or []
        if not found.get("keys_in_environment") and missing:
            provider = self.target.served_name.split("/", 1)[0]
            raise ProviderKeyMissing(
                f'no API key for {provider}: set MODELYARD_PROVIDER_KEYS=\'{{"{provider}": '
                f'"…"}}\' or {" and ".join(missing)}'
            )
        self._key_checked = True

    def _refusal(self, request: ChatRequest) -> UnsupportedParameter | None:
        """litellm's parameter table decides what the provider takes. drop_params is never
        turned on: a parameter it cannot map is refused by name, not silently dropped."""
        takes = provider_params(self.target.served_name)
        if takes is None:
            param = unsupported(request, ALWAYS_TAKEN)
            why = "litellm cannot say which parameters this provider takes"
        else:
            param = unsupported(request, takes | ALWAYS_TAKEN)
            why = f"litellm maps no such parameter for {self.target.served_name}"
        return UnsupportedParameter(param, why) if param is not None else None

    def _arguments(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = request.openai_body(self.target.served_name, stream=stream)
        body["timeout"] = self.target.timeouts.total
        body["num_retries"] = 0  # the router decides about retries and fallbacks
        if self.target.api_key:
            body["api_key"] = self.target.api_key
        if self.target.base_url:
            body["api_base"] = self.target.base_url
        return body

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        litellm = litellm_module()
        # A parameter the provider cannot take is refused whether or not a key is set.
        refused = self._refusal(request)
        if refused is not None:
            raise refused
        self._require_key(litellm)
        try:
            async with asyncio.timeout(self.target.timeouts.total):
                response = await litellm.acompletion(**self._arguments(request, stream=False))
        except TimeoutError as exc:
            raise UpstreamTimeout(f"provider took over {self.target.timeouts.total:g} s") from exc
        except Exception as exc:  # litellm raises many types; each becomes one of ours
            raise translate(exc, self.target.api_key) from exc
        data: dict[str, Any] = response.model_dump()
        if not data.get("choices"):
            raise MalformedResponse("the provider's answer has no choices")
        return data

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        litellm = litellm_module()
        # A parameter the provider cannot take is refused whether or not a key is set.
        refused = self._refusal(request)
        if refused is not None:
            raise refused
        self._require_key(litellm)
        try:
            async with asyncio.timeout(self.target.timeouts.total):
                response = await litellm.acompletion(**self._arguments(request, stream=True))
                async for chunk in response:
                    yield chunk.model_dump(exclude_none=True)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"provider took over {self.target.timeouts.total:g} s") from exc
        except AdapterError:
            raise
        except Exception as exc:
            raise translate(exc, self.target.api_key) from exc
