"""The admin audit log: every admin action (keys, teams, models, deployments, imports) as one
append-only row — who, what, when, the target before and after, the request's id.

An entry is added to the same session as the change it describes, so both commit or neither
does: no change without its record, no record of a change that never happened. Keys and teams
record their actions by name (`record`); catalog rows (models, deployments, licences), which
the catalog changes without knowing about audit, are recorded from the session's pending
changes just before they are flushed, whenever the session carries an `AuditContext`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from catalog.orm import Deployment, License, Model
from router.accounts.orm import AuditEntry, Team
from router.core.errors import PolicyRefused, RouterError

log = logging.getLogger("modelyard")

AUDIT_KEY = "audit"  # where a session carries its AuditContext (Session.info)
MAX_REQUEST_ID = 64


class AuditImmutable(RouterError):
    code = "audit_immutable"


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, and on which request."""

    actor: str
    actor_key_id: int | None = None
    request_id: str | None = None


def new_request_id(given: str | None = None) -> str:
    """The caller's X-Request-Id when it is sane, else a fresh one."""
    if given and given.isprintable() and 0 < len(given.strip()) <= MAX_REQUEST_ID:
        return given.strip()
    return uuid.uuid4().hex


def attach(session: Session, context: AuditContext) -> None:
    session.info[AUDIT_KEY] = context


def context_of(session: Session) -> AuditContext:
    found = session.info.get(AUDIT_KEY)
    return found if isinstance(found, AuditContext) else AuditContext("system")


def plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def record(
    session: Session,
    action: str,
    target_type: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    context = context_of(session)
    entry = AuditEntry(
        at=dt.datetime.now(dt.UTC),
        actor=context.actor,
        actor_key_id=context.actor_key_id,
        action=action,
        target_type=target_type,
        target=target[:300],
        before=plain(before) if before is not None else None,
        after=plain(after) if after is not None else None,
        request_id=context.request_id,
    )
    session.add(entry)
    return entry


# --- catalog rows, recorded from the session's pending changes -------------------------------

# Audited classes: (target type, the attribute that names a row).
TRACKED: dict[type[Any], tuple[str, str]] = {
    Model: ("model", "hf_id"),
    Deployment: ("deployment", "name"),
    License: ("license", "id"),
}


def _columns(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    return {attr.key: plain(getattr(obj, attr.key)) for attr in state.mapper.column_attrs}


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The changed columns' values before and after."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.added or history.deleted:
            before[attr.key] = plain(history.deleted[0]) if history.deleted else None
            after[attr.key] = plain(history.added[0]) if history.added else None
    return before, after


def _before_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if AUDIT_KEY not in session.info:
        return  # not an admin's session (the ledger, the snapshot poll, tests' fixtures)
    for obj in list(session.new):
        kind = TRACKED.get(type(obj))
        if kind is not None:
            record(
                session,
                f"{kind[0]}.create",
                kind[0],
                str(getattr(obj, kind[1])),
                None,
                _columns(obj),
            )
    for obj in list(session.dirty):
        kind = TRACKED.get(type(obj))
        if kind is not None and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if before or after:
                record(
                    session, f"{kind[0]}.update", kind[0], str(getattr(obj, kind[1])), before, after
                )
    for obj in list(session.deleted):
        kind = TRACKED.get(type(obj))
        if kind is not None:
            record(
                session,
                f"{kind[0]}.delete",
                kind[0],
                str(getattr(obj, kind[1])),
                _columns(obj),
                None,
            )


def _refuse(*_args: Any) -> None:
    raise AuditImmutable("the audit log is append-only: entries cannot be changed or removed")


event.listen(Session, "before_flush", _before_flush)
event.listen(AuditEntry, "before_update", _refuse)
event.listen(AuditEntry, "before_delete", _refuse)


# --- requests a policy refused ---------------------------------------------------------------


class PolicyRefusals:
    """Writes every refused widening attempt to the audit log (`policy.refuse`, the key as
    actor, the key or team whose policy refused it as target), off the event loop: the
    request path never waits on the database. Refusals are rare; one row each is cheap."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(
        self, key_id: int, key_name: str, refusal: PolicyRefused, request_id: str | None
    ) -> None:
        context = AuditContext(key_name, key_id, new_request_id(request_id))
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._write, context, refusal)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _write(self, context: AuditContext, refusal: PolicyRefused) -> None:
        try:
            with self._factory.begin() as session:
                attach(session, context)
                record(
                    session,
                    "policy.refuse",
                    refusal.level,
                    refusal.owner,
                    None,
                    {
                        "field": refusal.field,
                        "asked": refusal.asked,
                        "param": refusal.param,
                        "message": refusal.message,
                    },
                )
        except Exception:  # the refusal stands; only its record is lost, and said so
            log.exception("could not write a policy refusal to the audit log")

    async def drain(self) -> None:
        """Wait for the records being written (shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


# --- reading -------------------------------------------------------------------------------


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "actor_key_id": entry.actor_key_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
    }


def query(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    request_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Newest first; `before_id` pages back through older entries."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        statement = statement.where(AuditEntry.actor == actor)
    if action:
        # "key" matches every key action; "key.rotate" only that one.
        if "." in action:
            statement = statement.where(AuditEntry.action == action)
        else:
            statement = statement.where(AuditEntry.action.startswith(f"{action}."))
    if target:
        statement = statement.where(AuditEntry.target == target)
    if request_id:
        statement = statement.where(AuditEntry.request_id == request_id)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return session.scalars(statement).all()


def team_state(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "budget_usd_per_day": team.budget_usd_per_day,
        "budget_usd_per_month": team.budget_usd_per_month,
        "policy": dict(team.policy or {}),
    }
