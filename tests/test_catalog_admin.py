"""Admin writes through the API: models and deployments, with keys, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import transaction
from router.accounts import keys
from tests.conftest import seed
from tests.factories import local_deployment_body, model_body
from tests.test_catalog_api import assert_error
from web.app import create_app
from web.settings import Settings


class Admin:
    def __init__(self, client: TestClient, admin: str, user: str) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.user = {"Authorization": f"Bearer {user}"}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.admin)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(path, json=body, headers=self.admin)

    def version(self) -> int:
        return int(self.client.get("/api/catalog/version").json()["version"])


@pytest.fixture
def api(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[Admin]:
    seed(sessions)
    with transaction(sessions) as session:
        _, admin = keys.create_key(session, "ops", admin=True)
        _, user = keys.create_key(session, "app")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Admin(client, admin, user)


def test_writes_need_an_admin_key(api: Admin) -> None:
    body = local_deployment_body()
    assert_error(api.client.post("/api/deployments", json=body), 401, "unauthorized")
    assert_error(
        api.client.post("/api/deployments", json=body, headers={"Authorization": "Basic x"}),
        401,
        "unauthorized",
    )
    assert_error(
        api.client.post("/api/deployments", json=body, headers={"Authorization": "Bearer my-no"}),
        401,
        "unauthorized",
    )
    assert_error(api.client.post("/api/deployments", json=body, headers=api.user), 403, "forbidden")
    assert_error(
        api.client.delete("/api/deployments/fireworks/phi-2", headers=api.user), 403, "forbidden"
    )
    assert api.post("/api/deployments", body).status_code == 201


def test_revoked_key_is_refused(api: Admin, sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        keys.revoke_key(session, "ops")
    response = api.post("/api/deployments", local_deployment_body())
    assert_error(response, 401, "unauthorized")


def test_local_server_cost_is_derived_from_hardware(api: Admin) -> None:
    before = api.version()
    created = api.post("/api/deployments", local_deployment_body()).json()
    assert created["name"] == "local/phi-2"
    assert created["price_source"] == "hardware" and created["privacy"] == "local"
    # 0.90 USD/h at 50 tokens/s = 5e-6 USD per token = 5 USD per million tokens.
    assert created["usd_per_million_tokens"] == pytest.approx(5.0)
    assert api.version() == before + 1
    model = api.client.get("/api/models/phi-2").json()
    assert model["has_local"] is True
    listed = api.client.get("/api/models", params={"has_local": True, "family": "phi"}).json()
    assert [m["id"] for m in listed["items"]] == ["microsoft/phi-2"]


def test_hosted_price_defaults_to_litellm(api: Admin) -> None:
    created = api.post(
        "/api/deployments",
        {
            "model": "mistral-7b-instruct",
            "kind": "hosted",
            "served_name": "perplexity/mistral-7b-instruct",
            "name": "perplexity/mistral-7b-instruct",
        },
    ).json()
    assert created["price_source"] == "litellm"
    assert created["input_cost_per_token"] == pytest.approx(7e-08)
    assert created["privacy"] == "external"
    unknown = api.post(
        "/api/deployments", {"model": "phi-2", "kind": "hosted", "served_name": "acme/phi-2"}
    )
    error = assert_error(unknown, 422, "price_unknown")
    assert "input_cost_per_token" in error["message"]
    manual = api.post(
        "/api/deployments",
        {
            "model": "phi-2",
            "kind": "hosted",
            "served_name": "acme/phi-2",
            "input_cost_per_token": 1e-7,
            "output_cost_per_token": 2e-7,
        },
    )
    assert manual.status_code == 201 and manual.json()["price_source"] == "manual"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (local_deployment_body(base_url=None), 422, "base_url"),
        (local_deployment_body(base_url="not a url"), 422, "base_url"),
        (local_deployment_body(tokens_per_second=None), 422, "together"),
        (local_deployment_body(tokens_per_second=-5), 422, "tokens_per_second"),
        (local_deployment_body(cost_per_hour=1e12), 422, "cost_per_hour"),
        (local_deployment_body(kind="satellite"), 422, "kind"),
        (local_deployment_body(model="nobody/nothing"), 404, "nobody/nothing"),
        (local_deployment_body(served_name="a\x00b"), 422, "control characters"),
        (local_deployment_body(name="fireworks/phi-2"), 409, "exists already"),
        (local_deployment_body(extra="field"), 422, "extra"),
    ],
)
def test_bad_deployments_are_refused_clearly(
    api: Admin, body: dict[str, Any], status: int, needle: str
) -> None:
    before = api.version()
    response = api.post("/api/deployments", body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]
    assert api.version() == before


def test_update_and_remove_a_deployment(api: Admin) -> None:
    api.post("/api/deployments", local_deployment_body(name="lab/phi-2"))
    disabled = api.patch("/api/deployments/lab/phi-2", {"status": "disabled"}).json()
    assert disabled["status"] == "disabled" and disabled["usd_per_million_tokens"] == pytest.approx(
        5
    )
    repriced = api.patch(
        "/api/deployments/lab/phi-2",
        {"input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6},
    ).json()
    assert repriced["price_source"] == "manual" and repriced["cost_per_hour"] is None
    assert repriced["usd_per_million_tokens"] == pytest.approx(2.0)
    broken = api.patch("/api/deployments/lab/phi-2", {"tokens_per_second": 10})
    assert_error(broken, 422, "invalid_input")
    moved = api.patch(
        f"/api/deployments/{disabled['id']}", {"base_url": "http://10.0.0.5:8000/v1"}
    ).json()
    assert moved["base_url"] == "http://10.0.0.5:8000/v1" and moved["price_source"] == "manual"
    assert api.client.delete("/api/deployments/lab/phi-2", headers=api.admin).status_code == 204
    assert_error(api.patch("/api/deployments/lab/phi-2", {"status": "active"}), 404, "not_found")
    assert_error(
        api.client.delete("/api/deployments/99999999999999999999", headers=api.admin),
        404,
        "not_found",
    )


def test_hosted_deployment_keeps_litellm_price_when_disabled(api: Admin) -> None:
    updated = api.patch("/api/deployments/fireworks/phi-2", {"status": "disabled"}).json()
    assert updated["price_source"] == "litellm" and updated["input_cost_per_token"] == 1e-07


def test_add_a_model_with_its_licence_and_lineage(api: Admin) -> None:
    created = api.post("/api/models", model_body(aliases=["acme-13b"]))
    assert created.status_code == 201, created.text
    detail = created.json()
    assert detail["parameters"] == 13_000_000_000 and detail["context_window"] == 4096
    assert detail["release_date"] == "2024-03-01" and detail["release_date_precision"] == "month"
    assert detail["parents"][0]["id"] == "meta-llama/Llama-2-13b-hf"
    assert detail["licenses_in_force"] == ["llama2"]
    assert api.client.get("/api/models/acme-13b").json()["id"] == "acme/llama-2-13b-support"
    children = api.client.get("/api/models/meta-llama/Llama-2-13b-hf").json()["children"]
    assert "acme/llama-2-13b-support" in {c["id"] for c in children}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (model_body(hf_id="microsoft/phi-2"), 409, "already in the catalog"),
        (model_body(licenses=[{"license": "wtfpl"}]), 422, "unknown licence 'wtfpl'"),
        (model_body(licenses=[]), 422, "licenses"),
        (model_body(parents=[{"model": "nobody/base"}]), 422, "unknown parent"),
        (model_body(aliases=["phi-2"]), 409, "alias 'phi-2' already names microsoft/phi-2"),
        (model_body(hf_id="../../etc/passwd"), 422, "hf_id"),
        (model_body(parameters="-7B"), 422, "parameters"),
        (model_body(context_window="4Q"), 422, "context_window"),
        (model_body(release_date="2024-13"), 422, "release_date"),
        (model_body(capabilities=["telepathy"]), 422, "capabilities"),
    ],
)
def test_bad_models_are_refused_clearly(
    api: Admin, body: dict[str, Any], status: int, needle: str
) -> None:
    response = api.post("/api/models", body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]
    assert_error(api.client.get("/api/models/acme/llama-2-13b-support"), 404, "not_found")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "phi-2", "kind": ',
        b'{"model": "phi-2", "kind": "local", "served_name": "x", "cost_per_hour": NaN,'
        b' "tokens_per_second": 5, "base_url": "http://127.0.0.1:1/v1"}',
        b'{"model": "phi-2", "kind": "local", "served_name": "x", "cost_per_hour": 1,'
        b' "tokens_per_second": Infinity, "base_url": "http://127.0.0.1:1/v1"}',
        b"\xff\xfe not utf-8",
        b"[]",
    ],
)
def test_malformed_json_body_is_a_422(api: Admin, raw: bytes) -> None:
    response = api.client.post(
        "/api/deployments",
        content=raw,
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert_error(response, 422, "invalid_request")
