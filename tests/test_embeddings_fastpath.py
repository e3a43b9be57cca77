"""POST /v1/embeddings on the raw-ASGI fast path answers exactly as the FastAPI route it
stands in for: the same statuses and envelopes for every bad request, the same answer for a
good one. One app, asked each question twice: with its fast path and without it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import prepare_database
from web.app import create_app
from web.fastpath import ChatCompletionsFastPath
from web.settings import Settings

PATH = "/v1/embeddings"
GOOD = {"model": "wordllama", "input": ["the cat sat", "a dog ran"], "encoding_format": "base64"}
JSON = {"Content-Type": "application/json"}


class BothWays:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {key}"}
        app: Any = client.app
        self.app = app
        self.fast: ChatCompletionsFastPath = app.fast_path

    def post(self, fast: bool, content: bytes, headers: dict[str, str]) -> Any:
        self.app.fast_path = self.fast if fast else None
        try:
            return self.client.post(PATH, content=content, headers=headers)
        finally:
            self.app.fast_path = self.fast

    def compare(self, content: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        fast, slow = (self.post(way, content, headers) for way in (True, False))
        assert fast.status_code == slow.status_code, (fast.text, slow.text)
        assert without_route_id(fast.json()) == without_route_id(slow.json())
        return fast.status_code, fast.json()


def without_route_id(answer: dict[str, Any]) -> dict[str, Any]:
    """Each request has its own route id; the rest must match."""
    error = answer.get("error")
    if isinstance(error, dict):
        return {**answer, "error": {k: v for k, v in error.items() if k != "route_id"}}
    return answer


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BothWays]:
    folder: Path = tmp_path_factory.mktemp("embeddings-fastpath")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    keys = prepare_database(url, folder, api_keys={"app": {}})
    app = create_app(Settings(database_url=url, data_dir=folder))
    assert isinstance(app.fast_path, ChatCompletionsFastPath)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield BothWays(client, keys["app"])


BAD_BODIES = {
    "not json": b"{not json",
    "invalid utf-8": b'{"model": "wordllama", "input": "\xff\xfe"}',
    "deeply nested": b'{"model": "wordllama", "input": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "a list": b"[1, 2, 3]",
    "empty": b"",
    "nan input": b'{"model": "wordllama", "input": NaN}',
    "empty string": json.dumps({"model": "wordllama", "input": ""}).encode(),
    "mixed list": json.dumps({"model": "wordllama", "input": ["a", 3]}).encode(),
    "unknown field": json.dumps({**GOOD, "colour": "blue"}).encode(),
    "bad format": json.dumps({**GOOD, "encoding_format": "hex"}).encode(),
    "no such model": json.dumps({**GOOD, "model": "no-such-model"}).encode(),
    "quality control": json.dumps({**GOOD, "route": {"min_quality": 0.5}}).encode(),
}
# Input the model itself refuses (a lone surrogate, token arrays) is left to
# tests/test_embeddings.py: each refusal counts against the deployment's health, and a few
# in a row here would cool it down for the requests after them.


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_bodies_are_refused_alike(both: BothWays, name: str) -> None:
    status, answer = both.compare(BAD_BODIES[name], {**both.auth, **JSON})
    assert 400 <= status < 500
    assert set(answer["error"]) >= {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # no key
        ({"Authorization": "Bearer not-a-key"}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ("text/plain", 400),  # a body FastAPI does not read as JSON
        ("", 400),  # no content type at all
        ("application/vnd.api+json; charset=utf-8", 200),
    ],
)
def test_keys_and_content_types_are_judged_alike(
    both: BothWays, headers: dict[str, str] | str, status: int
) -> None:
    if isinstance(headers, str):
        headers = {**both.auth, **({"Content-Type": headers} if headers else {})}
    got, answer = both.compare(json.dumps(GOOD).encode(), headers)
    assert got == status, answer


def test_a_good_request_gets_the_same_answer_both_ways(both: BothWays) -> None:
    for encoding in ("float", "base64"):
        body = json.dumps({**GOOD, "encoding_format": encoding}).encode()
        status, answer = both.compare(body, {**both.auth, **JSON})
        assert status == 200 and len(answer["data"]) == 2
