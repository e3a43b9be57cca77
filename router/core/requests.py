"""Shapes of the OpenAI-compatible API and the routing controls a request carries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.schemas import (  # re-exported: the canonical request's parts
    ChatRequest,
    Message,
    Stops,
    StreamOptions,
    TextPart,
)
from catalog.schemas import UsageProfile

__all__ = [
    "ChatCompletionIn",
    "ChatMessageIn",
    "CompletionIn",
    "Message",
    "RouteControls",
    "StreamOptions",
    "TextPart",
]

# "cascade": cheapest first, each answer checked before it is returned, escalating on a failed
# check (router/pipeline/cascade.py).
Strategy = Literal["cheapest", "fastest", "best", "balanced", "cascade"]
# "auto": anything personal or secret found in the request keeps it on local and embedded
# deployments; "redact": hosted deployments get typed placeholders instead (router/privacy/).
PrivacyRule = Literal["any", "local_only", "auto", "redact"]


class RouteControls(BaseModel):
    """The `route` object of a request (the OpenAI SDK's `extra_body`), `X-Route-*` headers, or
    a key's or team's policy. The policies' limits bind the request, which may only narrow
    them; defaults fall through: request, then headers, then key, then team
    (router/accounts/policy_limits.py)."""

    model_config = ConfigDict(extra="forbid")

    min_quality: float | None = Field(default=None, ge=0, le=1)
    quality_as: str | None = Field(default=None, min_length=1, max_length=200)
    privacy: PrivacyRule | None = None
    use: UsageProfile | None = None
    max_cost_usd: float | None = Field(default=None, ge=0, le=1000)
    models: list[str] | None = Field(default=None, max_length=500)
    exclude: list[str] | None = Field(default=None, max_length=500)
    strategy: Strategy | None = None
    # For strategy "balanced": what a good answer is worth to the caller, in USD. The router
    # then maximises predicted quality - cost / this value, trading a little quality for a
    # large saving where the estimator is unsure.
    quality_value_usd: float | None = Field(default=None, gt=0, le=1000)
    # Opt in to the response cache: an identical complete request within this many seconds
    # gets the stored answer, free.
    cache_ttl_seconds: int | None = Field(default=None, ge=0, le=86_400)

    @model_validator(mode="after")
    def _one_quality_rule(self) -> RouteControls:
        if self.min_quality is not None and self.quality_as is not None:
            raise ValueError("give min_quality or quality_as, not both")
        return self


ChatMessageIn = Message  # the name this module used before the canonical request


class ChatCompletionIn(ChatRequest):
    """OpenAI's request, as the router takes it: the canonical request (adapters/schemas.py,
    every field typed and forwarded or refused by name) plus the `route` controls. The same
    object reaches the adapter; there is no second, smaller copy."""

    model: str = Field(min_length=1, max_length=200)
    route: RouteControls | None = None


class CompletionIn(BaseModel):
    """The legacy /v1/completions request: a prompt instead of messages."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    prompt: str | list[str] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: Stops = None  # the same rules as chat's: as_chat() must never refuse what passed here
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    route: RouteControls | None = None

    def as_chat(self) -> ChatCompletionIn:
        prompt = self.prompt if isinstance(self.prompt, str) else "".join(self.prompt)
        given = self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed", "stream_options"},
            exclude_none=True,
        )
        # Only what the client set: the canonical request forwards every field that is set.
        return ChatCompletionIn(
            model=self.model,
            messages=[Message(role="user", content=prompt)],
            stream=self.stream,
            route=self.route,
            **given,
        )
