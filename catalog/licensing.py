"""The licence compliance engine: (terms in force at a date, lineage, usage profile) → verdict,
obligations and reasons that cite the deciding term and clause.

Pure: it reads an immutable catalog snapshot and never the database. Evaluations are cached
per (licence version, profile) and per (snapshot, model, profile).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from catalog.schemas import (
    ComplianceReport,
    LicenseConflict,
    LicenseInForce,
    ModelCompliance,
    Obligation,
    Reason,
    UsageProfile,
)
from catalog.snapshot import CatalogSnapshot, LicenseTerms, ModelView
from catalog.terms import CommercialUse, OutputsUse, UserThresholdMeasure, Verdict

_SECONDS_PER_DAY = 86_400
_today: tuple[int, dt.date] = (-1, dt.date.min)


def today() -> dt.date:
    """Today in UTC. The router asks on every request: the date is only rebuilt when the
    day number (seconds since the epoch // 86,400) changes."""
    global _today
    day = int(time.time()) // _SECONDS_PER_DAY
    if day != _today[0]:
        _today = (day, dt.datetime.now(dt.UTC).date())
    return _today[1]


@dataclass
class _Outcome:
    """What one licence says about one profile."""

    terms: LicenseTerms
    reasons: list[Reason] = field(default_factory=list)
    obligations: list[Obligation] = field(default_factory=list)

    def say(self, term: str, verdict: Verdict, message: str) -> None:
        self.reasons.append(
            Reason(
                term=term,
                verdict=verdict,
                message=message,
                license=self.terms.id,
                clause=self.terms.clause(term),
            )
        )

    def oblige(self, kind: str, text: str, term: str | None = None) -> None:
        clause = self.terms.clause(term or kind)
        self.obligations.append(
            Obligation(kind=kind, text=text, license=self.terms.id, clause=clause)
        )

    def unknown(self, term: str, what: str) -> bool:
        """Record needs_review when a term the decision depends on is unverified."""
        if self.terms.unverified(term):
            self.say(term, Verdict.NEEDS_REVIEW, f"{what} is not verified from a primary source")
            return True
        return False


def _month_before(day: dt.date) -> str:
    first = day.replace(day=1) - dt.timedelta(days=1)
    return first.strftime("%B %Y")


def _commercial(o: _Outcome, use: UsageProfile) -> None:
    t = o.terms
    if not use.commercial:
        if t.research_only:
            note = t.permitted_use_note or "non-commercial use only"
            o.say("research_only", Verdict.ALLOWED, f"non-commercial use is permitted ({note})")
            o.oblige("usage_limit", f"Use only as the licence permits: {note}", "research_only")
        return
    if o.unknown("commercial_use", "commercial use"):
        return
    if t.commercial_use == CommercialUse.FORBIDDEN:
        note = t.permitted_use_note or "non-commercial use only"
        o.say("commercial_use", Verdict.FORBIDDEN, f"commercial use is not permitted: {note}")
    elif t.commercial_use == CommercialUse.CONDITIONAL:
        o.say(
            "commercial_use",
            Verdict.NEEDS_REVIEW,
            f"commercial use is allowed only on a condition: {t.commercial_condition}",
        )
    elif t.commercial_use == CommercialUse.UNKNOWN:
        o.say("commercial_use", Verdict.NEEDS_REVIEW, "the licence's commercial terms are unknown")
    else:
        o.say("commercial_use", Verdict.ALLOWED, "commercial use is permitted")


def _users(o: _Outcome, use: UsageProfile) -> None:
    t = o.terms
    limit = t.user_threshold
    # Every user test in the facts sits in the licence's commercial terms (Llama §2, Qwen §4).
    if limit is None or not use.commercial:
        return
    over = f"more than {limit:,} monthly active users need a separate licence from the licensor"
    if t.user_threshold_measure == UserThresholdMeasure.AT_ANY_TIME:
        if use.monthly_active_users is None:
            o.oblige(
                "user_threshold",
                f"Stay at or below {limit:,} monthly active users at any time, "
                "or obtain a separate licence",
            )
        elif use.monthly_active_users > limit:
            o.say(
                "user_threshold",
                Verdict.FORBIDDEN,
                f"{use.monthly_active_users:,} users: {over} (counted at any time)",
            )
        else:
            o.say(
                "user_threshold",
                Verdict.ALLOWED,
                f"{use.monthly_active_users:,} users is within the {limit:,} limit",
            )
        return
    # Measured once: users in the calendar month before this licence version's release.
    month = _month_before(t.released) if t.released else "the month before release"
    counted = use.monthly_active_users_at_release
    if counted is not None:
        verdict = Verdict.FORBIDDEN if counted > limit else Verdict.ALLOWED
        detail = over if counted > limit else f"within the {limit:,} limit"
        o.say("user_threshold", verdict, f"{counted:,} users in {month}: {detail}")
    elif use.monthly_active_users is not None and use.monthly_active_users > limit:
        o.say(
            "user_threshold",
            Verdict.NEEDS_REVIEW,
            f"the licence counts users only in {month}; you have {use.monthly_active_users:,} "
            "now, so give monthly_active_users_at_release to decide",
        )
    else:
        o.say(
            "user_threshold",
            Verdict.ALLOWED,
            f"the {limit:,}-user test counts users in {month} only; growth after that "
            "does not require a separate licence",
        )


def _hosting(o: _Outcome, use: UsageProfile) -> None:
    if use.hosted_service and o.terms.hosting_condition:
        o.say("hosting_condition", Verdict.NEEDS_REVIEW, o.terms.hosting_condition)


def _distribution(o: _Outcome, use: UsageProfile) -> None:
    t = o.terms
    shares = use.redistribute_weights or use.hosted_service or use.commercial
    if t.attribution_text and shares:
        o.oblige("attribution", t.attribution_text, "attribution_text")
    if t.acceptable_use_policy:
        where = f" ({t.acceptable_use_policy_url})" if t.acceptable_use_policy_url else ""
        passed_on = " and pass it on to your users" if shares else ""
        o.oblige(
            "acceptable_use_policy",
            f"Comply with the acceptable-use policy{where}{passed_on}",
            "acceptable_use_policy",
        )
    elif t.unverified("acceptable_use_policy") and (use.commercial or shares):
        o.unknown("acceptable_use_policy", "whether an acceptable-use policy applies")
    if not use.redistribute_weights:
        return
    if not o.unknown("ship_license_copy", "whether the licence text must ship") and (
        t.ship_license_copy
    ):
        o.oblige(
            "license_copy", f"Ship a copy of the {t.name} with the weights", "ship_license_copy"
        )
    if t.notice_text:
        o.oblige("notice_file", t.notice_text, "notice_text")
    if not o.unknown("redistribution_conditions", "the redistribution conditions"):
        for condition in t.redistribution_conditions:
            o.oblige("redistribution", condition, "redistribution_conditions")


def _derivatives(o: _Outcome, use: UsageProfile) -> None:
    t = o.terms
    unknown = use.fine_tune and o.unknown("derivative_terms", "the terms for derivatives")
    if use.fine_tune and not unknown and t.derivative_terms:
        o.say("derivative_terms", Verdict.ALLOWED, t.derivative_terms)
    if t.naming_prefix and (use.fine_tune or use.train_on_outputs):
        rule = t.naming_rule or f'A derivative\'s name must begin with "{t.naming_prefix}"'
        if use.derivative_name is None:
            o.oblige("naming_rule", rule)
        elif use.derivative_name.startswith(t.naming_prefix):
            o.say(
                "naming_rule", Verdict.ALLOWED, f'"{use.derivative_name}" follows the rule: {rule}'
            )
        else:
            o.say(
                "naming_rule", Verdict.FORBIDDEN, f'"{use.derivative_name}" breaks the rule: {rule}'
            )


def _outputs(o: _Outcome, use: UsageProfile) -> None:
    t = o.terms
    if not use.train_on_outputs or o.unknown(
        "outputs_to_improve_models", "the use of outputs to improve other models"
    ):
        return
    rule = t.outputs_to_improve_models
    if rule == OutputsUse.UNKNOWN:
        o.say(
            "outputs_to_improve_models",
            Verdict.NEEDS_REVIEW,
            "the licence's rule on using outputs to improve other models is unknown",
        )
    elif rule == OutputsUse.FORBIDDEN:
        if t.outputs_same_family_exception and use.outputs_target_same_family:
            o.say(
                "outputs_to_improve_models",
                Verdict.ALLOWED,
                "outputs may improve a derivative of the same family (the licence's exception)",
            )
        else:
            o.say(
                "outputs_to_improve_models",
                Verdict.FORBIDDEN,
                t.outputs_condition or "outputs may not be used to improve other models",
            )
    elif rule == OutputsUse.ALLOWED_WITH_CONDITIONS:
        o.oblige(
            "outputs_condition",
            t.outputs_condition or "conditions apply",
            "outputs_to_improve_models",
        )
    else:
        o.say("outputs_to_improve_models", Verdict.ALLOWED, "outputs may improve other models")


@functools.lru_cache(maxsize=8192)
def evaluate_terms(
    terms: LicenseTerms, use: UsageProfile
) -> tuple[tuple[Reason, ...], tuple[Obligation, ...]]:
    """Reasons and obligations one licence version imposes on a profile (the date aside)."""
    outcome = _Outcome(terms)
    for rule in (_commercial, _users, _hosting, _distribution, _derivatives, _outputs):
        rule(outcome, use)
    return tuple(outcome.reasons), tuple(outcome.obligations)


def verdict_of(reasons: list[Reason], obligations: list[Obligation]) -> Verdict:
    worst = max((r.verdict for r in reasons), key=lambda v: v.severity, default=Verdict.ALLOWED)
    if worst == Verdict.ALLOWED and obligations:
        return Verdict.ALLOWED_WITH_OBLIGATIONS
    return worst


# --- permissiveness, for conflicts -------------------------------------------------------------


def permissiveness(terms: LicenseTerms) -> int:
    """3: permissive (MIT, Apache); 2: commercial with restrictions; 1: conditional or unknown;
    0: non-commercial. A model declaring a higher rank than an ancestor is a conflict."""
    if terms.commercial_use == CommercialUse.FORBIDDEN or terms.research_only:
        return 0
    if terms.commercial_use != CommercialUse.ALLOWED or terms.unverified("commercial_use"):
        return 1
    restricted = (
        terms.user_threshold is not None
        or terms.acceptable_use_policy
        or terms.naming_prefix
        or terms.hosting_condition
        or terms.outputs_to_improve_models
        in (OutputsUse.FORBIDDEN, OutputsUse.ALLOWED_WITH_CONDITIONS)
    )
    return 2 if restricted else 3


# --- per model ----------------------------------------------------------------------------------


def _check(
    snapshot: CatalogSnapshot, model: ModelView, use: UsageProfile, day: dt.date
) -> ModelCompliance:
    reasons: list[Reason] = []
    obligations: list[Obligation] = []
    in_force: list[LicenseInForce] = []
    own = model.periods_on(day)
    conflicts: list[LicenseConflict] = []
    for member in snapshot.lineage(model):
        periods = member.periods_on(day)
        if not periods:
            reasons.append(
                Reason(
                    term="license",
                    verdict=Verdict.NEEDS_REVIEW,
                    message=f"no licence of {member.hf_id} is recorded for {day}",
                    license="unknown",
                    imposed_by=member.hf_id,
                )
            )
        for period in periods:
            terms = period.terms
            in_force.append(
                LicenseInForce(
                    license=terms.id,
                    name=terms.name,
                    imposed_by=member.hf_id,
                    verified=period.verified,
                )
            )
            term_reasons, term_obligations = evaluate_terms(terms, use)
            for reason in term_reasons:
                verdict = reason.verdict
                if not period.verified and verdict == Verdict.FORBIDDEN:
                    verdict = Verdict.NEEDS_REVIEW  # an unconfirmed licence cannot forbid for sure
                reasons.append(
                    reason.model_copy(update={"imposed_by": member.hf_id, "verdict": verdict})
                )
            obligations.extend(
                o.model_copy(update={"imposed_by": member.hf_id}) for o in term_obligations
            )
            if not period.verified:
                reasons.append(
                    Reason(
                        term="license",
                        verdict=Verdict.NEEDS_REVIEW,
                        message=f"that {member.hf_id} was under {terms.name} on {day} is not "
                        f"verified{': ' + period.note.rstrip('.') if period.note else ''}",
                        license=terms.id,
                        imposed_by=member.hf_id,
                    )
                )
            if member is not model:
                for declared in own:
                    if permissiveness(declared.terms) > permissiveness(terms):
                        conflicts.append(
                            LicenseConflict(
                                declared_license=declared.terms.id,
                                ancestor=member.hf_id,
                                ancestor_license=terms.id,
                                message=f"{model.hf_id} declares {declared.terms.name}, more "
                                f"permissive than {terms.name} of its ancestor {member.hf_id}; "
                                "the ancestor's terms still apply",
                            )
                        )
    return ModelCompliance(
        model=model.hf_id,
        name=model.name,
        date=day,
        verdict=verdict_of(reasons, obligations),
        licenses=in_force,
        obligations=_unique(obligations),
        reasons=reasons,
        conflicts=conflicts,
    )


def _unique(obligations: list[Obligation]) -> list[Obligation]:
    # The same text from two periods of one licence (or two ancestors) is one obligation.
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for o in obligations:
        if (o.kind, o.text, o.license) not in seen:
            seen.add((o.kind, o.text, o.license))
            unique.append(o)
    return unique


CACHE_LIMIT = 50_000


def _cached_check(
    snapshot: CatalogSnapshot, hf_id: str, use: UsageProfile, day: dt.date
) -> ModelCompliance:
    # The cache lives on the snapshot, so it goes when a new catalog version replaces it.
    cache = snapshot.compliance_cache
    key = (hf_id, use, day)
    found = cache.get(key)
    if found is None:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        found = cache[key] = _check(snapshot, snapshot.models[hf_id], use, day)
    return found


def check_model(snapshot: CatalogSnapshot, model: ModelView, use: UsageProfile) -> ModelCompliance:
    return _cached_check(snapshot, model.hf_id, use, use.date or today())


def checker(snapshot: CatalogSnapshot, use: UsageProfile) -> Callable[[ModelView], ModelCompliance]:
    """The engine for one profile on one snapshot, as a per-model lookup: the profile is hashed
    once, not once per model (the router asks this for every model of every request)."""
    day = use.date or today()
    key = ("profile", use, day)
    cache = snapshot.compliance_cache
    answers = cache.get(key)
    if answers is None:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        answers = cache[key] = {}

    def verdict(model: ModelView) -> ModelCompliance:
        found = answers.get(model.hf_id)
        if found is None:
            found = answers[model.hf_id] = _cached_check(snapshot, model.hf_id, use, day)
        return found

    return verdict


def check(
    snapshot: CatalogSnapshot, use: UsageProfile, models: list[ModelView] | None = None
) -> ComplianceReport:
    day = use.date or today()
    chosen = (
        models if models is not None else sorted(snapshot.models.values(), key=lambda m: m.hf_id)
    )
    results = [_cached_check(snapshot, m.hf_id, use, day) for m in chosen]
    counts = Counter(r.verdict for r in results)
    return ComplianceReport(
        use=use,
        date=day,
        summary={v: counts.get(v, 0) for v in Verdict},
        results=results,
    )
