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

from catalog.regions import region_name, regions_of
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
from catalog.terms import (
    CommercialUse,
    OutputsUse,
    ThresholdConsequence,
    UserThresholdMeasure,
    Verdict,
)

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
    multimodal: bool = False  # the model takes images: Llama 4's EU carve-out concerns these
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
    if t.threshold_consequence == ThresholdConsequence.DISPLAY:
        _display_threshold(o, use, limit)
        return
    if use.end_user_of_product and t.threshold_end_user_exemption:
        o.say(
            "threshold_end_user_exemption",
            Verdict.ALLOWED,
            "you receive the model as part of another company's integrated end-user product, "
            f"so the {limit:,}-user test does not apply to you",
        )
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
    whose = "users"
    if t.threshold_counts_affiliates:
        whose = "users of you and your affiliates"
        if use.affiliates_monthly_active_users_at_release is not None:
            counted = (counted or 0) + use.affiliates_monthly_active_users_at_release
    if counted is not None:
        verdict = Verdict.FORBIDDEN if counted > limit else Verdict.ALLOWED
        detail = over if counted > limit else f"within the {limit:,} limit"
        o.say("user_threshold", verdict, f"{counted:,} {whose} in {month}: {detail}")
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
            f"the {limit:,}-user test counts {whose} in {month} only; growth after that "
            "does not require a separate licence",
        )


def _display_threshold(o: _Outcome, use: UsageProfile, users: int) -> None:
    """Kimi K2: a commercial product above a user OR a revenue threshold must show a name in
    its interface. Crossing it costs a display duty, never the licence."""
    t = o.terms
    revenue = t.revenue_threshold_usd
    shown = t.threshold_display_text or ""
    duty = f'display "{shown}" prominently on the user interface of your product or service'
    limits = f"more than {users:,} monthly active users" + (
        f" or more than US${revenue:,} monthly revenue" if revenue else ""
    )
    if o.unknown("revenue_threshold", "the user and revenue thresholds"):
        return
    crossed = []
    if use.monthly_active_users is not None and use.monthly_active_users > users:
        crossed.append(f"{use.monthly_active_users:,} monthly active users")
    if revenue and use.monthly_revenue_usd is not None and use.monthly_revenue_usd > revenue:
        crossed.append(f"US${use.monthly_revenue_usd:,} monthly revenue")
    if crossed:
        o.oblige(
            "display",
            f"{duty[0].upper()}{duty[1:]}: it has {' and '.join(crossed)} ({limits})",
            "revenue_threshold",
        )
        return
    known = use.monthly_active_users is not None and (
        not revenue or use.monthly_revenue_usd is not None
    )
    if known:
        o.say(
            "revenue_threshold",
            Verdict.ALLOWED,
            f'below {limits.replace("more than", "").strip()}: no duty to display "{shown}"',
        )
    else:
        o.oblige("display", f"If your product has {limits}: {duty}", "revenue_threshold")


def _region(o: _Outcome, use: UsageProfile) -> None:
    """Llama 4: no grant to EU-domiciled people or EU-based companies for its multimodal
    models; end users of a product that incorporates them are exempt."""
    t = o.terms
    if not t.excluded_regions or (t.region_exclusion_multimodal_only and not o.multimodal):
        return
    if o.unknown("excluded_regions", "the regional restriction"):
        return
    names = " or ".join(region_name(r) for r in t.excluded_regions)
    scope = "this multimodal model" if t.region_exclusion_multimodal_only else "the model"
    exempt = t.region_exclusion_end_user_exempt
    rule = (
        f"the licence grants no rights in {scope} to an individual domiciled in, or a company "
        f"whose principal place of business is in, {names}"
        + (" (end users of a product or service that incorporates it are exempt)" if exempt else "")
    )
    if use.end_user_of_product and exempt:
        o.say("excluded_regions", Verdict.ALLOWED, f"you are an end user of a product: {rule}")
    elif use.licensee_region is None:
        o.oblige(
            "licensee_region", f"Not for you if you are in {names}: {rule}", "excluded_regions"
        )
    elif regions_of(use.licensee_region) & set(t.excluded_regions):
        o.say("excluded_regions", Verdict.FORBIDDEN, f"you are in {names}: {rule}")
    else:
        o.say(
            "excluded_regions",
            Verdict.ALLOWED,
            f"{use.licensee_region} is outside {names}, which the licence excludes",
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
    if t.use_latest_version:
        o.oblige(
            "use_latest_version",
            "Make reasonable efforts to use the latest version of the model",
            "use_latest_version",
        )
    # Gemma counts a hosted service as a Distribution, so its redistribution terms apply.
    hosted_only = use.hosted_service and not use.redistribute_weights
    if hosted_only and t.hosted_is_distribution:
        if o.unknown("hosted_is_distribution", "whether a hosted service counts as distribution"):
            return
    elif not use.redistribute_weights:
        return
    copy_of = "with the weights" if use.redistribute_weights else "to the service's users"
    if not o.unknown("ship_license_copy", "whether the licence text must ship") and (
        t.ship_license_copy
    ):
        o.oblige("license_copy", f"Give a copy of the {t.name} {copy_of}", "ship_license_copy")
    _notice(o, hosted_only)
    if not o.unknown("redistribution_conditions", "the redistribution conditions"):
        for condition in t.redistribution_conditions:
            o.oblige("redistribution", condition, "redistribution_conditions")


def _notice(o: _Outcome, hosted_only: bool) -> None:
    t = o.terms
    if not t.notice_text:
        return
    if hosted_only and (t.notice_exempt_hosted or t.unverified("notice_exempt_hosted")):
        if o.unknown("notice_exempt_hosted", "whether a hosted service needs the Notice file"):
            return
        o.say(
            "notice_exempt_hosted",
            Verdict.ALLOWED,
            "a hosted service needs no Notice file: only distributions other than through a "
            "hosted service must carry it",
        )
        return
    if not o.unknown("notice_text", "the Notice file's requirement"):
        o.oblige("notice_file", t.notice_text, "notice_text")


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
    if t.outputs_research_only:
        _research_outputs(o, use)
        return
    if t.outputs_derivative_if_imitating:
        _imitation(o, use)
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


def _research_outputs(o: _Outcome, use: UsageProfile) -> None:
    """MRL: the outputs themselves may serve research only, so they cannot train a model
    that is used commercially."""
    if o.unknown("outputs_research_only", "the restriction on outputs"):
        return
    if use.commercial:
        o.say(
            "outputs_research_only",
            Verdict.FORBIDDEN,
            "outputs may be used only for research purposes, so training a commercially used "
            "model on them is outside the licence",
        )
    else:
        o.say(
            "outputs_research_only",
            Verdict.ALLOWED,
            "outputs may train another model for research purposes only",
        )
        o.oblige(
            "outputs_condition",
            "Use the outputs, and any model trained on them, for research purposes only",
            "outputs_research_only",
        )


def _imitation(o: _Outcome, use: UsageProfile) -> None:
    """Gemma: outputs are not Model Derivatives, but a model trained on them in order to
    perform similarly to Gemma is one."""
    if o.unknown("outputs_derivative_if_imitating", "the rule on models trained on outputs"):
        return
    if use.imitate_source_model:
        o.oblige(
            "outputs_condition",
            o.terms.outputs_condition
            or "A model trained on outputs to perform like the source model is a derivative",
            "outputs_derivative_if_imitating",
        )
    else:
        o.say(
            "outputs_derivative_if_imitating",
            Verdict.ALLOWED,
            "outputs are not derivatives; only a model trained on them in order to perform "
            "similarly to the source model would be one",
        )


@functools.lru_cache(maxsize=8192)
def evaluate_terms(
    terms: LicenseTerms, use: UsageProfile, multimodal: bool = False
) -> tuple[tuple[Reason, ...], tuple[Obligation, ...]]:
    """Reasons and obligations one licence version imposes on a profile (the date aside).
    `multimodal`: the model takes image input (some terms concern only such models)."""
    outcome = _Outcome(terms, multimodal)
    for rule in (_commercial, _users, _region, _hosting, _distribution, _derivatives, _outputs):
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
            sure = period.verified_on(day)
            in_force.append(
                LicenseInForce(
                    license=terms.id,
                    name=terms.name,
                    imposed_by=member.hf_id,
                    verified=sure,
                )
            )
            term_reasons, term_obligations = evaluate_terms(
                terms, use, "vision" in member.capabilities
            )
            for reason in term_reasons:
                verdict = reason.verdict
                if not sure and verdict == Verdict.FORBIDDEN:
                    verdict = Verdict.NEEDS_REVIEW  # an unconfirmed licence cannot forbid for sure
                reasons.append(
                    reason.model_copy(update={"imposed_by": member.hf_id, "verdict": verdict})
                )
            obligations.extend(
                o.model_copy(update={"imposed_by": member.hf_id}) for o in term_obligations
            )
            if not sure:
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
                naming = _naming_conflict(model, member, terms)
                if naming is not None and naming not in conflicts:
                    conflicts.append(naming)
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


def _words(name: str) -> str:
    return " ".join(name.replace("-", " ").replace("_", " ").lower().split())


def _naming_conflict(
    model: ModelView, ancestor: ModelView, terms: LicenseTerms
) -> LicenseConflict | None:
    """An ancestor's licence that requires derivatives' names to begin with a word (Llama's
    "Llama"), and a published model whose name does not."""
    prefix = terms.naming_prefix
    owner, _, repo_name = model.hf_id.partition("/")
    # The licensor's own checkpoints (Meta's Instruct on Meta's base) are not a licensee's
    # derivatives: the rule binds other publishers.
    if not prefix or owner.lower() == ancestor.hf_id.partition("/")[0].lower():
        return None
    if any(_words(n).startswith(_words(prefix)) for n in (repo_name, model.name)):
        return None
    return LicenseConflict(
        kind="naming",
        declared_license=model.periods[0].terms.id if model.periods else "unknown",
        ancestor=ancestor.hf_id,
        ancestor_license=terms.id,
        message=f"{model.hf_id} is built on {ancestor.hf_id}, whose {terms.name} requires a "
        f'distributed derivative\'s name to begin with "{prefix}"; "{repo_name}" does not'
        + (f" ({terms.clause('naming_rule')})" if terms.clause("naming_rule") else ""),
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
