"""Catalog operations: read views, register models and deployments. Services never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from catalog import capabilities, licensing
from catalog import repository as repo
from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.orm import (
    BenchmarkScore,
    Deployment,
    LicenseAssignment,
    Model,
    ModelAlias,
    ModelParent,
)
from catalog.prices import HostedPrice, hosted_price, token_prices
from catalog.schemas import (
    ComplianceCheckIn,
    ComplianceReport,
    DeploymentIn,
    DeploymentOut,
    DeploymentPatch,
    LicenseOut,
    LicensePeriodOut,
    ModelDetail,
    ModelFilters,
    ModelIn,
    ModelSummary,
    Page,
    RelativeOut,
    ScoreEntryIn,
    ScoreIn,
    ScoreOut,
    UsageProfile,
)
from catalog.snapshot import CatalogSnapshot, ModelView, breadth_first
from catalog.terms import DeploymentKind, PriceSource, Privacy, Verdict

PriceLookup = Callable[[str], HostedPrice]
ALLOWED = (Verdict.ALLOWED, Verdict.ALLOWED_WITH_OBLIGATIONS)


# --- prices -------------------------------------------------------------------------------------


def _blend(input_cost_per_token: float, output_cost_per_token: float) -> float:
    return round((input_cost_per_token + output_cost_per_token) / 2 * 1_000_000, 6)


def blended_usd_per_million(deployment: Deployment) -> float | None:
    prices = token_prices(deployment)
    return None if prices is None else _blend(*prices)


# --- views --------------------------------------------------------------------------------------


def deployment_view(deployment: Deployment) -> DeploymentOut:
    return DeploymentOut(
        id=deployment.id,
        name=deployment.name,
        model=deployment.model.hf_id,
        kind=deployment.kind,
        provider=deployment.provider,
        served_name=deployment.served_name,
        base_url=deployment.base_url,
        input_cost_per_token=deployment.input_cost_per_token,
        output_cost_per_token=deployment.output_cost_per_token,
        price_source=deployment.price_source,
        cost_per_hour=deployment.cost_per_hour,
        tokens_per_second=deployment.tokens_per_second,
        usd_per_million_tokens=blended_usd_per_million(deployment),
        region=deployment.region,
        privacy=deployment.privacy,
        max_context=deployment.max_context,
        status=deployment.status,
        capabilities=list(deployment.capabilities or []),
    )


def cheapest_usd_per_million(model: ModelView) -> float | None:
    """The cheapest active deployment's blended price (mean of input and output), per million."""
    prices = [
        _blend(d.input_cost_per_token, d.output_cost_per_token)
        for d in model.deployments
        if d.status == "active"
        and d.input_cost_per_token is not None
        and d.output_cost_per_token is not None
    ]
    return min(prices) if prices else None


def model_summary(
    model: Model, snapshot: CatalogSnapshot, today: dt.date, use: UsageProfile | None = None
) -> ModelSummary:
    view = snapshot.models[model.hf_id]
    kinds = {d.kind for d in view.deployments}
    commercial = licensing.check_model(snapshot, view, UsageProfile(commercial=True, date=today))
    return ModelSummary(
        id=model.hf_id,
        name=model.name,
        family=model.family,
        parameters=model.parameters,
        active_parameters=model.active_parameters,
        context_window=model.context_window,
        release_date=model.release_date,
        release_date_precision=model.release_date_precision,
        gated=model.gated,
        capabilities=model.capabilities,
        embedding_dimensions=model.embedding_dimensions or [],
        aliases=[a.alias for a in model.aliases],
        licenses_in_force=[a.license_id for a in model.licenses if a.in_force_on(today)],
        commercial_use=commercial.verdict,
        license_conflict=bool(commercial.conflicts),
        compliance=licensing.check_model(snapshot, view, use).verdict if use else None,
        has_local=bool(kinds & {DeploymentKind.LOCAL, DeploymentKind.EMBEDDED}),
        has_hosted=DeploymentKind.HOSTED in kinds,
        cheapest_usd_per_million_tokens=cheapest_usd_per_million(view),
        unverified_fields=model.unverified_fields,
    )


def model_detail(model: Model, snapshot: CatalogSnapshot, today: dt.date) -> ModelDetail:
    history = [
        LicensePeriodOut(
            license_id=a.license_id,
            license_name=a.license.name,
            effective_from=a.effective_from,
            effective_to=a.effective_to,
            verified=a.verified,
            certain_from=a.certain_from,
            certain_to=a.certain_to,
            in_force_today=a.in_force_on(today),
            source=a.source,
            note=a.note,
        )
        for a in model.licenses
    ]
    return ModelDetail(
        **model_summary(model, snapshot, today).model_dump(),
        license_history=history,
        parents=[
            RelativeOut(id=e.parent.hf_id, name=e.parent.name, relation=e.relation)
            for e in model.parents
        ],
        children=[
            RelativeOut(id=e.child.hf_id, name=e.child.name, relation=e.relation)
            for e in model.children
        ],
        scores=[ScoreOut.model_validate(s) for s in model.scores],
        deployments=[deployment_view(d) for d in model.deployments],
        source=model.source,
        notes=model.notes,
    )


# --- reads --------------------------------------------------------------------------------------


def _sort_key(filters: ModelFilters) -> Callable[[tuple[Model, ModelSummary]], Any]:
    field = filters.sort.lstrip("-")
    benchmark = (filters.benchmark or "").lower()

    def best_score(model: Model) -> float | None:
        scores = [s.score for s in model.scores if s.benchmark.lower() == benchmark]
        return max(scores) if scores else None

    getters: dict[str, Callable[[Model, ModelSummary], Any]] = {
        "name": lambda m, _s: m.name.lower(),
        "params": lambda m, _s: m.parameters,
        "context": lambda m, _s: m.context_window,
        "release": lambda m, _s: m.release_date,
        "price": lambda _m, s: s.cheapest_usd_per_million_tokens,
        "score": lambda m, _s: best_score(m),
    }
    get = getters[field]

    def key(pair: tuple[Model, ModelSummary]) -> Any:
        value = get(*pair)
        # Unknown values sort last in either direction; the id breaks ties stably.
        return (value is None, value if value is not None else 0, pair[0].hf_id)

    return key


def list_models(
    session: Session, filters: ModelFilters, snapshot: CatalogSnapshot, today: dt.date
) -> Page[ModelSummary]:
    """Models matching the filters; with usage-profile fields, only those the licence engine
    allows for that use."""
    use = filters.usage_profile()
    rows = [
        (m, model_summary(m, snapshot, today, use))
        for m in repo.query_models(session, filters, today)
    ]
    if use is not None:
        rows = [(m, s) for m, s in rows if s.compliance in ALLOWED]
    if filters.max_price is not None:
        ceiling = filters.max_price
        rows = [
            (m, s)
            for m, s in rows
            if s.cheapest_usd_per_million_tokens is not None
            and s.cheapest_usd_per_million_tokens <= ceiling
        ]
    key = _sort_key(filters)
    known = sorted(
        (r for r in rows if key(r)[0] is False), key=key, reverse=filters.sort.startswith("-")
    )
    unknown = sorted((r for r in rows if key(r)[0] is True), key=key)
    ordered = known + unknown
    start = (filters.page - 1) * filters.per_page
    window = ordered[start : start + filters.per_page]
    return Page[ModelSummary](
        items=[s for _m, s in window],
        total=len(ordered),
        page=filters.page,
        per_page=filters.per_page,
    )


def _is_clean(ref: str) -> bool:
    # Control characters never appear in ids; PostgreSQL would reject NUL before answering.
    return bool(ref) and len(ref) <= 300 and not any(ord(c) < 32 or ord(c) == 127 for c in ref)


def resolve_models(snapshot: CatalogSnapshot, refs: list[str]) -> list[ModelView]:
    """Snapshot models by id or alias, all of them; unknown names are one clear error."""
    found = {ref: snapshot.find(ref) if _is_clean(ref) else None for ref in refs}
    missing = [ref for ref, model in found.items() if model is None]
    if missing:
        raise NotFound(
            f"no model {', '.join(repr(m) for m in missing)} in the catalog", {"models": missing}
        )
    return [m for m in found.values() if m is not None]


def check_compliance(snapshot: CatalogSnapshot, request: ComplianceCheckIn) -> ComplianceReport:
    models = resolve_models(snapshot, request.models) if request.models is not None else None
    return licensing.check(snapshot, request.use, models)


def get_model(session: Session, ref: str) -> Model:
    model = repo.find_model(session, ref) if _is_clean(ref) else None
    if model is None:
        raise NotFound(f"no model '{ref}' in the catalog (give a Hugging Face id or an alias)")
    return model


def get_license(session: Session, license_id: str) -> LicenseOut:
    found = repo.get_license(session, license_id) if _is_clean(license_id) else None
    if found is None:
        raise NotFound(f"no licence '{license_id}' in the catalog")
    return LicenseOut.model_validate(found)


def list_licenses(session: Session) -> list[LicenseOut]:
    return [LicenseOut.model_validate(lic) for lic in repo.list_licenses(session)]


# --- writes: models -----------------------------------------------------------------------------


def _set(obj: object, values: dict[str, Any]) -> None:
    # Assign only what differs, so unchanged seeds leave no dirty state and no version bump.
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)


def _default_alias(hf_id: str) -> str:
    return hf_id.rsplit("/", 1)[-1].lower()


def apply_model(
    session: Session, spec: ModelIn, model: Model | None = None, score_origin: str = "seed"
) -> Model:
    """Create or update a model, its aliases, licence history and scores (not its parents).
    `score_origin` says whose scores the spec's replace: "seed" (the seed files) or "hub"
    (a card's model-index); the others' scores stay."""
    if model is None:
        model = Model(hf_id=spec.hf_id)
        session.add(model)
    release = spec.release_date
    _set(
        model,
        {
            "hf_id": spec.hf_id,
            "name": spec.name,
            "family": spec.family,
            "parameters": spec.parameters,
            "active_parameters": spec.active_parameters,
            "context_window": spec.context_window,
            "release_date": release.day if release else None,
            "release_date_precision": release.precision if release else "day",
            "gated": spec.gated,
            "capabilities": list(spec.capabilities),
            "embedding_dimensions": list(spec.embedding_dimensions),
            "unverified_fields": list(spec.unverified),
            "source": spec.source,
            "notes": spec.notes,
        },
    )
    _sync_aliases(session, model, spec)
    _sync_licenses(session, model, spec)
    _sync_scores(model, spec, score_origin)
    return model


def _sync_aliases(session: Session, model: Model, spec: ModelIn) -> None:
    wanted = sorted({_default_alias(spec.hf_id), *(a.lower() for a in spec.aliases)})
    for alias in wanted:
        owner = repo.alias_owner(session, alias)
        if owner is not None and owner is not model:
            raise Conflict(f"alias '{alias}' already names {owner.hf_id}", {"alias": alias})
    current = {a.alias: a for a in model.aliases}
    for alias, row in current.items():
        if alias not in wanted:
            model.aliases.remove(row)
    for alias in wanted:
        if alias not in current:
            model.aliases.append(ModelAlias(alias=alias))


def _sync_licenses(session: Session, model: Model, spec: ModelIn) -> None:
    current = {(a.license_id, a.effective_from): a for a in model.licenses}
    keep: set[tuple[str, dt.date | None]] = set()
    for period in spec.licenses:
        if repo.get_license(session, period.license) is None:
            raise InvalidInput(
                f"unknown licence '{period.license}' for {spec.hf_id}",
                {"license": period.license},
            )
        key = (period.license, period.from_)
        keep.add(key)
        values = {
            "effective_to": period.to,
            "verified": period.verified,
            "certain_from": period.certain_from,
            "certain_to": period.certain_to,
            "source": period.source,
            "note": period.note,
        }
        if key in current:
            _set(current[key], values)
        else:
            model.licenses.append(
                LicenseAssignment(license_id=period.license, effective_from=period.from_, **values)
            )
    for key, row in current.items():
        if key not in keep:
            model.licenses.remove(row)


def _score_values(score: ScoreIn, origin: str) -> dict[str, Any]:
    return {
        "score": score.score,
        "source": score.source,
        "source_url": str(score.source_url) if score.source_url else None,
        "as_of": score.as_of,
        "verified": score.verified,
        "origin": origin,
    }


def _sync_scores(model: Model, spec: ModelIn, origin: str) -> None:
    """The model's scores of this origin become the spec's; scores of other origins (a user's
    import, the seed's sourced scores when a Hub card is read) stay, unless the spec gives
    the same benchmark and setting, which then replaces them."""
    current = {(s.benchmark, s.setting): s for s in model.scores}
    keep: set[tuple[str, str]] = set()
    for score in spec.scores:
        key = (score.benchmark, score.setting)
        keep.add(key)
        values = _score_values(score, origin)
        if key in current:
            _set(current[key], values)
        else:
            model.scores.append(
                BenchmarkScore(benchmark=score.benchmark, setting=score.setting, **values)
            )
    for key, row in current.items():
        if key not in keep and row.origin == origin:
            model.scores.remove(row)


def import_scores(session: Session, entries: list[ScoreEntryIn]) -> tuple[int, int]:
    """A user's scores (`catalog scores import`), each for a catalog model by id or alias;
    a score of the same model, benchmark and setting is replaced. Returns (created,
    updated). An unknown model is an error naming the entry; nothing is written then."""
    known = repo.models_by_reference(session)
    targets = []
    for number, entry in enumerate(entries, start=1):
        model = known.get(entry.model.strip().lower())
        if model is None:
            raise InvalidInput(
                f"entry {number}: model: '{entry.model}' is not in the catalog",
                {"entry": number, "field": "model"},
            )
        targets.append((model, entry))
    created = updated = 0
    for model, entry in targets:
        current = {(s.benchmark, s.setting): s for s in model.scores}
        values = _score_values(entry, "import")
        row = current.get((entry.benchmark, entry.setting))
        if row is None:
            model.scores.append(
                BenchmarkScore(benchmark=entry.benchmark, setting=entry.setting, **values)
            )
            created += 1
        else:
            _set(row, values)
            updated += 1
    session.flush()
    return created, updated


def apply_parents(
    session: Session,
    model: Model,
    spec: ModelIn,
    known: dict[str, Model] | None = None,
) -> None:
    """`known`: models by lower-cased id or alias, looked up before the database."""
    current = {e.parent.hf_id: e for e in model.parents}
    wanted: dict[str, ModelParent] = {}
    for parent_spec in spec.parents:
        parent = (known or {}).get(parent_spec.model.strip().lower()) or repo.find_model(
            session, parent_spec.model
        )
        if parent is None:
            raise InvalidInput(
                f"{spec.hf_id} names an unknown parent model '{parent_spec.model}'",
                {"parent": parent_spec.model},
            )
        ancestry = breadth_first(parent, lambda m: [e.parent for e in m.parents], lambda m: m.id)
        if any(member.id == model.id for member in ancestry):
            raise InvalidInput(f"{parent.hf_id} descends from {spec.hf_id}: lineage would loop")
        edge = current.get(parent.hf_id)
        if edge is None:
            edge = ModelParent(parent=parent, relation=parent_spec.relation)
            model.parents.append(edge)
        else:
            _set(edge, {"relation": parent_spec.relation})
        wanted[parent.hf_id] = edge
    for hf_id, edge in current.items():
        if hf_id not in wanted:
            model.parents.remove(edge)


def add_model(session: Session, spec: ModelIn) -> Model:
    if repo.find_model(session, spec.hf_id) is not None:
        raise Conflict(f"model '{spec.hf_id}' is already in the catalog")
    model = apply_model(session, spec)
    session.flush()
    apply_parents(session, model, spec)
    session.flush()
    return model


# --- writes: deployments ------------------------------------------------------------------------


def deployment_capabilities(spec: DeploymentIn) -> list[str]:
    """Declared for local servers; from litellm's model map for hosted; known for embedded."""
    if spec.kind == DeploymentKind.HOSTED:
        return capabilities.hosted_capabilities(spec.served_name)
    if spec.kind == DeploymentKind.EMBEDDED:
        return list(capabilities.EMBEDDED)
    return capabilities.ordered(spec.capabilities or [])


def _deployment_values(
    spec: DeploymentIn, model: Model, price_lookup: PriceLookup
) -> dict[str, Any]:
    kind = spec.kind
    provider = (
        spec.provider
        or {
            DeploymentKind.HOSTED: spec.served_name.split("/", 1)[0],
            DeploymentKind.LOCAL: "openai-compatible",
            DeploymentKind.EMBEDDED: "llama-cpp",
        }[kind]
    )
    values: dict[str, Any] = {
        "model_id": model.id,
        "kind": kind,
        "provider": provider,
        "served_name": spec.served_name,
        "base_url": str(spec.base_url).rstrip("/") if spec.base_url else None,
        "input_cost_per_token": spec.input_cost_per_token,
        "output_cost_per_token": spec.output_cost_per_token,
        "cost_per_hour": spec.cost_per_hour,
        "tokens_per_second": spec.tokens_per_second,
        "region": spec.region,
        "privacy": spec.privacy or (Privacy.EXTERNAL if kind == "hosted" else Privacy.LOCAL),
        "max_context": spec.max_context,
        "status": spec.status,
        "capabilities": deployment_capabilities(spec),
    }
    if spec.input_cost_per_token is not None:
        values["price_source"] = PriceSource.MANUAL
    elif spec.cost_per_hour is not None:
        values["price_source"] = PriceSource.HARDWARE
    elif kind == DeploymentKind.HOSTED:
        price = price_lookup(spec.served_name)
        values.update(
            price_source=PriceSource.LITELLM,
            input_cost_per_token=price.input_cost_per_token,
            output_cost_per_token=price.output_cost_per_token,
            max_context=spec.max_context or price.max_context,
        )
    else:
        # The user's own hardware with no cost given: zero marginal cost per token.
        values["price_source"] = PriceSource.FREE
    return values


def _default_deployment_name(spec: DeploymentIn, model: Model) -> str:
    short = _default_alias(model.hf_id)
    if spec.kind == DeploymentKind.HOSTED:
        return f"{spec.served_name.split('/', 1)[0]}/{short}"
    return f"{spec.kind.value}/{short}"


def add_deployment(
    session: Session, spec: DeploymentIn, price_lookup: PriceLookup = hosted_price
) -> Deployment:
    model = get_model(session, spec.model)
    name = spec.name or _default_deployment_name(spec, model)
    if repo.get_deployment(session, name) is not None:
        raise Conflict(f"a deployment named '{name}' exists already; choose another --name")
    deployment = Deployment(name=name, **_deployment_values(spec, model, price_lookup))
    session.add(deployment)
    session.flush()
    session.refresh(deployment)
    return deployment


def upsert_deployment(
    session: Session,
    spec: DeploymentIn,
    price_lookup: PriceLookup = hosted_price,
    known: dict[str, Model] | None = None,
) -> Deployment:
    """Seeding: create the named deployment or bring it in line with the spec. `known`:
    models by lower-cased id or alias, looked up before the database."""
    model = (known or {}).get(spec.model.strip().lower()) or get_model(session, spec.model)
    name = spec.name or _default_deployment_name(spec, model)
    values = _deployment_values(spec, model, price_lookup)
    deployment = repo.get_deployment(session, name)
    if deployment is None:
        deployment = Deployment(name=name, **values)
        session.add(deployment)
    else:
        _set(deployment, values)
    return deployment


def get_deployment(session: Session, ref: str) -> Deployment:
    deployment = repo.get_deployment(session, ref) if _is_clean(ref) else None
    if deployment is None:
        raise NotFound(f"no deployment '{ref}' (give its id or name)")
    return deployment


_PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cost_per_hour",
    "tokens_per_second",
)


def _current_price(deployment: Deployment) -> dict[str, Any]:
    """The price inputs that produced the deployment's price (litellm and free need none)."""
    if deployment.price_source == PriceSource.MANUAL:
        return {
            "input_cost_per_token": deployment.input_cost_per_token,
            "output_cost_per_token": deployment.output_cost_per_token,
        }
    if deployment.price_source == PriceSource.HARDWARE:
        return {
            "cost_per_hour": deployment.cost_per_hour,
            "tokens_per_second": deployment.tokens_per_second,
        }
    return {}


def update_deployment(
    session: Session, ref: str, patch: DeploymentPatch, price_lookup: PriceLookup = hosted_price
) -> Deployment:
    """Apply a partial change, then validate the whole deployment again as if newly added.

    A change that names any price field replaces the old way of pricing altogether."""
    deployment = get_deployment(session, ref)
    changes = patch.model_dump(exclude_unset=True)
    price_changes = {k: v for k, v in changes.items() if k in _PRICE_FIELDS}
    merged: dict[str, Any] = {
        "name": deployment.name,
        "model": deployment.model.hf_id,
        "kind": deployment.kind,
        "provider": deployment.provider,
        "served_name": deployment.served_name,
        "base_url": deployment.base_url,
        "region": deployment.region,
        "privacy": deployment.privacy,
        "max_context": deployment.max_context,
        "status": deployment.status,
        **(
            {"capabilities": deployment.capabilities}
            if deployment.kind == DeploymentKind.LOCAL
            else {}
        ),
        **(price_changes or _current_price(deployment)),
        **{k: v for k, v in changes.items() if k not in _PRICE_FIELDS},
    }
    try:
        spec = DeploymentIn.model_validate(merged)
    except ValueError as exc:
        raise InvalidInput(
            f"the change would leave deployment '{deployment.name}' invalid: {exc}"
        ) from exc
    _set(deployment, _deployment_values(spec, deployment.model, price_lookup))
    session.flush()
    return deployment


def remove_deployment(session: Session, ref: str) -> None:
    session.delete(get_deployment(session, ref))
    session.flush()
