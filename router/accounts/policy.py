"""A key's and a team's policy, and a team's budget: what an admin sets for the callers of a
key or a team. Which fields bind a request (limits) and which it may override (defaults) is
router/accounts/policy_limits.py's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.core.requests import RouteControls

# The limits an admin may let a key's requests relax (the key's own value becomes a default
# for that field; a team's policy still binds).
RelaxableField = Literal["models", "exclude", "privacy", "use", "max_cost_usd"]


class TeamPolicy(RouteControls):
    """A team's routing controls: its limits bind every key of the team (a key may narrow
    them, never widen them); its defaults apply where neither the key nor the request sets
    one."""


class KeyPolicy(RouteControls):
    """A key's limits and defaults, the model its savings are measured against, its rate
    limits and budgets, its team, and what an admin granted it."""

    reference_model: str | None = Field(default=None, max_length=200)
    requests_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10**10)
    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)
    # The team whose budgets (MODELYARD_TEAM_BUDGETS) this key also spends from.
    team: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\w.\-]+$")
    # May this key's requests ask for `privacy: redact` (send placeholders to hosted
    # deployments)? A key whose own policy says redact may, whatever this says.
    allow_redact: bool | None = None
    # Limits of this key's own policy its requests may relax (an explicit, audited grant).
    relax: list[RelaxableField] | None = Field(default=None, max_length=5)
    # The model this key's `auto` embeddings always come from (vectors of different models
    # cannot be compared). Unset: the router's first choice is pinned for the key.
    embedding_model: str | None = Field(default=None, min_length=1, max_length=200)
    # May the router keep this key's prompt texts with their outcomes (for refitting)? Unset
    # or false: only a hashed feature vector of each prompt is kept, never its text.
    store_prompts: bool | None = None
    # false: this key's requests are never sent to an uncertain candidate to learn.
    explore: bool | None = None
    # What exploring may spend for this key per UTC day; unset: the server's setting.
    exploration_budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**6)


class TeamBudget(BaseModel):
    """A budget several keys share: every key whose policy names the team spends from it."""

    model_config = ConfigDict(extra="forbid")

    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)
