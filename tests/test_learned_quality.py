"""The learned quality estimator: outcome files, fitting, saving, routing with it, and the
replay evaluation — on small outcome files written here, whose right answers are known."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from catalog.db import transaction
from catalog.snapshot import CatalogSnapshot
from router.accounts import keys
from router.core.errors import RouteError
from router.core.requests import RouteControls
from router.evaluation.replay import Curve, Point, aiq, evaluate, replay_snapshot, summarise
from router.quality.ability import (
    _load_wordllama,
    common_preambles,
    features,
    strip_preamble,
)
from router.quality.estimators import CatalogQualityEstimator
from router.quality.learned import EstimatorFileError, LearnedQuality, LearnedQualityEstimator, fit
from router.quality.outcomes import OutcomeFileError, load_outcomes, prompt_text
from router.routing.decision import RouteRequest, decide
from tests.conftest import migrate, seed
from web.app import create_app, session_factory_for
from web.commands.root import app as cli_app
from web.settings import Settings

CODE = [
    "Write a python function to reverse a list.",
    "Write a python function to sort a dictionary by value.",
    "Write a python function that parses a CSV line.",
    "Write a python function to count vowels in a string.",
    "Write a python function to merge two sorted lists.",
    "Write a python function that checks a palindrome.",
]
POEMS = [
    "Compose a short poem about the autumn sea.",
    "Compose a short poem about a lonely lighthouse.",
    "Compose a short poem about morning rain.",
    "Compose a short poem about a sleeping cat.",
    "Compose a short poem about the winter moon.",
    "Compose a short poem about city lights.",
]
# coder is right on code, poet on poems, oracle on both at 100 times the price.
PRICES = {"coder": 0.001, "poet": 0.001, "oracle": 0.1}


def outcome_row(text: str, task: str, **overrides: Any) -> dict[str, Any]:
    scores = {"coder": float(task == "code"), "poet": float(task == "poems"), "oracle": 1.0}
    row: dict[str, Any] = {"sample_id": f"{task}-{len(text)}", "prompt": text}
    row["eval_name"] = task
    for model, price in PRICES.items():
        row[model] = scores[model]
        row[f"{model}|total_cost"] = price
    row.update(overrides)
    return row


def write_outcomes(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def outcome_file(tmp_path: Path) -> Path:
    rows = [outcome_row(p, "code") for p in CODE] + [outcome_row(p, "poems") for p in POEMS]
    return write_outcomes(tmp_path / "outcomes.csv", rows)


# --- outcome files ------------------------------------------------------------------------


def test_routerbench_prompts_are_python_lists() -> None:
    assert prompt_text("['first', 'second']") == "first\nsecond"
    assert prompt_text("[not a list") == "[not a list"
    assert prompt_text("[1, 2]") == "[1, 2]"


def test_outcome_file_loads(outcome_file: Path) -> None:
    outcomes = load_outcomes([outcome_file])
    assert outcomes.models == ("coder", "poet", "oracle")
    assert len(outcomes) == 12
    assert outcomes.scores[0].tolist() == [1.0, 0.0, 1.0]
    assert outcomes.costs[0].tolist() == [0.001, 0.001, 0.1]
    assert outcomes.best_model_per_task() == {"code": "coder", "poems": "poet"}


def test_several_files_share_their_common_models(outcome_file: Path, tmp_path: Path) -> None:
    row = outcome_row("Write a python function to add.", "code")
    del row["poet"], row["poet|total_cost"]
    other = write_outcomes(tmp_path / "other.csv", [row])
    outcomes = load_outcomes([outcome_file, other])
    assert outcomes.models == ("coder", "oracle")
    assert len(outcomes) == 13


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coder": "yes"}, "column 'coder' must be a number"),
        ({"coder": "1.5"}, "column 'coder' must be between 0 and 1"),
        ({"oracle|total_cost": "-1"}, "'oracle|total_cost' must be a cost of 0 USD or more"),
        ({"poet": "nan"}, "column 'poet' must be between 0 and 1"),
        ({"prompt": "  "}, "the prompt is empty"),
    ],
)
def test_bad_cells_name_file_line_and_column(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    rows = [outcome_row(CODE[0], "code"), outcome_row(CODE[1], "code", **change)]
    path = write_outcomes(tmp_path / "bad.csv", rows)
    with pytest.raises(OutcomeFileError) as caught:
        load_outcomes([path])
    assert f"{path}:3:" in caught.value.message
    assert message in caught.value.message


def test_bad_files_are_refused_clearly(tmp_path: Path) -> None:
    cases = {
        "empty.csv": ("", "empty"),
        "header.csv": ("prompt,a,a|total_cost\n", "no rows"),
        "noprompt.csv": ("text,a,a|total_cost\nx,1,0.1\n", "no 'prompt' column"),
        "nocost.csv": ("prompt,a\nx,1\n", "'a' (expected 'a|total_cost')"),
        "nomodels.csv": ("prompt,eval_name\nx,y\n", "no model score columns"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(OutcomeFileError) as caught:
            load_outcomes([path])
        assert message in caught.value.message
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"prompt,a,a|total_cost\n\xff\xfe,1,0\n")
    with pytest.raises(OutcomeFileError, match="not UTF-8"):
        load_outcomes([binary])
    with pytest.raises(OutcomeFileError, match="cannot be read"):
        load_outcomes([tmp_path / "missing.csv"])


# --- fitting and predicting ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["ability", "task", "logreg", "knn"])
def test_learns_which_model_answers_which_prompt(outcome_file: Path, method: str) -> None:
    learned = fit(load_outcomes([outcome_file]), method)  # type: ignore[arg-type]
    unseen = ["Write a python function to flatten a list.", "Compose a short poem about snow."]
    code, poem = learned.predict(unseen)
    coder, poet, oracle = 0, 1, 2
    assert code[coder] > code[poet] + 0.2
    assert poem[poet] > poem[coder] + 0.2
    assert code[oracle] > 0.6 and poem[oracle] > 0.6


def test_fractional_scores_and_one_class_models(tmp_path: Path) -> None:
    rows = [outcome_row(p, "code", coder=0.5, poet=0.0) for p in CODE]
    learned = fit(load_outcomes([write_outcomes(tmp_path / "f.csv", rows)]))
    coder, poet, oracle = learned.predict([CODE[0]])[0]
    assert 0.3 < coder < 0.7
    assert poet < 0.2 < 0.8 < oracle  # never right, always right: the smoothed rates


def test_cost_model_reproduces_prices(outcome_file: Path) -> None:
    learned = fit(load_outcomes([outcome_file]))
    estimated = learned.estimated_costs([CODE[0], POEMS[0]])
    assert np.allclose(estimated, [[0.001, 0.001, 0.1]] * 2, rtol=1e-6)


@pytest.mark.parametrize("method", ["ability", "logreg", "knn"])
def test_save_and_load_give_the_same_predictions(
    outcome_file: Path, tmp_path: Path, method: str
) -> None:
    learned = fit(load_outcomes([outcome_file]), method, {"coder": "phi-2"})  # type: ignore[arg-type]
    path = tmp_path / "estimator.npz"
    learned.save(path)
    loaded = LearnedQuality.load(path)
    assert loaded.method == method and loaded.names["coder"] == "phi-2"
    prompts = ["Write a python function to add two numbers.", "Compose a poem about dawn."]
    assert np.allclose(learned.predict(prompts), loaded.predict(prompts))


def test_bad_estimator_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EstimatorFileError, match="no such estimator file"):
        LearnedQuality.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(EstimatorFileError, match="not an estimator file"):
        LearnedQuality.load(junk)
    other = tmp_path / "other.npz"
    with other.open("wb") as handle:
        np.savez(handle, something=np.zeros(3))
    with pytest.raises(EstimatorFileError, match="not a modelyard-quality/1 file"):
        LearnedQuality.load(other)


# --- routing with it ----------------------------------------------------------------------


def test_the_decision_routes_each_prompt_to_the_model_that_knows_it(outcome_file: Path) -> None:
    learned = fit(load_outcomes([outcome_file]))
    snapshot = replay_snapshot(learned)
    estimator = LearnedQualityEstimator(learned, CatalogQualityEstimator(), "learned:test")

    def chosen(prompt: str) -> str:
        request = RouteRequest("auto", prompt, 1, None, frozenset(), RouteControls(min_quality=0.6))
        decision = decide(request, snapshot, estimator)
        assert decision.candidates[0].quality_estimator == "learned:test"
        return decision.candidates[0].model.hf_id

    assert chosen("Write a python function to zip two lists.") == "coder"
    assert chosen("Compose a short poem about spring.") == "poet"


def test_balanced_strategy_trades_quality_for_cost(outcome_file: Path) -> None:
    learned = fit(load_outcomes([outcome_file]))
    snapshot = replay_snapshot(learned)
    estimator = LearnedQualityEstimator(learned, CatalogQualityEstimator())

    def chosen(value: float) -> str:
        controls = RouteControls(strategy="balanced", quality_value_usd=value)
        request = RouteRequest("auto", "Compose a poem about fog.", 1, None, frozenset(), controls)
        return decide(request, snapshot, estimator).candidates[0].model.hf_id

    assert chosen(1000.0) == "oracle"  # money no object: the surest answer
    assert chosen(0.01) == "poet"  # the oracle's extra certainty is not worth 100 times more
    with pytest.raises(RouteError, match="quality_value_usd"):
        decide(
            RouteRequest("auto", "x", 1, None, frozenset(), RouteControls(strategy="balanced")),
            snapshot,
            estimator,
        )


def test_models_the_outcomes_do_not_cover_fall_back_to_benchmarks(
    outcome_file: Path, snapshot: CatalogSnapshot
) -> None:
    learned = fit(load_outcomes([outcome_file]), names={"coder": "llama-2-70b-chat"})
    estimator = LearnedQualityEstimator(learned, CatalogQualityEstimator(), "learned:x")
    llama = snapshot.models["meta-llama/Llama-2-70b-chat-hf"]
    phi = snapshot.models["microsoft/phi-2"]
    prompt = "Write a python function to reverse a string."
    assert estimator.estimate(prompt, "code", llama, snapshot).estimator == "learned:x"
    assert estimator.estimate(prompt, "code", phi, snapshot).estimator == "catalog"


def test_gateway_loads_the_estimator_and_says_which_predicted(
    outcome_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "est.npz"
    fit(load_outcomes([outcome_file]), names={"coder": "llama-2-70b-chat"}).save(path)
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    # A hosted provider counts only with a key (no call is made: this is a dry run).
    settings = Settings(
        database_url=url,
        data_dir=tmp_path,
        quality_estimator=path,
        provider_keys={"anyscale": SecretStr("test-key")},
    )
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        _key, secret = keys.create_key(session, "user")
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post(
            "/v1/route",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": "auto", "messages": [{"role": "user", "content": CODE[0]}]},
        )
    assert answer.status_code == 200, answer.text
    by_model = {c["model"]: c for c in answer.json()["candidates"]}
    assert by_model["meta-llama/Llama-2-70b-chat-hf"]["quality_estimator"] == "learned:est.npz"
    assert by_model["HuggingFaceTB/SmolLM2-135M-Instruct"]["quality_estimator"] == "catalog"


def test_a_bad_estimator_setting_stops_start_up(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, quality_estimator=tmp_path / "missing.npz")
    with pytest.raises(EstimatorFileError, match="no such estimator file"):
        create_app(settings)


# --- evaluation ---------------------------------------------------------------------------


def test_aiq_is_the_mean_accuracy_under_the_hull() -> None:
    # One point at the cheap end reaching 0.8, one at the dear end reaching 1.0: the hull is
    # the straight line between them, whose mean over [1, 3] is 0.9.
    assert aiq([(1.0, 0.8), (3.0, 1.0)], 1.0, 3.0) == pytest.approx(0.9, abs=1e-3)
    # A point under the line changes nothing; a budget below the first point counts 0.
    assert aiq([(1.0, 0.8), (2.0, 0.85), (3.0, 1.0)], 1.0, 3.0) == pytest.approx(0.9, abs=1e-3)
    assert aiq([(2.0, 1.0)], 1.0, 3.0) == pytest.approx(0.5, abs=1e-3)


def test_summary_finds_the_cost_of_the_best_accuracy() -> None:
    best = Curve("always dear", [Point("", 10.0, 9.0, 10)])
    cheap = Curve("always cheap", [Point("", 1.0, 5.0, 10)])
    router = Curve("router", [Point("a", 2.0, 8.6, 10), Point("b", 4.0, 9.0, 10)])
    report = summarise([router], [best, cheap])
    assert report["best_model"] == {"name": "dear", "accuracy": 0.9, "cost_usd": 10.0}
    row = report["routers"][0]
    assert row["cost_at_best_accuracy"] == 0.4
    assert row["cost_at_95pct_of_best"] == 0.2  # 0.86 ≥ 0.95 x 0.9


def test_evaluation_replays_held_out_prompts(outcome_file: Path, tmp_path: Path) -> None:
    learned = fit(load_outcomes([outcome_file]))
    held_out = load_outcomes(
        [
            write_outcomes(
                tmp_path / "held_out.csv",
                [
                    outcome_row("Write a python function to square numbers.", "code"),
                    outcome_row("Compose a short poem about the desert.", "poems"),
                ],
            )
        ]
    )
    report = evaluate(learned, held_out)
    assert report["best_model"]["name"] == "oracle"
    for row in report["routers"]:
        # Right on both prompts at a hundredth of the oracle's price.
        assert row["max_accuracy"] == 1.0
        assert row["cost_at_best_accuracy"] == pytest.approx(0.01)
    per_task = next(b for b in report["baselines"] if b["name"] == "per-task best model")
    assert per_task["max_accuracy"] == 1.0


def test_cli_fit_then_eval_and_cross_validate(outcome_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "est.npz"
    fitted = runner.invoke(
        cli_app,
        [
            "router",
            "fit",
            "--outcomes",
            str(outcome_file),
            "--out",
            str(out),
            "--map",
            "coder=phi-2",
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    assert "coder → phi-2" in fitted.output and out.exists()
    table = runner.invoke(
        cli_app, ["router", "eval", "--estimator", str(out), "--outcomes", str(outcome_file)]
    )
    assert table.exit_code == 0, table.output
    assert "best single model oracle" in table.output
    evaluating = ["router", "eval", "--outcomes", str(outcome_file)]
    cv = runner.invoke(
        cli_app,
        [*evaluating, "--folds", "3", "--repeats", "2", "--json"],
    )
    assert cv.exit_code == 0, cv.output
    report = json.loads(cv.output)
    assert report["folds"] == 3 and report["prompts"] == 12 and report["repeats"] == 2
    # The router and both baselines, each with a 95% interval over the repeats.
    assert {r["name"] for r in report["routers"]} == {
        "ability min_quality",
        "ability balanced",
        "task prior [baseline] min_quality",
        "task prior [baseline] balanced",
        "tf-idf logreg [baseline] min_quality",
        "tf-idf logreg [baseline] balanced",
    }
    for row in report["routers"]:
        low, high = row["aiq_ci"]
        assert low <= row["aiq"] <= high
    shown = runner.invoke(
        cli_app,
        [*evaluating, "--folds", "2", "--repeats", "2", "--method", "task"],
    )
    assert shown.exit_code == 0, shown.output
    assert "repeated 2 times" in shown.output and "task prior" in shown.output


def test_cli_refuses_bad_input(outcome_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli_app, ["router", "eval", "--outcomes", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "cannot be read" in bad.output
    method = runner.invoke(
        cli_app,
        ["router", "fit", "--outcomes", str(outcome_file), "--out", "x", "--method", "magic"],
    )
    assert method.exit_code == 2 and "choose ability or logreg or knn or task" in method.output
    unknown = runner.invoke(
        cli_app, ["router", "eval", "--outcomes", str(outcome_file), "--method", "magic"]
    )
    assert unknown.exit_code == 2 and "--method magic" in unknown.output
    mapping = runner.invoke(
        cli_app,
        ["router", "fit", "--outcomes", str(outcome_file), "--out", "x", "--map", "coder"],
    )
    assert mapping.exit_code == 2 and "OUTCOME_NAME=CATALOG_ID" in mapping.output
    folds = runner.invoke(
        cli_app, ["router", "eval", "--outcomes", str(outcome_file), "--folds", "50"]
    )
    assert folds.exit_code == 1 and "folds must be between 2" in folds.output


# --- the ability estimator ----------------------------------------------------------------


def test_a_shared_preamble_names_the_task_and_is_cut_off() -> None:
    preamble = "Answer with one letter.\n" + "Example question? A\n" * 20
    prompts = [preamble + "Which is heavier? ", preamble + "Which is older? "]
    found = common_preambles([*prompts, "Write code."], ["quiz", "quiz", "code"])
    assert found == {"quiz": preamble}
    assert strip_preamble(prompts[0], found) == ("Which is heavier? ", "quiz")
    assert strip_preamble("Write code.", found) == ("Write code.", None)


def test_wordllama_loads_from_the_wheel_without_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Any attempt to reach the Hub fails loudly: the weights must come from the wheel.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import requests

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access: {args} {kwargs}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    _load_wordllama.cache_clear()
    x = features(["hello world", "def f(x): return x"])
    assert x.shape == (2, 256 + 4)
    assert np.allclose(np.linalg.norm(x[:, :256], axis=1), 1.0, atol=1e-6)


def test_warming_a_learned_estimator_loads_its_embedder_once_before_any_prompt(
    outcome_file: Path,
) -> None:
    """The server warms the ability methods' embedder at start-up, so the first request
    does not load it; a prompt estimated after the warm-up loads nothing more."""
    estimator = LearnedQualityEstimator(
        fit(load_outcomes([outcome_file]), "ability"), CatalogQualityEstimator(), "learned:x"
    )
    _load_wordllama.cache_clear()
    estimator.warm()
    assert _load_wordllama.cache_info().misses == 1
    estimator._predict("Write a python function to reverse a list.")
    assert _load_wordllama.cache_info().misses == 1


def test_a_prompts_features_do_not_depend_on_the_batch_it_comes_in() -> None:
    # Training embeds thousands of prompts at once, a request one: the tokenizer pads a batch
    # to its longest text, and the padding must not count (it once made the two disagree).
    short = "Write a python function to count inversions in an array."
    alone = features([short])[0]
    batched = features([short, "a much longer prompt " * 80])[0]
    assert np.allclose(alone, batched, atol=1e-9)


def test_a_fit_made_with_other_prompt_features_is_refused(
    outcome_file: Path, tmp_path: Path
) -> None:
    learned = fit(load_outcomes([outcome_file]), "ability")
    assert learned.ability is not None
    learned.ability["feature_version"] = np.array(1)
    path = tmp_path / "old.npz"
    learned.save(path)
    with pytest.raises(EstimatorFileError, match=r"features version 1.*fit it again"):
        LearnedQuality.load(path)


def _cold_start_fit(folder: Path) -> LearnedQuality:
    """Three covered models whose success rates follow their catalog scores."""
    names = {
        "coder": "meta-llama/Llama-2-70b-chat-hf",
        "poet": "meta-llama/Llama-2-7b-chat-hf",
        "oracle": "mistralai/Mistral-7B-Instruct-v0.2",
    }
    rows = [outcome_row(p, "code") for p in CODE] + [outcome_row(p, "poems") for p in POEMS]
    return fit(load_outcomes([write_outcomes(folder / "o.csv", rows)]), names=names)


def test_cold_start_gives_unscored_models_an_ability_from_their_benchmarks(
    tmp_path: Path, snapshot: CatalogSnapshot
) -> None:
    # phi-2, with no outcome data, gets an estimate from its own scores on the same map.
    learned = _cold_start_fit(tmp_path)
    estimator = LearnedQualityEstimator(learned, CatalogQualityEstimator(), "learned:x")
    cold = estimator.cold_start(snapshot)
    assert cold is not None and set(cold.lines) == {"code", "poems"} and cold.fitted_on == 3
    phi = snapshot.models["microsoft/phi-2"]
    estimate = estimator.estimate(CODE[0], "code", phi, snapshot)
    assert estimate.estimator == "learned:x" and estimate.basis.startswith("cold start")
    assert 0.0 < estimate.probability < 1.0
    # A model with no scores anywhere in its lineage still falls back to the catalog.
    unscored = next(
        m for m in snapshot.models.values() if not any(x.scores for x in snapshot.lineage(m))
    )
    assert estimator.estimate(CODE[0], "code", unscored, snapshot).estimator == "catalog"
    # A model published only on current benchmarks (no MBPP, ARC or Winogrande) is placed on
    # the map through the ability model's predictions: it is the cold start.
    r1 = snapshot.models["deepseek-ai/DeepSeek-R1"]
    own = {name for name, _ in r1.scores}
    assert "MBPP" not in own and "Winogrande" not in own
    scores = dict(estimator._benchmark_scores(snapshot, r1))
    assert 0 < scores["MBPP"] < 100 and 0 < scores["Winogrande"] < 100
    assert estimator.estimate(CODE[0], "code", r1, snapshot).basis.startswith("cold start")


def test_cold_start_abilities_are_kept_per_catalog_version_and_match_a_fresh_estimate(
    tmp_path: Path, snapshot: CatalogSnapshot
) -> None:
    """The cold start's per-model abilities are worked out once per catalog version (they
    cost a decision over the catalog ~4 ms each time): the kept values give what a fresh
    estimator gives, and a new version whose scores differ is not served the old ones."""
    learned = _cold_start_fit(tmp_path)

    def estimator() -> LearnedQualityEstimator:
        return LearnedQualityEstimator(learned, CatalogQualityEstimator(), "learned:x")

    kept = estimator()
    kept.prepare(snapshot)
    phi = snapshot.models["microsoft/phi-2"]
    for prompt in (CODE[0], POEMS[0], CODE[1]):
        assert kept.estimate(prompt, "code", phi, snapshot) == estimator().estimate(
            prompt, "code", phi, snapshot
        )
    before = kept.estimate(CODE[0], "code", phi, snapshot).probability
    # The next catalog version: phi-2's published scores halved.
    halved = dataclasses.replace(phi, scores=tuple((b, v / 2) for b, v in phi.scores))
    models = {**snapshot.models, phi.hf_id: halved}
    newer = dataclasses.replace(snapshot, version=snapshot.version + 1, models=models)
    after = kept.estimate(CODE[0], "code", halved, newer)
    assert after == estimator().estimate(CODE[0], "code", halved, newer)
    assert after.probability < before
    # Requests still on the last version while the new one is prepared keep their values.
    assert kept.estimate(CODE[0], "code", phi, snapshot).probability == before


def test_bundled_data_loads_and_covers_the_shared_files() -> None:
    from router.quality.bundled import bundled_files

    files = bundled_files()
    assert [f.name for f in files] == [
        "arc_challenge_train.csv.gz",
        "mbpp_train.csv.gz",
        "winogrande_train.csv.gz",
    ]
    outcomes = load_outcomes(files)
    assert len(outcomes) == 2205 and len(outcomes.models) == 11
    assert set(outcomes.tasks) == {"arc-challenge", "mbpp", "winogrande"}
