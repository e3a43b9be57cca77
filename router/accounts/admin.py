"""Keys and teams as an admin manages them (over HTTP and on the command line alike): every
change is checked, applied and recorded in the audit log in the caller's session; the caller's
transaction commits them together. Secrets are returned once and stored only as hashes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from router.accounts import audit, keys
from router.accounts import repository as repo
from router.accounts.orm import ApiKey, Team
from router.accounts.policy import KeyPolicy, TeamBudget, TeamPolicy
from router.accounts.policy_limits import FIELD_KINDS
from router.accounts.schemas import KeyIn, KeyPatch, TeamIn, TeamPatch
from router.core.errors import KeyNotFound, KeyStateConflict, TeamNotFound

GRANTS = tuple(name for name, kind in FIELD_KINDS.items() if kind == "grant")
KEYS_CHANGED = "keys_changed"  # Session.info flag: cached keys are stale once this commits


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _changed(session: Session) -> None:
    session.info[KEYS_CHANGED] = True


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or _now()
    return dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)


def key_state(key: ApiKey, now: dt.datetime | None = None) -> str:
    now = now or _now()
    if key.revoked_at is not None:
        return "revoked"
    expires = keys._aware(key.expires_at)
    if expires is not None and expires <= now:
        return "expired"
    return "active"


def key_record(key: ApiKey) -> dict[str, Any]:
    """What the audit log keeps of a key: never its hashes."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "admin": key.is_admin,
        "policy": dict(key.policy or {}),
        "expires_at": keys._aware(key.expires_at),
        "revoked_at": keys._aware(key.revoked_at),
        "previous_valid_until": keys._aware(key.previous_valid_until),
    }


def key_view(key: ApiKey, spent: Decimal | None = None) -> dict[str, Any]:
    view = audit.plain(key_record(key))
    view.update(
        id=key.id,
        team=(key.policy or {}).get("team"),
        state=key_state(key),
        created_at=keys._aware(key.created_at).isoformat(),  # type: ignore[union-attr]
    )
    if spent is not None:
        view["spend_usd_this_month"] = str(spent)
    return dict(view)


def _stored(policy: TeamPolicy | None) -> dict[str, Any]:
    return policy.model_dump(exclude_none=True, mode="json") if policy is not None else {}


def grants_of(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an admin granted a key beyond its limits (router/accounts/policy_limits.py)."""
    policy = policy or {}
    return {name: policy.get(name) for name in GRANTS}


def _record_grants(
    session: Session, name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> None:
    """A grant to relax a limit gets an audit entry of its own (`key.grant`), so the grants
    made are one query away (`modelyard audit --action key.grant`)."""
    was, now = grants_of(before), grants_of(after)
    if was != now:
        audit.record(session, "key.grant", "key", name, was, now)


def get_key(session: Session, name: str) -> ApiKey:
    key = repo.key_by_name(session, name)
    if key is None:
        raise KeyNotFound(f"no key named '{name}'")
    return key


def _live(key: ApiKey, doing: str) -> None:
    state = key_state(key)
    if state != "active":
        raise KeyStateConflict(f"cannot {doing} key '{key.name}': it is {state}")


def _team_exists(session: Session, policy: KeyPolicy | None) -> None:
    if policy is not None and policy.team and repo.team_by_name(session, policy.team) is None:
        raise TeamNotFound(f"no team named '{policy.team}': create it first")


def create_key(session: Session, spec: KeyIn) -> tuple[ApiKey, str]:
    _team_exists(session, spec.policy)
    if spec.expires_at is not None and spec.expires_at <= _now():
        raise KeyStateConflict("expires_at is in the past")
    policy = spec.policy.model_dump(exclude_none=True, mode="json") if spec.policy else {}
    key, secret = keys.create_key(session, spec.name, admin=spec.admin, policy=policy)
    key.expires_at = spec.expires_at
    session.flush()
    _changed(session)
    audit.record(session, "key.create", "key", key.name, None, key_record(key))
    _record_grants(session, key.name, {}, key.policy)
    return key, secret


def update_key(session: Session, name: str, patch: KeyPatch) -> ApiKey:
    key = get_key(session, name)
    if key.revoked_at is not None:
        raise KeyStateConflict(f"cannot update key '{name}': it is revoked")
    before = key_record(key)
    was = dict(key.policy or {})
    given = patch.model_fields_set
    if "policy" in given:
        _team_exists(session, patch.policy)
        key.policy = patch.policy.model_dump(exclude_none=True, mode="json") if patch.policy else {}
    if "admin" in given and patch.admin is not None:
        key.is_admin = patch.admin
    if "expires_at" in given:
        key.expires_at = patch.expires_at
    session.flush()
    _changed(session)
    audit.record(session, "key.update", "key", name, before, key_record(key))
    _record_grants(session, name, was, key.policy)
    return key


def rotate_key(session: Session, name: str, grace_seconds: int) -> tuple[ApiKey, str]:
    """A new secret; the previous one keeps working for `grace_seconds` (0: not at all)."""
    key = get_key(session, name)
    _live(key, "rotate")
    before = key_record(key)
    secret = keys.new_secret()
    key.previous_hash = key.key_hash if grace_seconds else None
    key.previous_valid_until = (
        _now() + dt.timedelta(seconds=grace_seconds) if grace_seconds else None
    )
    key.key_hash = keys.hash_key(secret)
    key.prefix = secret[:10]
    session.flush()
    _changed(session)
    audit.record(session, "key.rotate", "key", name, before, key_record(key))
    return key, secret


def expire_key(session: Session, name: str, at: dt.datetime | None) -> ApiKey:
    key = get_key(session, name)
    _live(key, "expire")
    before = key_record(key)
    key.expires_at = at or _now()
    session.flush()
    _changed(session)
    audit.record(session, "key.expire", "key", name, before, key_record(key))
    return key


def revoke_key(session: Session, name: str) -> ApiKey:
    key = get_key(session, name)
    _live(key, "revoke")
    before = key_record(key)
    key.revoked_at = _now()
    key.previous_hash = None
    session.flush()
    _changed(session)
    audit.record(session, "key.revoke", "key", name, before, key_record(key))
    return key


def list_keys(session: Session) -> list[dict[str, Any]]:
    spent = repo.spend_by_key(session, month_start())
    return [key_view(k, spent.get(k.id, Decimal(0))) for k in repo.list_keys(session)]


# --- teams -----------------------------------------------------------------------------------


def get_team(session: Session, name: str) -> Team:
    team = repo.team_by_name(session, name)
    if team is None:
        raise TeamNotFound(f"no team named '{name}'")
    return team


def members(session: Session, team: str) -> list[ApiKey]:
    return [k for k in repo.list_keys(session) if (k.policy or {}).get("team") == team]


def team_view(session: Session, team: Team, spent: Mapping[int, Decimal]) -> dict[str, Any]:
    keys_in = members(session, team.name)
    return {
        **audit.team_state(team),
        "id": team.id,
        "members": [k.name for k in keys_in],
        "spend_usd_this_month": str(
            sum((spent.get(k.id, Decimal(0)) for k in keys_in), Decimal(0))
        ),
        "created_at": keys._aware(team.created_at).isoformat(),  # type: ignore[union-attr]
    }


def list_teams(session: Session) -> list[dict[str, Any]]:
    spent = repo.spend_by_key(session, month_start())
    return [team_view(session, t, spent) for t in repo.list_teams(session)]


def show_team(session: Session, name: str) -> dict[str, Any]:
    return team_view(session, get_team(session, name), repo.spend_by_key(session, month_start()))


def create_team(session: Session, spec: TeamIn) -> Team:
    if repo.team_by_name(session, spec.name) is not None:
        raise KeyStateConflict(f"a team named '{spec.name}' exists already")
    team = Team(
        name=spec.name,
        budget_usd_per_day=spec.budget_usd_per_day,
        budget_usd_per_month=spec.budget_usd_per_month,
        policy=_stored(spec.policy),
        created_at=_now(),
    )
    session.add(team)
    session.flush()
    _changed(session)
    audit.record(session, "team.create", "team", team.name, None, audit.team_state(team))
    return team


def update_team(session: Session, name: str, patch: TeamPatch) -> Team:
    team = get_team(session, name)
    before = audit.team_state(team)
    for field in patch.model_fields_set:
        value = getattr(patch, field)
        setattr(team, field, _stored(value) if field == "policy" else value)
    session.flush()
    _changed(session)
    audit.record(session, "team.update", "team", name, before, audit.team_state(team))
    return team


def delete_team(session: Session, name: str) -> None:
    team = get_team(session, name)
    if members(session, name):
        raise KeyStateConflict(f"team '{name}' still has members: remove them first")
    before = audit.team_state(team)
    session.delete(team)
    session.flush()
    audit.record(session, "team.delete", "team", name, before, None)


def _set_team(session: Session, key_name: str, team: str | None, action: str, target: str) -> None:
    key = get_key(session, key_name)
    if key.revoked_at is not None:
        raise KeyStateConflict(f"key '{key_name}' is revoked")
    before = key_record(key)
    policy = dict(key.policy or {})
    if team is None:
        policy.pop("team", None)
    else:
        policy["team"] = team
    key.policy = KeyPolicy.model_validate(policy).model_dump(exclude_none=True, mode="json")
    session.flush()
    _changed(session)
    audit.record(session, action, "team", target, before, key_record(key))


def add_member(session: Session, team: str, key_name: str) -> None:
    get_team(session, team)
    _set_team(session, key_name, team, "team.add_member", team)


def remove_member(session: Session, team: str, key_name: str) -> None:
    get_team(session, team)
    key = get_key(session, key_name)
    if (key.policy or {}).get("team") != team:
        raise KeyNotFound(f"key '{key_name}' is not a member of team '{team}'")
    _set_team(session, key_name, None, "team.remove_member", team)


def seed_teams(session: Session, budgets: Mapping[str, TeamBudget]) -> int:
    """Teams from settings (MODELYARD_TEAM_BUDGETS) that the database does not have yet; the
    database's own teams, once made, are managed over the API and win."""
    added = 0
    for name, budget in budgets.items():
        if repo.team_by_name(session, name) is None:
            create_team(session, TeamIn(name=name, **budget.model_dump()))
            added += 1
    return added
