"""The ability model is fitted when a catalog snapshot is built (at start-up and in the
background refresh), never by the request that first meets a catalog version; and the fit's
pieces that the held-out figures rest on (settings read as modes, versions and majority
votes; floors; the factors) behave as documented."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from catalog.db import transaction
from catalog.orm import BenchmarkScore, Model
from catalog.snapshot import CatalogSnapshot
from router.accounts import keys
from router.quality.benchmark_ability import Observation, fit
from router.quality.estimators import CatalogQualityEstimator
from router.quality.learned import LearnedQualityEstimator
from router.quality.learned import fit as fit_outcomes
from router.quality.outcomes import load_outcomes
from router.quality.score_settings import benchmark_of, is_vote, item_of, mode_of
from tests.conftest import migrate, seed
from tests.test_learned_quality import CODE, POEMS, outcome_row, write_outcomes
from web.app import create_app, session_factory_for
from web.settings import Settings

R1 = "deepseek-ai/DeepSeek-R1"


def _route(client: TestClient, secret: str) -> None:
    answer = client.post(
        "/v1/route",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}]},
    )
    assert answer.status_code == 200, answer.text
    # SmolLM2 (the one deployment without a provider key) has no scores: the fit's family and
    # size prior places it (without a fit it would be the bare size prior).
    basis = answer.json()["chosen"]["quality_basis"]
    assert basis.startswith("math: family and size prior"), basis


def test_the_fit_is_ready_before_the_first_request_and_refitted_in_the_background(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    settings = Settings(database_url=url, data_dir=tmp_path, quality_estimator="catalog")
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        _key, secret = keys.create_key(session, "user")
    with TestClient(create_app(settings)) as client:
        app = client.app
        estimator = app.state.gateway.estimator  # type: ignore[attr-defined]
        snapshots = app.state.snapshots  # type: ignore[attr-defined]
        assert isinstance(estimator, CatalogQualityEstimator)
        first = snapshots.current
        assert estimator.fits == 1  # start-up fitted it: no request has been made yet
        _route(client, secret)
        _route(client, secret)
        assert estimator.fits == 1  # the requests used it; none fitted

        # A new published score: the background refresh builds the snapshot and fits it
        # before the router can see the new version.
        with transaction(factory) as session:
            r1 = session.scalars(select(Model).where(Model.hf_id == R1)).one()
            session.add(
                BenchmarkScore(
                    model_id=r1.id,
                    benchmark="MMLU-Pro",
                    score=84.0,
                    setting="reasoning model; test entry",
                    source="test",
                )
            )
        deadline = time.monotonic() + 20
        while snapshots.current.version == first.version and time.monotonic() < deadline:
            time.sleep(0.05)
        assert snapshots.current.version > first.version
        assert estimator.fits == 2  # fitted before it was published
        _route(client, secret)
        assert estimator.fits == 2
    engine.dispose()


def test_the_learned_estimator_prepares_its_fallbacks_fit(
    tmp_path: Path, snapshot: CatalogSnapshot
) -> None:
    """The default (bundled, learned) estimator hands `prepare` on to the catalog estimator
    it falls back to, and computes its own cold start there too."""
    rows = [outcome_row(p, "code") for p in CODE] + [outcome_row(p, "poems") for p in POEMS]
    learned = fit_outcomes(load_outcomes([write_outcomes(tmp_path / "o.csv", rows)]))
    catalog_based = CatalogQualityEstimator()
    estimator = LearnedQualityEstimator(learned, catalog_based, "learned:x")
    estimator.prepare(snapshot)
    assert catalog_based.fits == 1
    phi = snapshot.models["microsoft/phi-2"]
    found = estimator.estimate("Write a python function.", "code", phi, snapshot)
    assert found.probability > 0
    assert catalog_based.fits == 1
    estimator.prepare(snapshot)  # a version already fitted is not fitted again
    assert catalog_based.fits == 1


def test_settings_name_modes_versions_variants_and_votes() -> None:
    # The mode is not "thinking" where the setting says the mode is unknown or absent.
    assert mode_of("instruct; thinking mode not stated by the card") == ""
    assert mode_of("reflex-grade model without long thinking; 8k output tokens") == ("non-thinking")
    assert mode_of("reasoning model; pass@1") == "thinking"
    assert mode_of("non-reasoning baseline (Qwen2.5 instruct)") == ""
    assert mode_of("hybrid reasoning model, mode not stated in the table") == ""
    assert mode_of("reasoning model; cons@64; RL on the base model without SFT") == "thinking"
    assert mode_of("5-shot; base model") == "base"
    assert item_of("TAU-bench", "Tau2 (average over 3); instruct") == "TAU-bench v2"
    assert item_of("TAU-bench", "TAU-bench retail, optimized user simulator") == (
        "TAU-bench retail"
    )
    assert item_of("Arena-Hard", "Arena-Hard v2, win rate judged by GPT-4.1") == "Arena-Hard v2"
    assert item_of("GPQA-Diamond", "chat model; DeepSeek-V3 comparison") == "GPQA-Diamond"
    assert benchmark_of("TAU-bench airline") == "TAU-bench"
    assert benchmark_of("LiveCodeBench v6") == "LiveCodeBench"
    assert is_vote("reasoning model; cons@64 (majority vote)")
    assert is_vote("maj@8")
    assert not is_vote("5-shot, maj@1; base model")
    assert not is_vote("8-shot, CoT, em_maj1@1; instruct")


def _grid(models: int, benchmarks: list[str]) -> list[Observation]:
    """Scores of models of rising ability on benchmarks of rising difficulty: a scale the
    fit must recover."""
    found = []
    for m in range(models):
        for b, name in enumerate(benchmarks):
            share = 1 / (1 + 2.718 ** -(0.8 * m - 0.5 * b - 1.5))
            found.append(Observation(f"m{m}", "", name, 100 * share))
    return found


def test_a_majority_vote_scores_above_one_sample_of_the_same_model() -> None:
    obs = _grid(6, ["MATH", "GSM8K", "MATH-500", "AIME-2024"])
    # Every model's AIME by vote, 12 points over its single-sample score.
    voted = [
        Observation(o.model, "", o.benchmark, min(99.0, o.score + 12), o.item, vote=True)
        for o in obs
        if o.benchmark == "AIME-2024"
    ]
    fitted = fit(obs + voted, {})
    assert fitted.vote > 0.3
    single = fitted.predict_score("m2", "", "AIME-2024")
    vote = fitted.predict_score("m2", "", "AIME-2024", vote=True)
    assert single is not None and vote is not None and vote > single + 5


def test_multiple_choice_predictions_stay_above_most_of_chance() -> None:
    # MMLU is four options: the weakest model still scores near 25, not near 0.
    obs = _grid(6, ["MMLU", "MMLU-Redux", "GSM8K", "MATH"])
    obs = [
        Observation(o.model, "", "MMLU", 25 + 0.75 * o.score) if o.benchmark == "MMLU" else o
        for o in obs
    ]
    fitted = fit(obs, {})
    weakest = fitted.predict_score("m0", "", "MMLU")
    assert weakest is not None and 20.0 <= weakest < 40.0
    gsm = fitted.predict_score("m0", "", "GSM8K")
    assert gsm is not None and gsm < 20.0


def test_a_tiny_catalog_fits_without_error() -> None:
    for obs in (
        [Observation("a", "", "MMLU", 60.0)],
        [Observation("a", "", "MMLU", 100.0), Observation("b", "", "AIME-2025", 0.0, vote=True)],
    ):
        fitted = fit(obs, {})
        for o in obs:
            predicted = fitted.predict(o)
            assert predicted is not None and 0.0 <= predicted <= 100.0
