"""Feedback and learning end to end: the openai SDK against a real modelyard process on SQLite
and PostgreSQL, routing to two models the router knows nothing about (new ids, no scores),
answered by the fault upstream's echo model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from catalog import service
from catalog.db import transaction
from catalog.schemas import ModelIn
from router.accounts.orm import UsageRecord
from router.quality.orm import RouteFeedback, RouteOutcome
from router.quality.traffic import FEATURE_SIZE
from tests.conftest import PostgresServer, echo_deployment, prepare_database, start_gateway
from tests.factories import model_body
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

UNKNOWN = ("acme/unknown-a", "acme/unknown-b")
NEED = 0.8  # above both unknown models' size guesses (0.51), inside their interval (to 0.9)


@dataclass
class Served:
    server: ServerProcess
    url: str
    secrets: dict[str, str]

    def client(self, key: str = "app") -> OpenAI:
        return OpenAI(
            base_url=f"{self.server.base_url}/v1", api_key=self.secrets[key], max_retries=0
        )

    def post(self, path: str, body: object, key: str = "app") -> httpx.Response:
        return httpx.post(
            self.server.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.secrets[key]}"},
            timeout=60,
        )

    def ask(
        self, text: str, key: str = "app", models: tuple[str, ...] = UNKNOWN
    ) -> tuple[dict[str, str], Any]:
        raw = self.client(key).chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": text}],
            max_tokens=8,
            extra_body={"route": {"min_quality": NEED, "models": list(models)}},
        )
        return dict(raw.headers), raw.parse()

    def feedback(
        self, route_id: str, score: object, key: str = "app", **more: Any
    ) -> httpx.Response:
        return self.post("/v1/feedback", {"route_id": route_id, "score": score, **more}, key)

    def rows(self, kind: type[Any]) -> list[Any]:
        engine = create_engine(self.url)
        try:
            with Session(engine) as session:
                return list(session.scalars(select(kind)))
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fault_upstream: ServerProcess,
) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("feedback")
    pg: PostgresServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'modelyard.db'}"
    else:
        pg = request.getfixturevalue("postgres")
        name = pg.create_database()
        url = pg.url(name)
    secrets = prepare_database(
        url,
        folder,
        api_keys={
            "app": {},
            "other": {},
            "search": {"team": "search"},
            "lab": {"team": "lab"},
            "shy": {"explore": False},
            "broke": {"exploration_budget_usd_per_day": 0},
            "keeper": {"store_prompts": True},
            "limited": {"requests_per_minute": 2},
        },
        admin_keys=("ops",),
    )
    _, factory = session_factory_for(Settings(database_url=url, data_dir=folder))
    with transaction(factory) as session:
        for i, hf_id in enumerate(UNKNOWN):
            spec = model_body(
                hf_id=hf_id,
                name=hf_id,
                parameters="7B",
                parents=[],
                licenses=[{"license": "apache-2.0"}],
            )
            service.add_model(session, ModelIn.model_validate(spec))
            service.add_deployment(
                session,
                _deployment(
                    echo_deployment(
                        fault_upstream,
                        name=f"test/{hf_id}",
                        model=hf_id,
                        input_cost_per_token=1e-9 * (i + 1),
                        output_cost_per_token=1e-9 * (i + 1),
                    )
                ),
            )
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_DATA_DIR": str(folder),
        "MODELYARD_LEARNING_POLL_SECONDS": "0.2",
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.1",
    }
    server = start_gateway(folder, env)
    try:
        yield Served(server, url, secrets)
    finally:
        server.stop()
        if pg is not None:
            pg.drop_database(name)


def _deployment(spec: dict[str, Any]) -> Any:
    from catalog.schemas import DeploymentIn

    return DeploymentIn.model_validate({"kind": "local", **spec})


def test_a_need_no_known_model_meets_is_answered_by_an_unknown_one_and_says_so(
    served: Served,
) -> None:
    headers, answer = served.ask("Which planet is largest? unproven-1")
    assert headers["x-modelyard-model"] in UNKNOWN
    assert headers["x-modelyard-exploration"] == "unproven"
    assert headers["x-modelyard-need-proven"].startswith("no:")
    assert answer.choices[0].message.content
    # Marked in the ledger too.
    time.sleep(0.5)
    route = headers["x-modelyard-route-id"]
    usage = {r.route_id: r for r in served.rows(UsageRecord)}
    assert usage[route].exploration == "unproven"


def test_keys_that_opt_out_or_have_no_exploration_budget_are_refused_as_before(
    served: Served,
) -> None:
    for key in ("shy", "broke"):
        with pytest.raises(openai.BadRequestError) as refused:
            served.ask("Which planet is largest? opt-out", key=key)
        assert "quality" in str(refused.value)


def test_feedback_is_stored_replaced_and_kept_per_name(served: Served) -> None:
    headers, _ = served.ask("Name a prime number. feedback-1")
    route = headers["x-modelyard-route-id"]
    first = served.feedback(route, 0.25)
    assert first.status_code == 200, first.text
    assert first.json() | {"replaced": False} == {
        "object": "feedback",
        "route_id": route,
        "name": "quality",
        "score": 0.25,
        "model": headers["x-modelyard-model"],
        "replaced": False,
    }
    again = served.feedback(route, 1)
    assert again.status_code == 200 and again.json()["replaced"] is True
    assert served.feedback(route, 0.5, name="latency").json()["replaced"] is False
    scores = {(f.route_id, f.name): f.score for f in served.rows(RouteFeedback)}
    assert scores[(route, "quality")] == 1.0
    assert scores[(route, "latency")] == 0.5
    # An admin may score any key's route.
    assert served.feedback(route, 0.75, key="ops").status_code == 200


def test_feedback_refuses_foreign_unknown_and_bad_scores(served: Served) -> None:
    headers, _ = served.ask("Name a prime number. feedback-2")
    route = headers["x-modelyard-route-id"]
    foreign = served.feedback(route, 1.0, key="other")
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "route_not_found"
    assert served.feedback("route-nonexistent-1", 1.0).status_code == 404
    for bad in (1.5, -0.1, "0.5", "high", None, True):
        answer = served.feedback(route, bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]["type"] == "invalid_request_error"
    assert served.post("/v1/feedback", {"route_id": route}).status_code == 400
    # Nothing of the refused ones was kept.
    assert not [f for f in served.rows(RouteFeedback) if f.route_id == route]


def test_a_flood_of_feedback_is_rate_limited_by_the_keys_limits(served: Served) -> None:
    codes = [served.feedback("route-nonexistent-2", 1.0, key="limited") for _ in range(4)]
    assert [c.status_code for c in codes][-1] == 429
    assert codes[-1].json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in codes[-1].headers


def test_outcomes_keep_features_and_only_allowed_prompts(served: Served) -> None:
    plain, _ = served.ask("Tell me a secret recipe. outcome-1")
    kept, _ = served.ask("Tell me a secret recipe. outcome-2", key="keeper")
    personal, _ = served.ask("Write to jane.doe@fastmail.fm about it. outcome-3", key="keeper")
    assert "email" in personal["x-modelyard-privacy-findings"]  # the scan found the address
    time.sleep(0.5)
    rows = {r.route_id: r for r in served.rows(RouteOutcome)}
    assert rows[personal["x-modelyard-route-id"]].prompt is None  # never kept, policy or not
    first, second = rows[plain["x-modelyard-route-id"]], rows[kept["x-modelyard-route-id"]]
    assert first.prompt is None
    assert second.prompt == "Tell me a secret recipe. outcome-2"
    assert len(first.features) == FEATURE_SIZE * 4  # float32
    assert first.model_name == plain["x-modelyard-model"]
    assert first.exploration == "unproven" and first.task == "chat"


def test_a_responses_api_id_names_the_route_too(served: Served) -> None:
    response = served.client().responses.create(
        model="auto",
        input="Which ocean is deepest? responses-1",
        max_output_tokens=16,
        extra_body={"route": {"min_quality": NEED, "models": list(UNKNOWN)}},
    )
    deadline = time.monotonic() + 5
    answer = served.feedback(response.id, 0.5)
    while answer.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)  # the id is attached with the next batch
        answer = served.feedback(response.id, 0.5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["route_id"].startswith("route-")


def _dry_run(served: Served, key: str, text: str) -> dict[str, Any]:
    answer = served.post(
        "/v1/route",
        {
            "model": "auto",
            "messages": [{"role": "user", "content": text}],
            "route": {"min_quality": 0.0, "models": [UNKNOWN[0]]},
        },
        key,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["candidates"][0]
    return result


def test_feedback_moves_the_estimate_within_seconds_in_its_own_scope_only(
    served: Served,
) -> None:
    text = "Which river is longest? learning"
    before = _dry_run(served, "search", text)
    # The team sent nothing: the prior of a model without verified scores.
    assert before["quality_basis"].endswith("(no verified scores)")
    for _ in range(12):
        headers, _ = served.ask(text, key="search", models=(UNKNOWN[0],))
        assert (
            served.feedback(headers["x-modelyard-route-id"], 1.0, key="search").status_code == 200
        )
    deadline = time.monotonic() + 10
    after = _dry_run(served, "search", text)
    while "from 12 scores" not in after["quality_basis"] and time.monotonic() < deadline:
        time.sleep(0.2)
        after = _dry_run(served, "search", text)
    assert after["quality_basis"].startswith("learned: 0.9")
    assert "from 12 scores (team search)" in after["quality_basis"]
    assert after["predicted_quality"] > NEED
    # Now proven for the team: answered without exploring.
    headers, _ = served.ask(text, key="search", models=(UNKNOWN[0],))
    assert "x-modelyard-exploration" not in headers
    # Another scope learned nothing from it.
    elsewhere = _dry_run(served, "app", text)["quality_basis"]
    assert "team search" not in elsewhere and "12 scores" not in elsewhere


def test_the_quality_page_shows_prior_learned_scores_and_exploration_spend(served: Served) -> None:
    from web.pages.queries import KEY_COOKIE

    def page(key: str) -> str:
        answer = httpx.get(
            served.server.base_url + "/quality",
            cookies={KEY_COOKIE: served.secrets[key]},
            timeout=30,
        )
        assert answer.status_code == 200
        return answer.text

    team = page("search")  # after the learning test: team search scored unknown-a 12 times
    assert UNKNOWN[0] in team and "search" in team
    row = team[team.index(UNKNOWN[0]) :].split("</tr>")[0]
    assert ">12<" in row  # scores
    assert "1.00" in row  # their mean
    assert page("app").count("team search") == 0  # a key sees its own scope only
    admin = page("ops")
    assert "search" in admin and "whole install" in admin
    assert "Sign in" in httpx.get(served.server.base_url + "/quality", timeout=30).text


def test_a_proven_choice_still_explores_a_barely_tried_cheaper_candidate(served: Served) -> None:
    text = "Which mountain is highest? exploring"
    # Team lab: the dearer model is proven (12 good scores), the cheaper one barely tried (3).
    for model, scores in ((UNKNOWN[1], 12), (UNKNOWN[0], 3)):
        for _ in range(scores):
            headers, _ = served.ask(text, key="lab", models=(model,))
            assert (
                served.feedback(headers["x-modelyard-route-id"], 1.0, key="lab").status_code == 200
            )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until this replica has read the 15 scores
        basis = _dry_run(served, "lab", text)["quality_basis"]
        if "from 3 scores (team lab)" in basis:
            break
        time.sleep(0.2)
    answers = [served.ask(text, key="lab")[0] for _ in range(15)]
    explored = [h for h in answers if h.get("x-modelyard-exploration") == "explore"]
    settled = [h for h in answers if "x-modelyard-exploration" not in h]
    # Each request explores the cheaper one when its draw from a wide interval meets the need
    # (about 4 in 10); all 15 settling on one side would happen about once in 2,500 runs.
    assert explored and settled
    assert {h["x-modelyard-model"] for h in explored} == {UNKNOWN[0]}
    assert {h["x-modelyard-model"] for h in settled} == {UNKNOWN[1]}
    time.sleep(0.5)
    usage = {r.route_id: r.exploration for r in served.rows(UsageRecord)}
    assert {usage[h["x-modelyard-route-id"]] for h in explored} == {"explore"}
    assert {usage[h["x-modelyard-route-id"]] for h in settled} == {None}
