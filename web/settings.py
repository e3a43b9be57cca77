"""Settings, read once at the composition root from MODELYARD_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.accounts import TeamBudget
from router.routing import DEFAULT_AUTO_NEED, DefaultNeed


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the default SQLite file lives")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default: a SQLite file in data_dir"
    )
    redis_url: str | None = Field(default=None, description="Unset: one process, state in memory")
    team_budgets: dict[str, TeamBudget] = Field(
        default_factory=dict,
        description='Budgets keys share, by team, JSON: {"search": {"budget_usd_per_day": 50}}; '
        'a key joins one with "team" in its policy',
    )
    limits_failure_policy: Literal["open", "closed"] = Field(
        default="open",
        description="When Redis is unreachable: let requests through (open) or refuse them with "
        "a 503 (closed); either way each is logged and counted",
    )
    spread_tolerance: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Deployments whose estimated cost is within this fraction of the cheapest "
        "share traffic (by requests in flight and measured speed); 0: the cheapest takes all",
    )
    cascade_min_confidence: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="strategy cascade: an answer that carries logprobs escalates when its "
        "tokens' geometric-mean probability is below this; 0: off (a plain value for now)",
    )
    cascade_max_answers: int = Field(
        default=3,
        ge=1,
        le=20,
        description="strategy cascade: the most answers one request pays for before the last "
        "is returned whatever its check says",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Worker processes `serve` runs on one port; unset: one per core when "
        "MODELYARD_REDIS_URL is set (they share state through it), else one",
    )
    server: Literal["uvicorn", "granian"] = Field(
        default="uvicorn", description="The HTTP server `serve` runs the app under"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, with the route id"
    )
    ledger_flush_seconds: float = Field(
        default=0.5, gt=0, le=3600, description="How often buffered usage records are written"
    )
    quality_estimator: Literal["bundled", "catalog"] | Path = Field(
        default="bundled",
        description="bundled: the estimator fitted on the outcome data that ships with the "
        "project (fitted once, kept in data_dir); catalog: benchmark scores alone; or a file "
        "from `modelyard router fit`",
    )
    auto_need: str = Field(
        default=DEFAULT_AUTO_NEED,
        description="What model 'auto' must meet when neither the request nor its key states "
        "a need: 'as_good_as:<catalog model>', 'min_quality:<0-1>' or 'none'",
    )
    learning_scope: Literal["team", "install"] = Field(
        default="team",
        description="Whose feedback moves whose estimates: each team's its own (keys without a "
        "team share the install's), or everyone's together",
    )
    learning_prior_strength: float = Field(
        default=10.0,
        gt=0,
        le=10_000,
        description="How many scores the prior (benchmark ability, bundled outcome data) counts "
        "as before feedback moves it",
    )
    learning_confidence: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="The width of the learned quality interval (its central probability)",
    )
    learning_poll_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="How often each replica reads the feedback tallies"
    )
    exploration_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Of requests a known candidate can serve, the share tried on a candidate "
        "whose estimate is uncertain; 0: only when no candidate is known to meet the need",
    )
    exploration_budget_usd_per_day: float = Field(
        default=1.0,
        ge=0,
        le=10**6,
        description="What exploring may spend per key and UTC day, unless the key's policy "
        "sets exploration_budget_usd_per_day",
    )
    outcome_retention_days: float = Field(
        default=90.0,
        gt=0,
        le=36_500,
        description="How long routed requests' outcomes (and their feedback) are kept",
    )
    hf_endpoint: str | None = Field(
        default=None,
        description="The Hugging Face Hub to import from; unset: huggingface-hub's default "
        "(which honours HF_ENDPOINT)",
    )
    hf_token: SecretStr | None = Field(default=None, description="A Hub token, for gated repos")
    provider_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Hosted provider keys by provider, JSON: {"fireworks_ai": "fw-…"}. '
        "litellm also reads each provider's own variable (FIREWORKS_API_KEY, …).",
    )

    otel_endpoint: str | None = Field(
        default=None,
        # OpenTelemetry's own variable, as every other OTLP exporter reads it.
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_endpoint"),
        description="Export one trace span per model request to this OTLP/HTTP endpoint "
        "(e.g. http://collector:4318); unset: no tracing at all",
    )
    otel_service_name: str = Field(
        default="modelyard",
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "otel_service_name"),
    )

    def hf_token_value(self) -> str | None:
        return self.hf_token.get_secret_value() if self.hf_token else None

    def provider_key_values(self) -> dict[str, str]:
        return {name: key.get_secret_value() for name, key in self.provider_keys.items()}

    def configured_providers(self) -> frozenset[str]:
        """Hosted providers this process holds a key for: in provider_keys, or in the
        provider's own environment variable, which litellm reads (FIREWORKS_API_KEY, …)."""
        from adapters.credentials import configured_providers

        keys = [name for name, key in self.provider_keys.items() if key.get_secret_value()]
        return configured_providers(keys, os.environ)

    def default_need(self) -> DefaultNeed | None:
        return DefaultNeed.parse(self.auto_need)

    @model_validator(mode="after")
    def _valid_auto_need(self) -> Settings:
        self.default_need()  # a bad value stops start-up with its message
        return self

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'modelyard.db').resolve()}"
        return self
