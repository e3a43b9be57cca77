"""The server's default need for `model: "auto"`: applied when the caller states none,
advisory (a fresh install that only has the embedded SmolLM2 still answers), and said in the
`x-modelyard-need` header; and the bundled quality estimator, fitted once and kept."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from catalog.db import transaction
from catalog.snapshot import CatalogSnapshot
from router.accounts import keys
from router.core.requests import RouteControls
from router.quality import bundled
from router.quality.estimators import CatalogQualityEstimator
from router.routing.decision import RouteRequest
from router.routing.default_need import DefaultNeed, need_headers
from tests.conftest import migrate, seed
from tests.test_learned_quality import CODE, POEMS, outcome_row, write_outcomes
from web.app import create_app, session_factory_for
from web.settings import Settings

LLAMA_70B = "meta-llama/Llama-2-70b-chat-hf"
LOCAL = RouteControls(privacy="local_only")


def request(controls: RouteControls, model: str = "auto") -> RouteRequest:
    return RouteRequest(model, "What is 2+2?", 1, None, frozenset(), controls)


def test_the_need_is_parsed_and_a_bad_one_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DefaultNeed.parse("as_good_as:" + LLAMA_70B) == DefaultNeed(reference=LLAMA_70B)
    assert DefaultNeed.parse("min_quality:0.6") == DefaultNeed(min_quality=0.6)
    assert DefaultNeed.parse("none") is None
    for bad in ("min_quality:2", "as_good_as:", "sometimes"):
        with pytest.raises(ValueError, match="auto need"):
            DefaultNeed.parse(bad)
    with pytest.raises(ValidationError, match="auto need"):
        Settings(data_dir=tmp_path, auto_need="min_quality:high")
    # Unset (the suite sets both for its older tests), the server's defaults are on.
    monkeypatch.delenv("MODELYARD_AUTO_NEED")
    monkeypatch.delenv("MODELYARD_QUALITY_ESTIMATOR")
    defaults = Settings(data_dir=tmp_path)
    assert defaults.default_need() == DefaultNeed(reference=LLAMA_70B)
    assert defaults.quality_estimator == "bundled"


def test_only_the_embedded_model_falls_short_yet_answers(snapshot: CatalogSnapshot) -> None:
    need = DefaultNeed(reference=LLAMA_70B)
    estimator = CatalogQualityEstimator()
    decision = need.decide(request(LOCAL), snapshot, estimator)
    chosen = decision.candidates[0]
    assert chosen.deployment.name == "embedded/smollm2-135m-instruct"
    assert decision.min_quality is not None and chosen.quality_low is not None
    assert chosen.quality_low < decision.min_quality  # its interval's low end falls short
    assert any(e.reason == "quality" for e in decision.excluded)
    header = need_headers(decision, chosen)["x-modelyard-need"]
    assert header.startswith("unmet: no deployment is predicted as good as " + LLAMA_70B)
    assert "let through by the best-available rule" in header
    assert decision.as_dict()["need"].startswith("as good as " + LLAMA_70B)


def test_deployments_that_meet_the_need_come_first(snapshot: CatalogSnapshot) -> None:
    need = DefaultNeed(min_quality=0.5)
    decision = need.decide(request(RouteControls()), snapshot, CatalogQualityEstimator())
    qualities = [c.quality for c in decision.candidates]
    meeting = [q >= 0.5 for q in qualities]
    assert meeting[0] and meeting != sorted(meeting, reverse=False)  # some, then the rest
    assert meeting == sorted(meeting, reverse=True)  # every one that meets it comes first
    assert need_headers(decision, decision.candidates[0])["x-modelyard-need"].startswith("met")
    assert len(decision.candidates) == len(list(decision.candidates))


def test_a_stated_need_or_a_named_model_is_left_alone(snapshot: CatalogSnapshot) -> None:
    need = DefaultNeed(reference=LLAMA_70B)
    estimator = CatalogQualityEstimator()
    stated = need.decide(request(RouteControls(min_quality=0.1)), snapshot, estimator)
    assert stated.need is None and stated.min_quality == 0.1
    named = need.decide(request(RouteControls(), "phi-2"), snapshot, estimator)
    assert named.need is None and named.min_quality is None


def test_a_fresh_install_answers_and_says_no_deployment_met_the_need(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    # The server's defaults for the need; benchmark scores keep this test's fit-free.
    settings = Settings(
        database_url=url,
        data_dir=tmp_path,
        quality_estimator="catalog",
        auto_need="as_good_as:" + LLAMA_70B,
    )
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        _key, secret = keys.create_key(session, "user", policy={"privacy": "local_only"})
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json={
                "model": "auto",
                "messages": [{"role": "user", "content": "What is 2+2?"}],
                "max_tokens": 8,
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    assert answer.headers["x-modelyard-need"].startswith("unmet: no deployment is predicted")
    assert "best-available rule" in answer.headers["x-modelyard-need"]


def test_the_bundled_estimator_is_fitted_once_then_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small data folder in place of router/quality/data/routing keeps the fit to seconds.
    data = tmp_path / "routing"
    data.mkdir()
    rows = [outcome_row(p, "code") for p in CODE] + [outcome_row(p, "poems") for p in POEMS]
    plain = write_outcomes(tmp_path / "small.csv", rows)
    with plain.open("rb") as source, gzip.open(data / "small.csv.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    monkeypatch.setattr(bundled, "DATA", data)
    cache = tmp_path / "cache"
    cache.mkdir()
    first = bundled.load_or_fit(cache)
    saved = list(cache.glob("quality-estimator-*.npz"))
    assert len(saved) == 1 and first.method == bundled.METHOD == "task"
    again = bundled.load_or_fit(cache)
    prompts = ["Write a python function to add.", "Compose a poem about dusk."]
    assert np.allclose(first.predict(prompts), again.predict(prompts))
    saved[0].write_bytes(b"broken")  # an unreadable cache is fitted again, not fatal
    assert bundled.load_or_fit(cache).method == "task"
