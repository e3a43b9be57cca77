"""A licence's structured terms said in plain words, each with the clause that states it."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.regions import region_name
from catalog.schemas import LicenseOut, Reason
from catalog.terms import CommercialUse, OutputsUse, ThresholdConsequence, UserThresholdMeasure


@dataclass(frozen=True)
class PlainTerm:
    term: str  # the structured term's name, as reasons and clauses name it
    label: str
    text: str
    clause: str | None
    unverified: bool


def _commercial(lic: LicenseOut) -> str:
    if lic.research_only:
        return "Research only: no commercial use."
    match lic.commercial_use:
        case CommercialUse.ALLOWED:
            return "Commercial use is allowed."
        case CommercialUse.CONDITIONAL:
            return f"Commercial use only if: {lic.commercial_condition or 'a stated condition'}."
        case CommercialUse.FORBIDDEN:
            return "Commercial use is not allowed."
    return "The licence does not say clearly whether commercial use is allowed."


def _users(lic: LicenseOut) -> str | None:
    if lic.user_threshold is None or lic.threshold_consequence == ThresholdConsequence.DISPLAY:
        return None
    when = {
        UserThresholdMeasure.AT_RELEASE: "in the calendar month before the licence's release",
        UserThresholdMeasure.AT_ANY_TIME: "at any time",
    }.get(lic.user_threshold_measure, "")
    whose = " (yours and your affiliates' together)" if lic.threshold_counts_affiliates else ""
    return (
        f"Above {lic.user_threshold:,} monthly active users{whose} {when}, you need a separate "
        "licence from the licensor."
    ).replace("  ", " ")


def _display(lic: LicenseOut) -> str | None:
    if lic.threshold_consequence != ThresholdConsequence.DISPLAY or lic.user_threshold is None:
        return None
    revenue = (
        f" or more than US${lic.revenue_threshold_usd:,} in monthly revenue"
        if lic.revenue_threshold_usd
        else ""
    )
    return (
        f"A commercial product with more than {lic.user_threshold:,} monthly active users"
        f'{revenue} must show "{lic.threshold_display_text}" prominently in its user '
        "interface. No permission is needed."
    )


def _regions(lic: LicenseOut) -> str | None:
    if not lic.excluded_regions:
        return None
    names = " or ".join(region_name(r) for r in lic.excluded_regions)
    which = "its multimodal models" if lic.region_exclusion_multimodal_only else "the model"
    text = f"No rights in {which} for a person living in, or a company based in, {names}."
    if lic.region_exclusion_end_user_exempt:
        text += " End users of a product or service built with them are not affected."
    return text


def _hosting_notice(lic: LicenseOut) -> str | None:
    if not lic.hosted_is_distribution:
        return None
    text = "Serving the model as a hosted service counts as distributing it."
    if lic.notice_exempt_hosted:
        text += " A hosted service needs no Notice file; other distributions do."
    return text


def _imitation(lic: LicenseOut) -> str | None:
    if lic.outputs_research_only:
        return (
            "Outputs themselves may be used for research only: a model you use commercially "
            "may not be trained on them."
        )
    if lic.outputs_derivative_if_imitating:
        return (
            "Outputs are yours, but a model trained on them in order to perform like this one "
            "(distillation, synthetic data) becomes a derivative under these terms."
        )
    return None


def _outputs(lic: LicenseOut) -> str:
    match lic.outputs_to_improve_models:
        case OutputsUse.ALLOWED:
            return "Outputs may be used to train or improve other models."
        case OutputsUse.ALLOWED_WITH_CONDITIONS:
            text = f"Outputs may train other models only if: {lic.outputs_condition or '…'}."
            if lic.outputs_same_family_exception:
                text += " Models of the same family are the exception."
            return text
        case OutputsUse.FORBIDDEN:
            text = "Outputs may not be used to train or improve other models."
            if lic.outputs_same_family_exception:
                text += " Except models of the same family."
            return text
    return "The licence does not say what outputs may be used for."


def plain_terms(lic: LicenseOut) -> list[PlainTerm]:
    unverified = set(lic.unverified_terms)
    rows: list[tuple[str, str, str | None]] = [
        ("commercial_use", "Commercial use", _commercial(lic)),
        ("user_threshold", "User limit", _users(lic)),
        ("revenue_threshold", "Users or revenue", _display(lic)),
        (
            "threshold_end_user_exemption",
            "End users of a product",
            "If you receive the model inside another company's integrated product, the user "
            "limit does not apply to you."
            if lic.threshold_end_user_exemption
            else None,
        ),
        ("excluded_regions", "Where you are", _regions(lic)),
        ("hosted_is_distribution", "Hosted service", _hosting_notice(lic)),
        ("hosting_condition", "Serving to others", lic.hosting_condition),
        ("attribution_text", "Attribution", lic.attribution_text),
        ("notice_text", "Notice", lic.notice_text),
        (
            "ship_license_copy",
            "Licence copy",
            "Ship a copy of the licence with the model or anything built on it."
            if lic.ship_license_copy
            else None,
        ),
        (
            "redistribution_conditions",
            "Redistribution",
            " ".join(lic.redistribution_conditions) or None,
        ),
        ("derivative_terms", "Fine-tunes and derivatives", lic.derivative_terms),
        ("outputs_to_improve_models", "Using outputs", _outputs(lic)),
        (
            "outputs_research_only"
            if lic.outputs_research_only
            else "outputs_derivative_if_imitating",
            "Training on outputs",
            _imitation(lic),
        ),
        (
            "use_latest_version",
            "Updates",
            "Make reasonable efforts to use the latest version."
            if lic.use_latest_version
            else None,
        ),
        (
            "acceptable_use_policy",
            "Acceptable use policy",
            "Use must follow the licensor's acceptable use policy."
            if lic.acceptable_use_policy
            else None,
        ),
        ("naming_rule", "Naming", lic.naming_rule),
    ]
    return [
        PlainTerm(term, label, text, lic.clauses.get(term), term in unverified)
        for term, label, text in rows
        if text
    ]


def distinct_reasons(reasons: list[Reason]) -> list[Reason]:
    """A fine-tune and its base often give the same reason under the same licence: say it
    once, as first found."""
    seen: set[tuple[str, str, str | None]] = set()
    distinct = []
    for reason in reasons:
        said = (reason.message, reason.license, reason.clause)
        if said not in seen:
            seen.add(said)
            distinct.append(reason)
    return distinct
