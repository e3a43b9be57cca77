"""API keys: created once and shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router import repository as repo
from router.errors import Forbidden, KeyExists, KeyNotFound, Unauthorized
from router.limits import KeyLimits
from router.orm import ApiKey
from router.schemas import KeyPolicy

KEY_PREFIX = "my-"
# New keys scan what they send unless their policy says otherwise: an app that forgets to
# ask keeps customers' personal data and its own secrets on our machines, and a request
# with nothing in it routes exactly as before. Keys made before this default keep theirs.
DEFAULT_PRIVACY = "auto"


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted hash is safe to store and compare.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(
    session: Session, name: str, *, admin: bool = False, policy: dict[str, Any] | None = None
) -> tuple[ApiKey, str]:
    if not name.strip():
        raise KeyExists("a key needs a name")
    if repo.key_by_name(session, name) is not None:
        raise KeyExists(f"a key named '{name}' exists already")
    given = {"privacy": DEFAULT_PRIVACY, **(policy or {})}
    checked = KeyPolicy.model_validate(given)  # refuse a policy the router cannot use
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
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
    key = repo.key_by_hash(session, hash_key(token.strip()))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    return key


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

    def _load(self, key_hash: str) -> KeyView | None:
        with self._factory() as session:
            key = repo.key_by_hash(session, key_hash)
            if key is None or key.revoked_at is not None:
                return None
            return KeyView(
                key.id, key.name, key.is_admin, KeyPolicy.model_validate(key.policy or {})
            )

    async def authenticate(self, authorization: str | None) -> KeyView:
        if not authorization:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
        key_hash = hash_key(token.strip())
        now = time.monotonic()
        cached = self._entries.get(key_hash)
        if cached is None or cached[0] < now:
            if len(self._entries) > 100_000:
                self._entries.clear()
            view = await asyncio.to_thread(self._load, key_hash)
            cached = self._entries[key_hash] = (now + self._ttl, view)
        if cached[1] is None:
            raise Unauthorized("invalid or revoked API key")
        return cached[1]
