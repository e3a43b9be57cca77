"""The licence engine against every licence profile in ../shared/facts/licenses.md."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import MappingProxyType
from typing import Any

import pytest

from catalog import licensing
from catalog.schemas import ModelCompliance, UsageProfile
from catalog.snapshot import CatalogSnapshot, LicensePeriod, ModelView
from catalog.terms import ParentRelation, Verdict

A = Verdict.ALLOWED
AO = Verdict.ALLOWED_WITH_OBLIGATIONS
R = Verdict.NEEDS_REVIEW
F = Verdict.FORBIDDEN
TODAY = dt.date(2026, 6, 1)


def use(**fields: Any) -> UsageProfile:
    return UsageProfile(date=fields.pop("date", TODAY), **fields)


def check(snapshot: CatalogSnapshot, ref: str, **fields: Any) -> ModelCompliance:
    model = snapshot.find(ref)
    assert model is not None, ref
    return licensing.check_model(snapshot, model, use(**fields))


def decided_by(result: ModelCompliance, verdict: Verdict) -> set[tuple[str, str]]:
    return {(r.license, r.term) for r in result.reasons if r.verdict == verdict}


def kinds(result: ModelCompliance) -> dict[str, str]:
    return {o.kind: o.text for o in result.obligations}


# --- every licence profile ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("license_id", "commercial", "research"),
    [
        ("llama2", AO, AO),  # acceptable-use policy
        ("llama3", AO, AO),
        ("llama3.1", AO, AO),
        ("llama3.2", AO, AO),
        ("gemma", AO, AO),
        ("qwen", AO, A),  # commercial: stay at or under 100M users at any time
        ("qwen-research", F, AO),  # research use within its limit
        ("mnpl", F, AO),
        ("falcon-180b", AO, AO),
        ("falcon-llm-1.0", R, A),  # the royalty condition concerns commercial use only
        ("dbrx", AO, AO),
        ("deepseek", AO, AO),
        ("bigscience-rail-1.0", R, AO),  # commercial use is not verified
        ("msr", F, AO),
        ("cc-by-nc-4.0", F, AO),
        ("stability-community", R, A),  # membership condition
        ("llama1", F, AO),
        ("mit", A, A),
        ("apache-2.0", A, A),
        # licenses-2025.md
        ("llama3.3", AO, AO),
        ("llama4", AO, AO),  # where the licensee is stays an obligation until it is given
        ("gemma-2025-03-24", AO, AO),
        ("gemma-2026-04-01", R, AO),  # only its header is verified
        ("mrl", F, AO),
        ("kimi-k2-modified-mit", AO, A),  # "Kimi K2" in the UI above 100M users or $20M
        ("gpt-oss", AO, AO),  # the usage policy
        ("falcon-2.0", R, AO),
        ("yi-community-2.1", R, A),  # commercial use needs registration
        ("qwen3.8-max", R, A),
        ("unverified-licence", R, A),
    ],
)
def test_each_licence_for_commercial_and_research_use(
    snapshot: CatalogSnapshot, license_id: str, commercial: Verdict, research: Verdict
) -> None:
    terms = snapshot.licenses[license_id]
    for profile, expected in ((use(commercial=True), commercial), (use(), research)):
        reasons, obligations = licensing.evaluate_terms(terms, profile)
        assert licensing.verdict_of(list(reasons), list(obligations)) == expected, (
            profile.commercial,
            reasons,
            obligations,
        )
        assert all(r.license == license_id for r in reasons)


def test_every_licence_in_the_facts_is_covered(snapshot: CatalogSnapshot) -> None:
    covered = {
        p[0] for p in test_each_licence_for_commercial_and_research_use.pytestmark[0].args[1]
    }  # type: ignore[attr-defined]
    assert covered == set(snapshot.licenses)


def test_reasons_cite_the_clause(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, "llama-2-7b", train_on_outputs=True)
    (reason,) = [r for r in result.reasons if r.term == "outputs_to_improve_models"]
    assert reason.verdict == F and reason.clause == "§1.b.v" and reason.license == "llama2"
    assert reason.imposed_by == "meta-llama/Llama-2-7b-hf"


# --- user thresholds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"monthly_active_users_at_release": 699_999_999}, AO),
        ({"monthly_active_users_at_release": 700_000_000}, AO),  # "more than 700M" only
        ({"monthly_active_users_at_release": 700_000_001}, F),
        # Growth after the release month does not matter once the at-release count is known.
        ({"monthly_active_users": 900_000_000, "monthly_active_users_at_release": 10}, AO),
        ({"monthly_active_users": 800_000_000}, R),  # only today's count: ask for the other
        ({"monthly_active_users": 5_000_000}, AO),
    ],
)
def test_llama2_counts_users_in_the_month_before_release(
    snapshot: CatalogSnapshot, fields: dict[str, int], expected: Verdict
) -> None:
    result = check(snapshot, "llama-2-70b-chat", commercial=True, **fields)
    assert result.verdict == expected, result.reasons
    (reason,) = [
        r for r in result.reasons if r.term == "user_threshold" and r.imposed_by == result.model
    ]
    assert "June 2023" in reason.message and reason.clause == "§2 Additional Commercial Terms"


def test_dbrx_and_llama3_measure_at_their_own_release(snapshot: CatalogSnapshot) -> None:
    dbrx = check(snapshot, "dbrx", commercial=True, monthly_active_users_at_release=800_000_000)
    assert dbrx.verdict == F and "February 2024" in dbrx.reasons[1].message
    llama3 = check(snapshot, "llama-3-8b", commercial=True, monthly_active_users=900_000_000)
    assert llama3.verdict == R and any("March 2024" in r.message for r in llama3.reasons)


@pytest.mark.parametrize(
    ("users", "expected"),
    [(None, AO), (99_999_999, A), (100_000_000, A), (100_000_001, F), (3_000_000_000, F)],
)
def test_qwen_counts_users_at_any_time(
    snapshot: CatalogSnapshot, users: int | None, expected: Verdict
) -> None:
    result = check(
        snapshot, "Qwen/Qwen2.5-72B-Instruct", commercial=True, monthly_active_users=users
    )
    assert result.verdict == expected
    if users is None:
        assert "at any time" in kinds(result)["user_threshold"]


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "license_id", "commercial"),
    [
        (dt.date(2023, 12, 12), ["msr"], F),
        # MIT "by 2024-01-06": in between, either licence may have applied.
        (dt.date(2023, 12, 20), ["msr", "mit"], R),
        (dt.date(2024, 1, 5), ["msr", "mit"], R),
        (dt.date(2024, 1, 6), ["mit"], A),
        (dt.date(2024, 2, 1), ["mit"], A),
    ],
)
def test_phi2_licence_follows_the_date(
    snapshot: CatalogSnapshot, day: dt.date, license_id: list[str], commercial: Verdict
) -> None:
    result = check(snapshot, "phi-2", commercial=True, date=day)
    assert [lic.license for lic in result.licenses] == license_id
    assert result.verdict == commercial
    research = check(snapshot, "phi-2", date=day)
    assert research.verdict in ((A, AO) if len(license_id) == 1 else (R,))


def test_before_release_there_is_no_licence_to_rely_on(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, "phi-2", date=dt.date(2023, 11, 1))
    assert result.verdict == R and result.licenses == []
    assert "no licence of microsoft/phi-2 is recorded for 2023-11-01" in result.reasons[0].message


@pytest.mark.parametrize(
    ("ref", "before", "after", "window"),
    [
        # "~2023-05-31" and "~2025-01-08" are approximate: read as their month.
        ("tiiuae/falcon-40b", "falcon-llm-1.0", "apache-2.0", (None, dt.date(2023, 6, 1))),
        ("tiiuae/falcon-7b", "falcon-llm-1.0", "apache-2.0", (None, dt.date(2023, 6, 1))),
        ("microsoft/phi-4", "msr", "mit", (dt.date(2025, 1, 1), dt.date(2025, 2, 1))),
    ],
)
def test_licence_changes_either_side(
    snapshot: CatalogSnapshot,
    ref: str,
    before: str,
    after: str,
    window: tuple[dt.date | None, dt.date],
) -> None:
    start, end = window
    if start is not None:
        earlier = check(snapshot, ref, commercial=True, date=start - dt.timedelta(days=1))
        assert [lic.license for lic in earlier.licenses] == [before]
        assert earlier.verdict == F
    inside = check(snapshot, ref, commercial=True, date=end - dt.timedelta(days=1))
    assert [lic.license for lic in inside.licenses] == [before, after]
    assert inside.verdict == R
    later = check(snapshot, ref, commercial=True, date=end)
    assert [lic.license for lic in later.licenses] == [after]
    assert later.verdict == A


# --- outputs, naming, attribution ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "same_family", "expected"),
    [
        ("llama-2-7b-chat", False, F),
        ("llama-2-7b-chat", True, AO),  # §1.b.v's exception; the AUP still applies
        ("dbrx", False, F),
        ("dbrx", True, AO),
        ("llama-3-8b-instruct", False, F),
        ("llama-3.1-8b", False, AO),  # allowed, with the naming condition
        ("google/gemma-7b", False, R),  # the 2026-04-01 Gemma terms: only the header is read
        ("google/gemma-4-31B-it", False, A),  # Gemma 4 is Apache-2.0
        ("qwen2.5-72b", False, AO),  # "Built with Qwen"
        ("mistral-7b", False, A),
        ("microsoft/Orca-2-13b", True, R),  # MSR's rule is not verified; Llama 2 allows family
        ("bigscience/bloom", False, R),
    ],
)
def test_using_outputs_to_train_another_model(
    snapshot: CatalogSnapshot, ref: str, same_family: bool, expected: Verdict
) -> None:
    result = check(snapshot, ref, train_on_outputs=True, outputs_target_same_family=same_family)
    assert result.verdict == expected, result.reasons


def test_output_conditions_become_obligations(snapshot: CatalogSnapshot) -> None:
    qwen = check(snapshot, "qwen2.5-72b", train_on_outputs=True)
    assert "Built with Qwen" in kinds(qwen)["outputs_condition"]
    gemma = check(
        snapshot,
        "google/gemma-7b",
        train_on_outputs=True,
        imitate_source_model=True,
        date=dt.date(2025, 6, 1),
    )
    assert "Model Derivative" in kinds(gemma)["outputs_condition"]


@pytest.mark.parametrize(
    ("ref", "name", "expected"),
    [
        ("llama-3-8b", "Llama 3 Acme Support", AO),
        ("llama-3-8b", "Acme Support", F),
        ("llama-3-8b", "Llama-3-Acme", F),  # the prefix is "Llama 3", with a space
        ("llama-3.1-8b", "Llama Acme", AO),
        ("llama-3.1-8b", "Acme", F),
        ("llama-2-7b", "Acme", AO),  # Llama 2 has no naming rule
    ],
)
def test_derivative_naming_rules(
    snapshot: CatalogSnapshot, ref: str, name: str, expected: Verdict
) -> None:
    result = check(snapshot, ref, fine_tune=True, derivative_name=name)
    assert result.verdict == expected, result.reasons
    if expected == F:
        assert decided_by(result, F) == {(result.licenses[0].license, "naming_rule")}


def test_naming_rule_is_an_obligation_when_no_name_is_given(snapshot: CatalogSnapshot) -> None:
    result = check(snapshot, "llama-3-8b", fine_tune=True)
    assert 'begin with "Llama 3"' in kinds(result)["naming_rule"]


def test_attribution_and_redistribution_obligations(snapshot: CatalogSnapshot) -> None:
    llama3 = kinds(check(snapshot, "llama-3-8b-instruct", commercial=True))
    assert llama3["attribution"] == "Built with Meta Llama 3"
    assert "notice_file" not in llama3  # only when the weights are redistributed
    shipped = check(snapshot, "llama-2-13b", redistribute_weights=True)
    obligations = kinds(shipped)
    assert obligations["notice_file"].startswith("Llama 2 is licensed under the LLAMA 2")
    assert "Llama 2 Community License Agreement" in obligations["license_copy"]
    assert {o.clause for o in shipped.obligations if o.kind == "notice_file"} == {"§1.b.iii"}
    mit = check(snapshot, "phi-2", redistribute_weights=True)
    assert mit.verdict == AO and set(kinds(mit)) == {"license_copy", "redistribution"}
    assert check(snapshot, "phi-2", commercial=True).verdict == A


def test_hosting_a_model_for_others(snapshot: CatalogSnapshot) -> None:
    falcon = check(snapshot, "tiiuae/falcon-180B", commercial=True, hosted_service=True)
    assert falcon.verdict == R and decided_by(falcon, R) == {("falcon-180b", "hosting_condition")}
    gemma = check(snapshot, "google/gemma-7b", hosted_service=True)
    assert "pass it on to your users" in kinds(gemma)["acceptable_use_policy"]


# --- lineage, conflicts, unverified terms -------------------------------------------------------


def test_fine_tunes_carry_every_ancestors_terms(snapshot: CatalogSnapshot) -> None:
    orca = check(snapshot, "microsoft/Orca-2-13b", commercial=True)
    assert orca.verdict == F
    assert {(lic.license, lic.imposed_by) for lic in orca.licenses} == {
        ("msr", "microsoft/Orca-2-13b"),
        ("llama2", "meta-llama/Llama-2-13b-hf"),
    }
    assert decided_by(orca, F) == {("msr", "commercial_use")}
    vicuna = check(snapshot, "vicuna-13b", train_on_outputs=True)
    assert {r.imposed_by for r in vicuna.reasons if r.verdict == F} == {
        "lmsys/vicuna-13b-v1.5",
        "meta-llama/Llama-2-13b-hf",
    }
    assert len([o for o in vicuna.obligations if o.kind == "acceptable_use_policy"]) == 1


def _with(snapshot: CatalogSnapshot, *extra: ModelView) -> CatalogSnapshot:
    models = {**snapshot.models, **{m.hf_id: m for m in extra}}
    aliases = {**snapshot.aliases, **{m.hf_id.lower(): m.hf_id for m in extra}}
    return dataclasses.replace(
        snapshot,
        models=MappingProxyType(models),
        aliases=MappingProxyType(aliases),
        compliance_cache={},
    )


def _model(snapshot: CatalogSnapshot, hf_id: str, license_id: str, *parents: str) -> ModelView:
    return ModelView(
        id=-1,
        hf_id=hf_id,
        name=hf_id,
        family="test",
        parameters=None,
        context_window=None,
        release_date=None,
        capabilities=(),
        periods=(LicensePeriod(snapshot.licenses[license_id], None, None, True, None),),
        parents=tuple((p, ParentRelation.QUANTIZED) for p in parents),
        deployments=(),
    )


def test_a_permissive_claim_over_a_restricted_base_is_a_conflict(
    snapshot: CatalogSnapshot,
) -> None:
    quant = _model(snapshot, "someone/Llama-2-7B-GGUF", "apache-2.0", "meta-llama/Llama-2-7b-hf")
    extended = _with(snapshot, quant)
    result = licensing.check_model(extended, quant, use(train_on_outputs=True))
    (conflict,) = result.conflicts
    assert conflict.declared_license == "apache-2.0" and conflict.ancestor_license == "llama2"
    assert conflict.ancestor == "meta-llama/Llama-2-7b-hf"
    assert result.verdict == F  # the base's terms still decide, whatever the card claims
    assert not check(snapshot, "microsoft/Orca-2-13b").conflicts  # stricter is no conflict
    assert not check(snapshot, "vicuna-13b").conflicts


def test_multi_parent_merge_takes_the_strictest_parent(snapshot: CatalogSnapshot) -> None:
    merge = _model(
        snapshot, "someone/merge", "apache-2.0", "mistralai/Mistral-7B-v0.1", "microsoft/Orca-2-13b"
    )
    extended = _with(snapshot, merge)
    result = licensing.check_model(extended, merge, use(commercial=True))
    assert result.verdict == F
    assert {lic.imposed_by for lic in result.licenses} == {
        "someone/merge",
        "mistralai/Mistral-7B-v0.1",
        "microsoft/Orca-2-13b",
        "meta-llama/Llama-2-13b-hf",
    }
    assert ("msr", "commercial_use") in decided_by(result, F)
    assert {c.ancestor for c in result.conflicts} == {
        "microsoft/Orca-2-13b",
        "meta-llama/Llama-2-13b-hf",
    }


def test_unverified_terms_never_give_a_confident_allowed(snapshot: CatalogSnapshot) -> None:
    phi1 = check(snapshot, "microsoft/phi-1", commercial=True)
    assert phi1.verdict == R  # MIT, but only third parties say so
    assert any("not verified" in r.message for r in phi1.reasons)
    phi15 = check(snapshot, "microsoft/phi-1_5", commercial=True)
    assert phi15.verdict == R  # change date unknown: the research licence cannot be ruled out
    assert decided_by(phi15, F) == set()  # an unverified period cannot forbid for sure
    stable = check(snapshot, "stabilityai/stablelm-2-1_6b", commercial=True)
    assert stable.verdict == R and "membership" in stable.reasons[0].message
    qwen_redistribution = check(snapshot, "qwen2.5-72b", redistribute_weights=True)
    assert qwen_redistribution.verdict == R
    assert ("qwen", "redistribution_conditions") in decided_by(qwen_redistribution, R)


# --- the whole catalog --------------------------------------------------------------------------


def test_whole_catalog_report_and_cache(snapshot: CatalogSnapshot) -> None:
    profile = use(commercial=True, monthly_active_users=1_000)
    report = licensing.check(snapshot, profile)
    assert len(report.results) == len(snapshot.models)
    assert sum(report.summary.values()) == len(snapshot.models)
    assert {r.model for r in report.results if r.verdict == F} == {
        "microsoft/Orca-2-13b",
        "mistralai/Codestral-22B-v0.1",
        "CohereForAI/c4ai-command-r-v01",
        "Qwen/Qwen2.5-3B",
        "lmsys/vicuna-13b-v1.3",
        # licenses-2025.md: research and non-commercial licences
        "Qwen/Qwen2.5-3B-Instruct",
        "Qwen/Qwen2.5-Coder-3B",
        "mistralai/Mistral-Large-Instruct-2407",
        "mistralai/Pixtral-Large-Instruct-2411",
        "mistralai/Ministral-8B-Instruct-2410",
        "CohereLabs/c4ai-command-r7b-12-2024",
        "CohereLabs/c4ai-command-a-03-2025",
    }
    assert report.summary[A] >= 10
    again = licensing.check(snapshot, profile)
    assert all(a is b for a, b in zip(report.results, again.results, strict=True))  # cached


def test_profile_validation() -> None:
    with pytest.raises(ValueError, match="monthly_active_users"):
        UsageProfile(monthly_active_users=-1)
    with pytest.raises(ValueError, match="derivative_name needs"):
        UsageProfile(derivative_name="Llama 3 x")
    with pytest.raises(ValueError, match="outputs_target_same_family only applies"):
        UsageProfile(outputs_target_same_family=True)
