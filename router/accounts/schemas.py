"""Shapes of the admin API: keys, teams and the audit log."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from router.accounts.policy import KeyPolicy, TeamPolicy

TEAM_NAME = r"^[\w.\-]+$"  # the same rule as a key policy's `team`
MAX_GRACE_SECONDS = 30 * 86_400


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # A time without a zone is taken as UTC, the zone of everything stored.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    admin: bool = False
    policy: KeyPolicy | None = None
    expires_at: dt.datetime | None = Field(default=None, description="UTC when no zone is given")

    _zone = field_validator("expires_at")(_utc)


class KeyPatch(BaseModel):
    """Fields left out stay as they are; `expires_at: null` removes the expiry."""

    model_config = ConfigDict(extra="forbid")

    policy: KeyPolicy | None = None
    admin: bool | None = None
    expires_at: dt.datetime | None = None

    _zone = field_validator("expires_at")(_utc)


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        default=3600,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="How long the previous secret keeps working",
    )


class ExpireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: dt.datetime | None = Field(default=None, description="Default: now")

    _zone = field_validator("at")(_utc)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=TEAM_NAME)
    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)
    policy: TeamPolicy | None = Field(
        default=None, description="Limits that bind every key of the team, and defaults"
    )


class TeamPatch(BaseModel):
    """Fields left out stay as they are; null removes that budget (or the policy); a policy
    given is replaced whole."""

    model_config = ConfigDict(extra="forbid")

    budget_usd_per_day: float | None = Field(default=None, ge=0, le=10**7)
    budget_usd_per_month: float | None = Field(default=None, ge=0, le=10**8)
    policy: TeamPolicy | None = None


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200, description="The key's name")
