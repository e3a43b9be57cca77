"""Credentials-aware routing: on an install without provider keys, hosted deployments are not
candidates (reason `no_credentials`) and say so in the dry run, the 400, /readyz, the CLI and
the model page; upstream failures reach clients as short plain sentences."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapters.credentials import configured_providers, short_reason
from catalog.db import transaction
from catalog.snapshot import CatalogSnapshot
from router.accounts import keys
from router.core.requests import RouteControls
from router.pipeline.execution import Attempt, ExecutionFailed
from router.quality.estimators import CatalogQualityEstimator
from router.routing.decision import RouteRequest, decide
from tests.conftest import seed
from web.app import create_app, session_factory_for
from web.settings import Settings

MISTRAL = "mistralai/Mistral-7B-Instruct-v0.2"
PROVIDER_VARIABLES = (
    "OPENAI_API_KEY",
    "FIREWORKS_API_KEY",
    "FIREWORKS_AI_API_KEY",
    "FIREWORKSAI_API_KEY",
    "REPLICATE_API_KEY",
    "REPLICATE_API_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
)


def plan(snapshot: CatalogSnapshot, providers: frozenset[str] | None, model: str = MISTRAL) -> Any:
    request = RouteRequest(model, "Hello there", 1, 50, frozenset(), RouteControls())
    return decide(request, snapshot, CatalogQualityEstimator(), frozenset(), providers)


def test_which_providers_have_keys() -> None:
    environ = {
        "FIREWORKS_API_KEY": "fw",
        "AWS_ACCESS_KEY_ID": "half of a key",
        "ACME_API_KEY": "a",
        "EMPTY_API_KEY": "",
    }
    found = configured_providers(["openai"], environ)
    assert found == {"openai", "fireworks_ai", "fireworks", "acme"}  # bedrock needs both halves
    both = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert "bedrock" in configured_providers([], both)


def test_hosted_deployments_without_a_key_are_not_candidates(snapshot: CatalogSnapshot) -> None:
    hosted = {d.name for d in snapshot.models[MISTRAL].deployments if d.kind.value == "hosted"}
    assert len(hosted) >= 3
    unchecked = plan(snapshot, None)
    assert {c.deployment.name for c in unchecked.candidates} >= hosted
    none = plan(snapshot, frozenset())
    assert not none.candidates
    excluded = {e.deployment: e for e in none.excluded}
    assert {n for n, e in excluded.items() if e.reason == "no_credentials"} == hosted
    assert "fireworks_ai" in excluded["fireworks/mistral-7b-instruct-v0.2"].detail
    fireworks = plan(snapshot, frozenset({"fireworks_ai"}))
    assert [c.deployment.name for c in fireworks.candidates] == [
        "fireworks/mistral-7b-instruct-v0.2"
    ]
    # Local and embedded deployments need no key: `auto` still routes on a fresh install.
    fresh = plan(snapshot, frozenset(), model="auto")
    assert fresh.candidates and all(c.deployment.kind.value != "hosted" for c in fresh.candidates)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "litellm.APIConnectionError: ReplicateException - Cannot connect to host "
            "api.replicate.com:443 ssl:<ssl.SSLContext object at 0x7f3a2c1d0e50> [Name or "
            "service not known]",
            "Cannot connect to host api.replicate.com:443 [Name or service not known]",
        ),
        (
            "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API "
            "key provided",
            "Incorrect API key provided",
        ),
        ("x" * 1000, "x" * 239 + "…"),
        ("", "no reason given"),
    ],
)
def test_library_errors_become_short_sentences(raw: str, expected: str) -> None:
    assert short_reason(raw) == expected


def test_a_failed_execution_names_deployment_provider_and_status() -> None:
    attempts = [
        Attempt("fireworks/x", "upstream_server_error", "Invalid key", "fireworks_ai", 401),
        Attempt("replicate/x", "upstream_unavailable", "Cannot connect", "replicate", None),
    ]
    one = ExecutionFailed(attempts[:1], None)
    assert str(one) == "fireworks/x (fireworks_ai) failed with status 401: Invalid key"
    two = str(ExecutionFailed(attempts, None))
    assert two.startswith("2 deployments failed; the last, replicate/x (replicate) failed with ")
    assert "upstream_unavailable: Cannot connect" in two


@pytest.fixture
def fresh_install(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str]]:
    """A seeded install with no provider key anywhere."""
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        _, secret = keys.create_key(session, "me")
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, secret


def test_a_fresh_install_explains_what_it_cannot_call(
    fresh_install: tuple[TestClient, str],
) -> None:
    client, secret = fresh_install
    auth = {"Authorization": f"Bearer {secret}"}
    body = {"model": MISTRAL, "messages": [{"role": "user", "content": "hi"}]}
    dry = client.post("/v1/route", json=body, headers=auth).json()
    assert dry["chosen"] is None
    assert {e["reason"] for e in dry["excluded"]} == {"no_credentials"}
    refused = client.post("/v1/chat/completions", json=body, headers=auth)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "no_candidate" and "no_credentials" in error["message"]
    assert {e["reason"] for e in error["excluded"]} == {"no_credentials"}

    ready = client.get("/readyz").json()
    assert {"fireworks_ai", "replicate", "bedrock"} <= set(ready["providers"]["missing"])
    assert "fireworks_ai" not in ready["providers"]["configured"]

    page = client.get(f"/models/{MISTRAL}", headers={"accept": "text/html"}).text
    assert "missing: the router skips it" in page


def test_configured_providers_show_everywhere(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-test")
    engine, factory = session_factory_for(settings)
    seed(factory)
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()["providers"]
        page = client.get(f"/models/{MISTRAL}", headers={"accept": "text/html"}).text
    assert "fireworks_ai" in ready["configured"] and "fireworks_ai" not in ready["missing"]
    assert "configured" in page
    from web.commands.root import app

    env = {"MODELYARD_DATABASE_URL": settings.database_url, "COLUMNS": "250"}
    listed = CliRunner().invoke(app, ["deployments", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    states = {d["name"]: d["key"] for d in json.loads(listed.output)}
    assert states["fireworks/mistral-7b-instruct-v0.2"] == "configured"
    assert states["replicate/mistral-7b-instruct-v0.2"] == "missing"
    assert states["embedded/smollm2-135m-instruct"] == "not needed"
    table = CliRunner().invoke(app, ["deployments", "list", "--model", MISTRAL], env=env)
    assert "missing" in table.output and "configured" in table.output
