"""The 2025-2026 licence terms (../shared/facts/licenses-2025.md): the pure engine on the
seeded catalog, then the issue's five questions through the API, the CLI and the pages on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from catalog import licensing
from catalog.schemas import ModelCompliance, UsageProfile
from catalog.snapshot import CatalogSnapshot
from catalog.terms import Verdict
from web.app import create_app
from web.commands.root import app as cli
from web.pages.queries import PROFILE_COOKIE
from web.settings import Settings

A = Verdict.ALLOWED
AO = Verdict.ALLOWED_WITH_OBLIGATIONS
R = Verdict.NEEDS_REVIEW
F = Verdict.FORBIDDEN
DAY = dt.date(2026, 6, 1)

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
KIMI = "moonshotai/Kimi-K2-Instruct"
V3_DEC = "deepseek-ai/DeepSeek-V3"
GEMMA3 = "google/gemma-3-27b-it"
LARGE2 = "mistralai/Mistral-Large-Instruct-2407"


def check(snapshot: CatalogSnapshot, ref: str, **fields: Any) -> ModelCompliance:
    model = snapshot.find(ref)
    assert model is not None, ref
    fields.setdefault("date", DAY)
    return licensing.check_model(snapshot, model, UsageProfile(**fields))


def decided(result: ModelCompliance, verdict: Verdict) -> set[tuple[str, str, str | None]]:
    return {(r.license, r.term, r.clause) for r in result.reasons if r.verdict == verdict}


def kinds(result: ModelCompliance) -> dict[str, tuple[str, str, str | None]]:
    return {o.kind: (o.text, o.license, o.clause) for o in result.obligations}


# --- the catalog covers the facts --------------------------------------------------------------


def test_the_catalog_holds_the_2025_lines(snapshot: CatalogSnapshot) -> None:
    assert len(snapshot.models) >= 100
    for ref in (
        "meta-llama/Llama-3.3-70B-Instruct",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "google/gemma-3-1b-pt",
        "google/gemma-4-31B-it",
        "Qwen/Qwen3-235B-A22B-Thinking-2507",
        "Qwen/Qwen3.8-2.4T-A95B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "openai/gpt-oss-20b",
        "microsoft/Phi-4-mini-instruct",
        "mistralai/Mistral-Small-3.1-24B-Base-2503",
        "moonshotai/Kimi-K2-Base",
        "zai-org/GLM-4.5-Air-FP8",
        "allenai/OLMo-2-1124-13B-DPO",
        "HuggingFaceTB/SmolLM3-3B",
        "ibm-granite/granite-3.1-3b-a800m-instruct",
        "tiiuae/Falcon3-10B-Instruct",
        "CohereLabs/c4ai-command-a-03-2025",
        "01-ai/Yi-1.5-9B",
    ):
        assert snapshot.find(ref) is not None, ref
    maverick = snapshot.models["meta-llama/Llama-4-Maverick-17B-128E"]
    assert maverick.parameters == 400_000_000_000 and "vision" in maverick.capabilities


def test_moe_models_carry_active_parameters(seeded_settings: Settings) -> None:
    with TestClient(create_app(seeded_settings)) as client:
        kimi = client.get(f"/api/models/{KIMI}").json()
    assert kimi["parameters"] == 1_000_000_000_000 and kimi["active_parameters"] == 32_000_000_000


# --- revenue thresholds (Kimi K2) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected", "display"),
    [
        ({"monthly_revenue_usd": 30_000_000}, AO, True),  # over US$20M a month
        ({"monthly_active_users": 150_000_000}, AO, True),  # over 100M users
        ({"monthly_active_users": 5_000_000, "monthly_revenue_usd": 20_000_000}, A, False),
        ({}, AO, True),  # unknown size: the duty is stated as a condition
    ],
)
def test_kimi_k2_display_duty(
    snapshot: CatalogSnapshot, fields: dict[str, int], expected: Verdict, display: bool
) -> None:
    result = check(snapshot, KIMI, commercial=True, **fields)
    assert result.verdict == expected, result.reasons
    found = kinds(result).get("display")
    assert (found is not None) == display
    if found:
        assert '"Kimi K2"' in found[0]
        assert found[1:] == ("kimi-k2-modified-mit", "the modification paragraph")


def test_kimi_k2_threshold_is_commercial_only(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, KIMI, monthly_revenue_usd=30_000_000)
    assert result.verdict == A and "display" not in kinds(result)


# --- jurisdiction (Llama 4 multimodal) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"licensee_region": "EU"}, F),
        ({"licensee_region": "de"}, F),  # a member state, any case
        ({"licensee_region": "DE", "end_user_of_product": True}, AO),  # end users exempt
        ({"licensee_region": "US"}, AO),
        ({"licensee_region": "GB"}, AO),
    ],
)
def test_llama4_eu_carve_out(
    snapshot: CatalogSnapshot, fields: dict[str, Any], expected: Verdict
) -> None:
    result = check(snapshot, SCOUT, commercial=True, **fields)
    assert result.verdict == expected, result.reasons
    if expected == F:
        assert decided(result, F) == {
            ("llama4", "excluded_regions", "Llama 4 Acceptable Use Policy (multimodal models)")
        }


def test_region_unknown_is_an_obligation_and_text_models_are_untouched(
    snapshot: CatalogSnapshot,
) -> None:
    scout = check(snapshot, SCOUT, commercial=True)
    assert "European Union" in kinds(scout)["licensee_region"][0]
    # Llama 3.3's policy names multimodal models only; 3.3 70B is text-only.
    text = check(
        snapshot, "meta-llama/Llama-3.3-70B-Instruct", commercial=True, licensee_region="FR"
    )
    assert text.verdict == AO and "licensee_region" not in kinds(text)


# --- MAU with affiliates, at release, and the end-user exemption --------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"monthly_active_users_at_release": 500_000_000}, AO),
        (
            {
                "monthly_active_users_at_release": 500_000_000,
                "affiliates_monthly_active_users_at_release": 300_000_000,
            },
            F,  # 800M with affiliates in March 2025
        ),
        (
            {
                "monthly_active_users_at_release": 500_000_000,
                "affiliates_monthly_active_users_at_release": 300_000_000,
                "end_user_of_product": True,
            },
            AO,  # §1.b.ii: received inside an integrated end-user product
        ),
    ],
)
def test_llama4_users_with_affiliates(
    snapshot: CatalogSnapshot, fields: dict[str, Any], expected: Verdict
) -> None:
    result = check(snapshot, SCOUT, commercial=True, licensee_region="US", **fields)
    assert result.verdict == expected, result.reasons
    if expected == F:
        (said,) = {(r.message, r.clause) for r in result.reasons if r.verdict == F}
        assert "you and your affiliates in March 2025" in said[0]
        assert said[1] == "§2 Additional Commercial Terms"


def test_llama33_counts_november_2024(snapshot: CatalogSnapshot) -> None:
    result = check(
        snapshot,
        "meta-llama/Llama-3.3-70B-Instruct",
        commercial=True,
        monthly_active_users_at_release=800_000_000,
    )
    assert result.verdict == F
    assert any("November 2024" in r.message for r in result.reasons)


# --- outputs: purpose-conditioned (Gemma) and research-only (MRL) -------------------------------


def test_gemma_outputs_make_a_derivative_only_when_imitating(snapshot: CatalogSnapshot) -> None:
    day = dt.date(2025, 6, 1)
    plain = check(snapshot, GEMMA3, train_on_outputs=True, date=day)
    assert ("gemma-2025-03-24", "outputs_derivative_if_imitating", "§1.1(e)") in decided(plain, A)
    assert "outputs_condition" not in kinds(plain)
    imitating = check(snapshot, GEMMA3, train_on_outputs=True, imitate_source_model=True, date=day)
    text, licence, clause = kinds(imitating)["outputs_condition"]
    assert "Model Derivative" in text and (licence, clause) == ("gemma-2025-03-24", "§1.1(e)")
    # Gemma 4 is Apache-2.0: nothing flows down.
    gemma4 = check(
        snapshot, "google/gemma-4-31B-it", train_on_outputs=True, imitate_source_model=True
    )
    assert gemma4.verdict == A


def test_mrl_outputs_are_research_only(snapshot: CatalogSnapshot) -> None:
    research = check(snapshot, LARGE2, train_on_outputs=True)
    assert research.verdict == AO
    assert "research purposes only" in kinds(research)["outputs_condition"][0]


# --- versions within one licence (Gemma) --------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "licence", "notice", "latest"),
    [
        (dt.date(2024, 6, 1), "gemma", True, True),
        (dt.date(2025, 6, 1), "gemma-2025-03-24", False, False),
    ],
)
def test_gemma_hosted_service_notice_by_version(
    snapshot: CatalogSnapshot, day: dt.date, licence: str, notice: bool, latest: bool
) -> None:
    result = check(snapshot, "google/gemma-2-9b", commercial=True, hosted_service=True, date=day)
    assert [lic.license for lic in result.licenses] == [licence]
    assert ("notice_file" in kinds(result)) == notice
    assert ("use_latest_version" in kinds(result)) == latest
    assert kinds(result)["license_copy"][1:] == (licence, "§3.1")


def test_gemma_2026_terms_are_unverified_beyond_their_header(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, GEMMA3, commercial=True, hosted_service=True)
    assert result.verdict == R
    assert {lic.license for lic in result.licenses} == {"gemma-2026-04-01"}
    assert all(r.license == "gemma-2026-04-01" for r in result.reasons if r.verdict == R)


# --- checkpoint licences and tag conflicts ------------------------------------------------------


def test_deepseek_v3_licence_follows_the_checkpoint(snapshot: CatalogSnapshot) -> None:
    distil = {"commercial": True, "train_on_outputs": True, "imitate_source_model": True}
    december = check(snapshot, V3_DEC, **distil)
    text, licence, clause = kinds(december)["outputs_condition"]
    assert "Attachment A" in text and licence == "deepseek"
    assert clause == "§1 definition of Derivatives of the Model; §4.a"
    for ref in ("deepseek-ai/DeepSeek-V3-0324", "deepseek-ai/DeepSeek-R1"):
        assert check(snapshot, ref, **distil).verdict == A, ref


@pytest.mark.parametrize(
    ("ref", "base", "base_licence"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "meta-llama/Llama-3.1-8B", "llama3.1"),
        (
            "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
            "meta-llama/Llama-3.3-70B-Instruct",
            "llama3.3",
        ),
    ],
)
def test_r1_llama_distills_carry_llama_terms_and_are_flagged(
    snapshot: CatalogSnapshot, ref: str, base: str, base_licence: str
) -> None:
    result = check(snapshot, ref, commercial=True)
    assert {(lic.license, lic.imposed_by) for lic in result.licenses} >= {
        ("mit", ref),
        (base_licence, base),
    }
    by_kind = {c.kind: c for c in result.conflicts}
    assert by_kind["permissiveness"].ancestor_license == base_licence
    assert 'begin with "Llama"' in by_kind["naming"].message
    assert ("attribution", "Built with Llama") in {(o.kind, o.text) for o in result.obligations}


def test_qwen_distills_have_no_conflict(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", commercial=True)
    assert result.conflicts == [] and result.verdict == A


# --- uncertain change dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "day", "licences", "expected"),
    [
        # phi-1.5: research licence, then MIT at an unverified date — MIT alone today.
        ("microsoft/phi-1_5", dt.date(2026, 11, 29), ["mit"], A),
        ("microsoft/phi-1_5", dt.date(2024, 6, 1), ["msr", "mit"], R),
        # phi-2: MIT "by 2024-01-06": the release day is sure, the days between are not.
        ("microsoft/phi-2", dt.date(2023, 12, 12), ["msr"], F),
        ("microsoft/phi-2", dt.date(2023, 12, 20), ["msr", "mit"], R),
        ("microsoft/phi-2", dt.date(2024, 1, 6), ["mit"], A),
        # Yi: README changed 2024-05-26, licence file 2024-05-30.
        ("01-ai/Yi-34B", dt.date(2024, 5, 1), ["yi-community-2.1"], R),  # conditional
        ("01-ai/Yi-34B", dt.date(2024, 5, 28), ["yi-community-2.1", "apache-2.0"], R),
        ("01-ai/Yi-34B", dt.date(2024, 5, 30), ["apache-2.0"], A),
    ],
)
def test_uncertain_windows(
    snapshot: CatalogSnapshot, ref: str, day: dt.date, licences: list[str], expected: Verdict
) -> None:
    result = check(snapshot, ref, commercial=True, date=day)
    assert [lic.license for lic in result.licenses] == licences
    assert result.verdict == expected, result.reasons


def test_approximate_change_dates_are_never_verified(snapshot: CatalogSnapshot) -> None:
    for ref in ("microsoft/phi-1_5", "microsoft/phi-2", "microsoft/phi-4", "tiiuae/falcon-7b"):
        periods = snapshot.models[ref].periods
        assert len(periods) == 2 and not any(p.verified for p in periods), ref


@pytest.mark.parametrize(
    "licence",
    [
        "dbrx",
        "llama3.3",
        "llama4",
        "gemma",
        "gemma-2025-03-24",
        "mrl",
        "kimi-k2-modified-mit",
        "deepseek",
        "mit",
        "apache-2.0",
        "gpt-oss",
        "cc-by-nc-4.0",
    ],
)
def test_every_reason_of_a_verified_licence_cites_a_clause(
    snapshot: CatalogSnapshot, licence: str
) -> None:
    terms = snapshot.licenses[licence]
    profiles = [
        UsageProfile(
            commercial=True,
            monthly_active_users_at_release=10,
            monthly_revenue_usd=1,
            monthly_active_users=10,
            licensee_region="US",
        ),
        UsageProfile(hosted_service=True, redistribute_weights=True),
        UsageProfile(train_on_outputs=True, fine_tune=True, derivative_name="Llama Acme"),
        UsageProfile(commercial=True, train_on_outputs=True, imitate_source_model=True),
    ]
    for profile in profiles:
        reasons, obligations = licensing.evaluate_terms(terms, profile, True)
        for item in (*reasons, *obligations):
            assert item.clause, (licence, item)


# --- the five questions, through the API, the CLI and the pages ---------------------------------

QUESTIONS: list[tuple[str, str, dict[str, Any], str, tuple[str, str, str | None], str | None]] = [
    # (question, model, profile, verdict, (licence, term or obligation kind, clause), must not)
    (
        "an EU company wants Llama 4 Scout in its product",
        SCOUT,
        {"commercial": True, "licensee_region": "EU"},
        "forbidden",
        ("llama4", "excluded_regions", "Llama 4 Acceptable Use Policy (multimodal models)"),
        None,
    ),
    (
        "a product earning $30M a month on Kimi K2",
        KIMI,
        {"commercial": True, "monthly_revenue_usd": 30_000_000},
        "allowed_with_obligations",
        ("kimi-k2-modified-mit", "display", "the modification paragraph"),
        None,
    ),
    (
        "distilling DeepSeek-V3 (December 2024) into our own model",
        V3_DEC,
        {"commercial": True, "train_on_outputs": True, "imitate_source_model": True},
        "allowed_with_obligations",
        ("deepseek", "outputs_condition", "§1 definition of Derivatives of the Model; §4.a"),
        None,
    ),
    (
        "a hosted service on Gemma 3 — do we need a Notice file?",
        GEMMA3,
        {"commercial": True, "hosted_service": True, "date": "2025-06-01"},
        "allowed_with_obligations",
        ("gemma-2025-03-24", "notice_exempt_hosted", "§3.1"),
        "notice_file",
    ),
    (
        "fine-tuning on Mistral Large 2 outputs for a commercial model",
        LARGE2,
        {"commercial": True, "train_on_outputs": True},
        "forbidden",
        ("mrl", "outputs_research_only", "§3.2, §4.2"),
        None,
    ),
]
IDS = [q[0] for q in QUESTIONS]


def _found(result: dict[str, Any], licence: str, term: str, clause: str | None) -> bool:
    said = [*result["reasons"], *result["obligations"]]
    return any(
        item["license"] == licence
        and item.get("term", item.get("kind")) == term
        and item["clause"] == clause
        for item in said
    )


@pytest.fixture(scope="module")
def api(seeded_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("question", "model", "use", "verdict", "cited", "absent"), QUESTIONS, ids=IDS
)
def test_five_questions_through_the_api(
    api: TestClient,
    question: str,
    model: str,
    use: dict[str, Any],
    verdict: str,
    cited: tuple[str, str, str | None],
    absent: str | None,
) -> None:
    response = api.post("/api/compliance/check", json={"use": use, "models": [model]})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["verdict"] == verdict, (question, result["reasons"])
    assert _found(result, *cited), (question, result)
    if absent:
        assert absent not in {o["kind"] for o in result["obligations"]}


@pytest.mark.parametrize(
    ("question", "model", "use", "verdict", "cited", "absent"), QUESTIONS, ids=IDS
)
def test_five_questions_through_the_cli(
    seeded_settings: Settings,
    question: str,
    model: str,
    use: dict[str, Any],
    verdict: str,
    cited: tuple[str, str, str | None],
    absent: str | None,
) -> None:
    options = {
        "commercial": ["--commercial"],
        "licensee_region": ["--region", str(use.get("licensee_region"))],
        "monthly_revenue_usd": ["--revenue", str(use.get("monthly_revenue_usd"))],
        "train_on_outputs": ["--train-on-outputs"],
        "imitate_source_model": ["--imitate"],
        "hosted_service": ["--hosted-service"],
        "date": ["--date", str(use.get("date"))],
    }
    args = [arg for field in use for arg in options[field]]
    env = {"MODELYARD_DATABASE_URL": seeded_settings.database_url}
    runner = CliRunner()
    as_json = runner.invoke(cli, ["license", "check", "--json", *args, model], env=env)
    assert as_json.exit_code == 0, as_json.output
    (result,) = json.loads(as_json.output)["results"]
    assert result["verdict"] == verdict and _found(result, *cited), (question, result)
    table = runner.invoke(cli, ["license", "check", *args, model], env=env, terminal_width=400)
    assert table.exit_code == 0 and verdict in table.output, table.output


@pytest.mark.parametrize(
    ("question", "model", "use", "verdict", "cited", "absent"), QUESTIONS, ids=IDS
)
def test_five_questions_through_the_pages(
    api: TestClient,
    question: str,
    model: str,
    use: dict[str, Any],
    verdict: str,
    cited: tuple[str, str, str | None],
    absent: str | None,
) -> None:
    query = urlencode({k: "true" if v is True else v for k, v in use.items()})
    # The model page answers for the visitor's saved profile.
    api.cookies.set(PROFILE_COOKIE, query)
    try:
        page = api.get(f"/models/{model}")
    finally:
        api.cookies.clear()
    assert page.status_code == 200
    licence, _term, clause = cited
    section = page.text.split('id="licence-heading"', 1)[1]
    first = re.search(r'class="verdict verdict-(\w+)"', section)
    assert first is not None and first.group(1) == verdict, question
    assert clause is None or f"{licence} {clause}" in section
    # The checker lists the same verdict, and the clause, for that model.
    checker = api.get(f"/check?run=1&{query}")
    assert checker.status_code == 200
    row = checker.text.split(f'href="/models/{model}"', 1)[1].split("</tr>", 1)[0]
    assert f"verdict-{verdict}" in row and (clause is None or clause in row)


def test_new_profile_fields_filter_the_catalog(api: TestClient) -> None:
    eu = api.get(
        "/api/models",
        params={"commercial": "true", "licensee_region": "EU", "family": "llama-4", "per_page": 50},
    ).json()
    assert eu["total"] == 0  # every Llama 4 model is multimodal
    us = api.get(
        "/api/models",
        params={"commercial": "true", "licensee_region": "US", "family": "llama-4", "per_page": 50},
    ).json()
    assert us["total"] == 5
    bad = api.get("/api/models", params={"licensee_region": "Europe"})
    assert bad.status_code == 422 and "licensee_region" in bad.json()["error"]["message"]
    page = api.get("/", params={"commercial": "true", "licensee_region": "EU", "q": "scout"})
    assert page.status_code == 200 and "licensee in EU" in page.text


def test_model_page_explains_the_new_terms_in_plain_words(api: TestClient) -> None:
    kimi = api.get(f"/models/{KIMI}").text
    assert "US$20,000,000 in monthly revenue" in kimi and "Kimi K2" in kimi
    scout = api.get(f"/models/{SCOUT}").text
    assert "European Union" in scout and "End users of a product" in scout
    large = api.get(f"/models/{LARGE2}").text
    assert "Outputs themselves may be used for research only" in large


def test_bom_and_compare_carry_the_new_models(api: TestClient) -> None:
    bom = api.get("/api/models/deepseek-ai/DeepSeek-R1-Distill-Llama-70B/bom")
    assert bom.status_code == 200
    subject = json.loads(bom.text)["metadata"]["component"]
    licences = {
        lic["license"].get("id") or lic["license"]["name"]: lic["license"]["acknowledgement"]
        for lic in subject["licenses"]
    }
    assert licences["MIT"] == "declared"
    assert licences["Llama 3.3 Community License Agreement"] == "concluded"
    compare = api.get(
        "/compare", params=[("m", "kimi-k2"), ("m", "llama-4-scout"), ("m", "gpt-oss-120b")]
    )
    assert compare.status_code == 200
    for name in ("Kimi K2 Instruct", "Llama 4 Scout 17B-16E Instruct", "gpt-oss-120b"):
        assert name in compare.text


def test_hosted_deployments_come_from_the_cost_map(api: TestClient) -> None:
    scout = api.get(f"/api/models/{SCOUT}").json()
    hosted = {d["name"]: d for d in scout["deployments"]}
    assert {"deepinfra/llama-4-scout-instruct", "together/llama-4-scout-instruct"} <= set(hosted)
    assert all(d["price_source"] == "litellm" for d in hosted.values())
    assert all(d["max_context"] for d in hosted.values())
