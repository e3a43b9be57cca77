"""API keys: created once and shown once, stored only as a SHA-256 hash. A key stops working
when revoked or past its `expires_at`; after a rotation its previous secret keeps working
until the grace period ends."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router.accounts import repository as repo
from router.accounts.orm import ApiKey
from router.accounts.policy import KeyPolicy, TeamBudget, TeamPolicy
from router.core.errors import Forbidden, KeyExists, KeyNotFound, Unauthorized
from router.state.limits import KeyLimits

KEY_PREFIX = "my-"
# New keys scan what they send unless their policy says otherwise: an app that forgets to
# ask keeps customers' personal data and its own secrets on our machines, and a request
# with nothing in it routes exactly as before. Keys made before this default keep theirs.
DEFAULT_PRIVACY = "auto"


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted hash is safe to store and compare.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def live_until(key: ApiKey, via_previous: bool) -> dt.datetime | None:
    """When this secret of the key stops working (None: not before it is revoked)."""
    ends = [_aware(key.expires_at)]
    if via_previous:
        ends.append(_aware(key.previous_valid_until))
    known = [e for e in ends if e is not None]
    return min(known) if known else None


def find_live(session: Session, secret: str) -> tuple[ApiKey, dt.datetime | None] | None:
    """The key a secret opens, and until when; None when it opens nothing now."""
    found = repo.key_by_secret_hash(session, hash_key(secret))
    if found is None:
        return None
    key, via_previous = found
    if key.revoked_at is not None:
        return None
    until = live_until(key, via_previous)
    if via_previous and until is None:
        return None
    if until is not None and until <= dt.datetime.now(dt.UTC):
        return None
    return key, until


def create_key(
    session: Session, name: str, *, admin: bool = False, policy: dict[str, Any] | None = None
) -> tuple[ApiKey, str]:
    if not name.strip():
        raise KeyExists("a key needs a name")
    if repo.key_by_name(session, name) is not None:
        raise KeyExists(f"a key named '{name}' exists already")
    given = {"privacy": DEFAULT_PRIVACY, **(policy or {})}
    checked = KeyPolicy.model_validate(given)  # refuse a policy the router cannot use
    secret = new_secret()
    key = ApiKey(
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        is_admin=admin,
        policy=checked.model_dump(exclude_none=True, mode="json"),
    )
    session.add(key)
    session.flush()
    return key, secret


def authenticate(session: Session, authorization: str | None) -> ApiKey:
    """The live key behind an `Authorization: Bearer …` header."""
    if not authorization:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    found = find_live(session, token.strip())
    if found is None:
        raise Unauthorized("invalid, expired or revoked API key")
    return found[0]


def require_admin(session: Session, authorization: str | None) -> ApiKey:
    key = authenticate(session, authorization)
    if not key.is_admin:
        raise Forbidden(f"key '{key.name}' is not an admin key")
    return key


def revoke_key(session: Session, name: str) -> ApiKey:
    key = repo.key_by_name(session, name)
    if key is None:
        raise KeyNotFound(f"no key named '{name}'")
    if key.revoked_at is None:
        key.revoked_at = dt.datetime.now(dt.UTC)
    return key


def delete_key(session: Session, name: str) -> None:
    """Remove a key outright (its usage records keep their numbers, not the key)."""
    key = repo.key_by_name(session, name)
    if key is not None:
        session.delete(key)
        session.flush()


def list_keys(session: Session) -> list[ApiKey]:
    return list(repo.list_keys(session))


@dataclass(frozen=True)
class KeyView:
    """What the request path needs of a key, detached from any session."""

    id: int
    name: str
    is_admin: bool
    policy: KeyPolicy
    expires: float | None = None  # epoch seconds when this secret stops working
    team_budget: TeamBudget | None = None  # the budgets of the team its policy names
    team_policy: TeamPolicy | None = None  # that team's policy, which binds this key
    # The gateway's memo of this key's effective controls for requests that set none (the
    # view lives as long as the key cache keeps it).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def limits(self) -> KeyLimits:
        p = self.policy
        return KeyLimits(
            p.requests_per_minute, p.tokens_per_minute, p.budget_usd_per_day, p.budget_usd_per_month
        )


class KeyCache:
    """Keys by hash, kept for `ttl` seconds so the request path rarely touches the database.
    A revoked key stops working within `ttl`."""

    def __init__(self, factory: sessionmaker[Session], ttl: float = 10.0) -> None:
        self._factory = factory
        self._ttl = ttl
        self._entries: dict[str, tuple[float, KeyView | None]] = {}

    def _load(self, secret: str) -> KeyView | None:
        with self._factory() as session:
            found = find_live(session, secret)
            if found is None:
                return None
            key, until = found
            policy = KeyPolicy.model_validate(key.policy or {})
            team = repo.team_by_name(session, policy.team) if policy.team else None
            budget = (
                TeamBudget(
                    budget_usd_per_day=team.budget_usd_per_day,
                    budget_usd_per_month=team.budget_usd_per_month,
                )
                if team is not None
                else None
            )
            team_policy = (
                TeamPolicy.model_validate(team.policy) if team is not None and team.policy else None
            )
            expires = until.timestamp() if until is not None else None
            return KeyView(key.id, key.name, key.is_admin, policy, expires, budget, team_policy)

    def forget(self) -> None:
        """Drop every cached key: an admin changed keys or teams (other replicas see the
        change within `ttl`)."""
        self._entries.clear()

    async def authenticate(self, authorization: str | None) -> KeyView:
        if not authorization:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
        secret = token.strip()
        key_hash = hash_key(secret)
        now = time.monotonic()
        cached = self._entries.get(key_hash)
        if cached is None or cached[0] < now:
            if len(self._entries) > 100_000:
                self._entries.clear()
            view = await asyncio.to_thread(self._load, secret)
            cached = self._entries[key_hash] = (now + self._ttl, view)
        view = cached[1]
        if view is None or (view.expires is not None and view.expires <= time.time()):
            raise Unauthorized("invalid, expired or revoked API key")
        return view
