"""Keys, teams and the audit log over HTTP, admin scope, on both databases: the whole life of
a key (create, show, update, rotate with a grace period, expire, revoke), teams with budgets
the router enforces, and an audit log that records every admin action and cannot be edited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.accounts import audit, keys
from router.accounts.orm import AuditEntry
from tests.conftest import seed
from tests.factories import local_deployment_body
from tests.test_catalog_api import assert_error
from web.app import create_app
from web.settings import Settings


class Api:
    def __init__(self, client: TestClient, admin: str, user: str) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.user = {"Authorization": f"Bearer {user}"}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.request(method, path, json=body, headers={**self.admin, **headers})

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.call(method, path, body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def route(self, secret: str) -> Any:
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        return self.client.post(
            "/v1/route", json=body, headers={"Authorization": f"Bearer {secret}"}
        )

    def audit(self, **query: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/audit", params=query, headers=self.admin)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries


@pytest.fixture
def api(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[Api]:
    seed(sessions)
    with transaction(sessions) as session:
        _, admin = keys.create_key(session, "root", admin=True)
        _, user = keys.create_key(session, "app")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, admin, user)


def refused(response: Any) -> None:
    """OpenAI's envelope for a key that opens nothing."""
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_key_lives_rotates_expires_and_is_revoked(api: Api) -> None:
    created = api.ok("POST", "/api/keys", {"name": "svc", "policy": {"privacy": "local_only"}}, 201)
    secret = created["secret"]
    assert secret.startswith("my-") and created["state"] == "active"
    assert created["prefix"] == secret[:10]
    assert api.route(secret).status_code == 200
    shown = api.ok("GET", "/api/keys/svc")
    assert "secret" not in shown and shown["policy"] == {"privacy": "local_only"}
    assert all("secret" not in k and "key_hash" not in k for k in api.ok("GET", "/api/keys"))

    updated = api.ok("PATCH", "/api/keys/svc", {"policy": {"min_quality": 0.2}})
    assert updated["policy"] == {"min_quality": 0.2}

    rotated = api.ok("POST", "/api/keys/svc/rotate", {"grace_seconds": 600})
    assert rotated["secret"] != secret and rotated["previous_valid_until"]
    assert api.route(rotated["secret"]).status_code == 200
    assert api.route(secret).status_code == 200  # the old one, within its grace period

    again = api.ok("POST", "/api/keys/svc/rotate", {"grace_seconds": 0})
    assert api.route(again["secret"]).status_code == 200
    refused(api.route(rotated["secret"]))  # no grace: gone at once

    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    assert api.ok("POST", "/api/keys/svc/expire", {"at": past})["state"] == "expired"
    refused(api.route(again["secret"]))
    assert_error(api.call("POST", "/api/keys/svc/rotate"), 409, "conflict")
    assert_error(api.call("POST", "/api/keys/svc/revoke"), 409, "conflict")

    api.ok("POST", "/api/keys", {"name": "gone"}, 201)
    assert api.ok("POST", "/api/keys/gone/revoke")["state"] == "revoked"
    assert_error(api.call("POST", "/api/keys/gone/revoke"), 409, "conflict")


def test_bad_admin_input_gets_clear_errors(api: Api) -> None:
    assert_error(api.call("POST", "/api/keys/nobody/rotate"), 404, "not_found")
    assert_error(api.call("POST", "/api/keys/nobody/revoke"), 404, "not_found")
    assert_error(api.call("GET", "/api/keys/nobody"), 404, "not_found")
    assert_error(api.call("POST", "/api/keys", {"name": "root"}), 409, "conflict")
    no_team = {"name": "x", "policy": {"team": "nope"}}
    assert_error(api.call("POST", "/api/keys", no_team), 404, "not_found")
    past = "2001-01-01T00:00:00Z"
    assert_error(api.call("POST", "/api/keys", {"name": "x", "expires_at": past}), 409, "conflict")
    negative = {"name": "t", "budget_usd_per_day": -1}
    error = assert_error(api.call("POST", "/api/teams", negative), 422, "invalid_request")
    assert "budget_usd_per_day" in error["message"]
    assert_error(api.call("POST", "/api/teams", {"name": "bad name"}), 422, "invalid_request")
    bad_grace = {"grace_seconds": -5}
    assert_error(api.call("POST", "/api/keys/root/rotate", bad_grace), 422, "invalid_request")
    for method, path in [
        ("GET", "/api/keys"),
        ("POST", "/api/keys/app/rotate"),
        ("GET", "/api/teams"),
        ("GET", "/api/audit"),
    ]:
        response = api.client.request(method, path, headers=api.user)
        assert_error(response, 403, "forbidden")
        assert_error(api.client.request(method, path), 401, "unauthorized")
    assert api.audit(action="key") == []  # nothing refused was recorded


def test_teams_have_budgets_and_members(api: Api) -> None:
    priced = local_deployment_body(
        name="test/priced", input_cost_per_token=1e-4, output_cost_per_token=1e-4
    )
    del priced["cost_per_hour"], priced["tokens_per_second"]
    api.ok("POST", "/api/deployments", priced, 201)
    api.ok("GET", "/api/models/phi-2")  # reading the catalog refreshes the router's snapshot
    team = api.ok("POST", "/api/teams", {"name": "search", "budget_usd_per_day": 5}, 201)
    assert team["members"] == [] and team["budget_usd_per_day"] == 5
    member = api.ok("POST", "/api/keys", {"name": "s1", "policy": {"models": ["phi-2"]}}, 201)
    assert api.ok("POST", "/api/teams/search/members", {"key": "s1"})["members"] == ["s1"]
    assert api.ok("GET", "/api/keys/s1")["team"] == "search"
    plan = api.route(member["secret"]).json()
    assert plan["chosen"]["deployment"] == "test/priced"

    assert (
        api.ok("PATCH", "/api/teams/search", {"budget_usd_per_day": 7})["budget_usd_per_day"] == 7
    )
    listed = {t["name"]: t for t in api.ok("GET", "/api/teams")}
    assert listed["search"]["spend_usd_this_month"] == "0"
    assert_error(api.call("DELETE", "/api/teams/search"), 409, "conflict")  # has members
    api.ok("DELETE", "/api/teams/search/members/s1")
    assert_error(api.call("DELETE", "/api/teams/search/members/s1"), 404, "not_found")
    assert api.call("DELETE", "/api/teams/search").status_code == 204
    assert_error(api.call("GET", "/api/teams/search"), 404, "not_found")


def test_a_team_budget_excludes_what_it_cannot_pay_for(api: Api) -> None:
    priced = local_deployment_body(
        name="test/priced", input_cost_per_token=1e-4, output_cost_per_token=1e-4
    )
    del priced["cost_per_hour"], priced["tokens_per_second"]
    api.ok("POST", "/api/deployments", priced, 201)
    api.ok("GET", "/api/models/phi-2")  # reading the catalog refreshes the router's snapshot
    api.ok("POST", "/api/teams", {"name": "broke", "budget_usd_per_day": 0}, 201)
    policy = {"models": ["phi-2"], "team": "broke"}
    member = api.ok("POST", "/api/keys", {"name": "poor", "policy": policy}, 201)
    plan = api.route(member["secret"])
    assert plan.status_code == 200, plan.text
    reasons = {e["deployment"]: e["reason"] for e in plan.json()["excluded"]}
    assert reasons["test/priced"] == "budget"


def test_every_admin_action_is_audited_with_who_what_and_the_request(api: Api) -> None:
    response = api.call("POST", "/api/keys", {"name": "svc"}, **{"x-request-id": "req-42"})
    assert response.status_code == 201 and response.headers["x-request-id"] == "req-42"
    api.ok("POST", "/api/keys/svc/rotate")
    api.ok("POST", "/api/teams", {"name": "ml", "budget_usd_per_month": 100}, 201)
    api.ok("PATCH", "/api/teams/ml", {"budget_usd_per_month": 150})
    api.ok("POST", "/api/deployments", local_deployment_body(name="test/d1"), 201)
    api.ok("PATCH", "/api/deployments/test/d1", {"status": "disabled"})
    assert api.call("DELETE", "/api/deployments/test/d1").status_code == 204

    entries = api.audit()
    actions = [e["action"] for e in entries]
    for action in (
        "key.create",
        "key.rotate",
        "team.create",
        "team.update",
        "deployment.create",
        "deployment.update",
        "deployment.delete",
    ):
        assert action in actions, actions
    assert all(e["actor"] == "root" for e in entries)
    created = api.audit(request_id="req-42")
    assert [e["action"] for e in created] == ["key.create"]
    assert created[0]["after"]["name"] == "svc" and created[0]["before"] is None
    rotation = api.audit(action="key.rotate")[0]
    assert rotation["before"]["prefix"] != rotation["after"]["prefix"]
    assert "hash" not in str(rotation) and "my-" not in str(rotation["after"]).replace(
        rotation["after"]["prefix"], ""
    )
    team = api.audit(action="team.update")[0]
    assert team["before"]["budget_usd_per_month"] == 100
    assert team["after"]["budget_usd_per_month"] == 150
    disabled = api.audit(action="deployment.update", target="test/d1")[0]
    assert disabled["before"]["status"] == "active" and disabled["after"]["status"] == "disabled"
    newest_first = [e["id"] for e in entries]
    assert newest_first == sorted(newest_first, reverse=True)
    older = api.audit(before_id=str(newest_first[0]), limit="2")
    assert [e["id"] for e in older] == newest_first[1:3]


def test_audit_rows_cannot_be_changed_or_removed(api: Api, sessions: sessionmaker[Session]) -> None:
    api.ok("POST", "/api/teams", {"name": "ml"}, 201)
    with sessions() as session:
        entry = session.scalars(select(AuditEntry)).one()
        entry.actor = "someone else"
        with pytest.raises(audit.AuditImmutable):
            session.flush()
        session.rollback()
        entry = session.scalars(select(AuditEntry)).one()
        session.delete(entry)
        with pytest.raises(audit.AuditImmutable):
            session.flush()
        session.rollback()
    # Below the ORM, the database itself refuses.
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with sessions() as session, pytest.raises(DBAPIError):
            session.execute(text(statement))
            session.commit()
    assert [e["actor"] for e in api.audit()] == ["root"]


def test_a_failed_change_leaves_no_audit_row(api: Api) -> None:
    api.ok("POST", "/api/teams", {"name": "ml"}, 201)
    # The team exists: the second create fails and must leave no record behind.
    assert_error(api.call("POST", "/api/teams", {"name": "ml"}), 409, "conflict")
    assert [e["action"] for e in api.audit()] == ["team.create"]


def test_team_budgets_from_settings_become_teams_once(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        _, admin = keys.create_key(session, "root", admin=True)
    seeded = Settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        team_budgets={"ops": {"budget_usd_per_day": 3}},
    )
    headers = {"Authorization": f"Bearer {admin}"}
    for _ in range(2):
        with TestClient(create_app(seeded)) as client:
            teams = client.get("/api/teams", headers=headers).json()
    assert [(t["name"], t["budget_usd_per_day"]) for t in teams] == [("ops", 3.0)]
    with TestClient(create_app(seeded)) as client:
        entries = client.get("/api/audit", headers=headers).json()["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("settings:MODELYARD_TEAM_BUDGETS", "team.create")
    ]
