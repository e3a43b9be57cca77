"""Shapes of the OpenAI-compatible API and the routing controls."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from adapters.schemas import ChatRequest, Message
from catalog.schemas import UsageProfile

Strategy = Literal["cheapest", "fastest", "best", "balanced"]
PrivacyRule = Literal["any", "local_only"]


class RouteControls(BaseModel):
    """The `route` object of a request (the OpenAI SDK's `extra_body`), `X-Route-*` headers, or
    a key's policy. Unset fields fall through: request, then headers, then the key's policy."""

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

    def over(self, fallback: RouteControls) -> RouteControls:
        """These controls, with unset fields taken from `fallback`."""
        own = set(RouteControls.model_fields)  # a key policy's extras are not controls
        given = self.model_dump(include=own, exclude_unset=True, exclude_none=True)
        below = fallback.model_dump(include=own, exclude_unset=True, exclude_none=True)
        merged = {**below, **given}
        if "min_quality" in given:
            merged.pop("quality_as", None)
        if "quality_as" in given:
            merged.pop("min_quality", None)
        return RouteControls.model_validate(merged)


class KeyPolicy(RouteControls):
    """A key's defaults, plus the model its savings are measured against, and its limits."""

    reference_model: str | None = Field(default=None, max_length=200)
    requests_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10**10)
    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)
    # The team whose budgets (MODELYARD_TEAM_BUDGETS) this key also spends from.
    team: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\w.\-]+$")
    # The model this key's `auto` embeddings always come from (vectors of different models
    # cannot be compared). Unset: the router's first choice is pinned for the key.
    embedding_model: str | None = Field(default=None, min_length=1, max_length=200)


class TeamBudget(BaseModel):
    """A budget several keys share: every key whose policy names the team spends from it."""

    model_config = ConfigDict(extra="forbid")

    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # tool_call ids and the like pass unused

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=64)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


def _at_most_four(value: str | list[str] | None) -> str | list[str] | None:
    if isinstance(value, list) and len(value) > 4:
        raise ValueError("at most 4 stop sequences")
    return value


Stops = Annotated[str | list[str] | None, AfterValidator(_at_most_four)]


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    """OpenAI's request. Parameters the router cannot honour are refused, not ignored;
    unknown extras (sent by newer SDKs) pass unused."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=10_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: Stops = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    route: RouteControls | None = None

    def needs(self) -> set[str]:
        """Capabilities the request asks of a model."""
        needs = set()
        if self.tools:
            needs.add("tools")
        if self.response_format and self.response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            needs.add("json_mode")
        return needs

    def prompt_text(self) -> str:
        return "\n".join(m.text() for m in self.messages)

    def adapter_request(self) -> ChatRequest:
        roles = {"developer": "system"}
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        return ChatRequest(
            messages=[
                Message(role=roles.get(m.role, m.role), content=m.text(), name=m.name)
                for m in self.messages
            ],
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=stops,
            seed=self.seed,
        )


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
        return ChatCompletionIn(
            model=self.model,
            messages=[ChatMessageIn(role="user", content=prompt)],
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=self.stop,
            seed=self.seed,
            stream=self.stream,
            stream_options=self.stream_options,
            route=self.route,
        )
