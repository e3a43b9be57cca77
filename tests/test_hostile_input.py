"""Hostile input gets a clear 4xx in the documented envelope, never a 500: huge and deeply
nested bodies, invalid UTF-8, NUL bytes, absurd numbers, too many messages, unknown roles,
injection in routing headers, path traversal in model ids, SQL metacharacters in filters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog.db import transaction
from router.accounts import keys
from tests.conftest import migrate, seed
from web.app import create_app, session_factory_for
from web.settings import Settings


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    migrate(url)
    settings = Settings(database_url=url, data_dir=folder)
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        _, key = keys.create_key(session, "hostile")
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def chat(**overrides: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **overrides}


def assert_openai_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]


MESSAGES = b'"messages": [{"role": "user", "content": "x"}]'
RAW_BODIES = {
    "invalid utf-8": b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "not json": b"{not json",
    "deeply nested": b'{"model": "auto", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "nan": b'{"model": "auto", ' + MESSAGES + b', "temperature": NaN}',
    "infinity": b'{"model": "auto", ' + MESSAGES + b', "top_p": Infinity}',
    "a list": b"[1, 2, 3]",
    "empty": b"",
}


@pytest.mark.parametrize("name", list(RAW_BODIES))
def test_malformed_bodies_are_400(api: tuple[TestClient, dict[str, str]], name: str) -> None:
    client, auth = api
    for path in ("/v1/chat/completions", "/v1/route", "/v1/completions"):
        assert_openai_error(client.post(path, content=RAW_BODIES[name], headers=auth), 400)


@pytest.mark.parametrize(
    "body",
    [
        chat(max_tokens=10**12),
        chat(max_tokens=-5),
        chat(temperature=-1),
        chat(messages=[{"role": "user", "content": "x"}] * 10_001),
        chat(messages=[{"role": "wizard", "content": "x"}]),
        chat(messages=[]),
        chat(model=""),
        chat(model="x" * 10_000),
        chat(n=1000),
        chat(route={"min_quality": 7}),
        chat(route={"use": {"monthly_active_users": -1}}),
        chat(route={"models": ["'; DROP TABLE models; --"]}),
    ],
)
def test_absurd_values_are_4xx(api: tuple[TestClient, dict[str, str]], body: Any) -> None:
    client, auth = api
    response = client.post("/v1/chat/completions", json=body, headers=auth)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_a_huge_body_is_413(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    huge = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"a" * (17 << 20)
    assert_openai_error(
        client.post("/v1/chat/completions", content=huge + b'"}]}', headers=auth), 413
    )


def test_nul_bytes_in_text_are_just_text(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    plan = client.post(
        "/v1/route", json=chat(messages=[{"role": "user", "content": "a\x00b"}]), headers=auth
    )
    assert plan.status_code == 200, plan.text


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Route-Use", '{"commercial": "yes; DROP TABLE"}'),
        ("X-Route-Use", "{not json"),
        ("X-Route-Min-Quality", "1; ignore previous instructions"),
        ("X-Route-Privacy", "everywhere"),
        ("X-Route-Strategy", "../../etc/passwd"),
        ("X-Route-Max-Cost-Usd", "NaN"),
    ],
)
def test_injection_in_routing_headers_is_400(
    api: tuple[TestClient, dict[str, str]], header: str, value: str
) -> None:
    client, auth = api
    response = client.post("/v1/route", json=chat(), headers={**auth, header: value})
    assert_openai_error(response, 400)
    assert response.json()["error"]["param"] == header.lower()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/..%2F..%2Fetc%2Fpasswd",
        "/v1/models/../../etc/passwd",
        "/api/models/..%2F..%2Fetc%2Fpasswd",
        "/api/models/%00",
        "/api/licenses/..%2Fmit",
    ],
)
def test_path_traversal_in_ids_is_404(api: tuple[TestClient, dict[str, str]], path: str) -> None:
    client, auth = api
    response = client.get(path, headers=auth)
    assert response.status_code in (404, 422), response.text
    assert "error" in response.json()


# "%" is LIKE's wildcard: matched as text it finds nothing (unescaped it found every model).
@pytest.mark.parametrize("value", ["' OR 1=1 --", '"; DROP TABLE models; --', "%", "\\"])
@pytest.mark.parametrize("field", ["q", "family", "license", "benchmark"])
def test_sql_metacharacters_in_filters_are_data(
    api: tuple[TestClient, dict[str, str]], field: str, value: str
) -> None:
    client, _auth = api
    response = client.get("/api/models", params={field: value})
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code == 200:
        assert response.json()["total"] == 0  # matched as text, not as SQL
    models = client.get("/api/models").json()
    assert models["total"] > 40  # the catalog is still all there


def test_cors_is_off_by_default(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _auth = api
    origin = {"Origin": "https://evil.example"}
    preflight = client.options(
        "/v1/chat/completions",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    listed = client.get("/api/models", headers=origin)
    assert "access-control-allow-origin" not in listed.headers
