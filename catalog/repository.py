"""All of the catalog's SQL. Services call these; they never build queries themselves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, event, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from catalog.orm import (
    BenchmarkScore,
    CatalogVersion,
    Deployment,
    License,
    LicenseAssignment,
    Model,
    ModelAlias,
    ModelParent,
)
from catalog.schemas import ModelFilters
from catalog.terms import DeploymentKind

_CATALOG_TYPES = (
    License,
    Model,
    ModelAlias,
    ModelParent,
    LicenseAssignment,
    BenchmarkScore,
    Deployment,
)


def _with_relations(query: Select[Model], deployments: bool = True) -> Select[Model]:
    """`deployments=False` for lists: their summaries read deployments from the catalog
    snapshot, and loading thousands of rows per request was most of a list's time."""
    relations = [
        selectinload(Model.aliases),
        selectinload(Model.licenses).selectinload(LicenseAssignment.license),
        selectinload(Model.parents).selectinload(ModelParent.parent),
        selectinload(Model.children).selectinload(ModelParent.child),
        selectinload(Model.scores),
    ]
    if deployments:
        relations.append(selectinload(Model.deployments))
    return query.options(*relations)


# --- licences -----------------------------------------------------------------------------------


def get_license(session: Session, license_id: str) -> License | None:
    return session.get(License, license_id)


def list_licenses(session: Session) -> Sequence[License]:
    return session.scalars(select(License).order_by(License.id)).all()


# --- models -------------------------------------------------------------------------------------


def find_model(session: Session, ref: str) -> Model | None:
    """A model by Hugging Face id or alias, ignoring case."""
    key = ref.strip().lower()
    by_id = _with_relations(select(Model).where(func.lower(Model.hf_id) == key))
    found = session.scalars(by_id).first()
    if found is not None:
        return found
    by_alias = _with_relations(
        select(Model)
        .join(ModelAlias, ModelAlias.model_id == Model.id)
        .where(ModelAlias.alias == key)
    )
    return session.scalars(by_alias).first()


def models_by_reference(session: Session) -> dict[str, Model]:
    """Every model under its lower-cased id and aliases, relations loaded, in a few queries:
    a seed looks up hundreds of models, and one query each was most of its time."""
    found: dict[str, Model] = {}
    for model in session.scalars(_with_relations(select(Model))):
        for alias in model.aliases:
            found.setdefault(alias.alias, model)
    for model in session.scalars(_with_relations(select(Model))):
        found[model.hf_id.lower()] = model  # an id wins over another model's alias
    return found


def alias_owner(session: Session, alias: str) -> Model | None:
    row = session.get(ModelAlias, alias.lower())
    return row.model if row else None


def query_models(session: Session, filters: ModelFilters, today: dt.date) -> Sequence[Model]:
    """Models matching the filters that SQL can answer; lineage and price filters come after."""
    query = select(Model)
    if filters.q:
        # The text is matched as text: LIKE's own % and _ (and the escape) are escaped.
        text = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        needle = f"%{text}%"
        aliased = select(ModelAlias.model_id).where(ModelAlias.alias.like(needle, escape="\\"))
        query = query.where(
            or_(
                func.lower(Model.hf_id).like(needle, escape="\\"),
                func.lower(Model.name).like(needle, escape="\\"),
                Model.id.in_(aliased),
            )
        )
    if filters.family:
        query = query.where(func.lower(Model.family) == filters.family.lower())
    if filters.min_params is not None:
        query = query.where(Model.parameters >= filters.min_params)
    if filters.max_params is not None:
        query = query.where(Model.parameters <= filters.max_params)
    if filters.min_context is not None:
        query = query.where(Model.context_window >= filters.min_context)
    if filters.license:
        in_force = select(LicenseAssignment.model_id).where(
            func.lower(LicenseAssignment.license_id) == filters.license.lower(),
            or_(
                LicenseAssignment.effective_from.is_(None),
                LicenseAssignment.effective_from <= today,
            ),
            or_(LicenseAssignment.effective_to.is_(None), LicenseAssignment.effective_to > today),
        )
        query = query.where(Model.id.in_(in_force))
    for wanted, kinds in (
        (filters.has_local, (DeploymentKind.LOCAL, DeploymentKind.EMBEDDED)),
        (filters.has_hosted, (DeploymentKind.HOSTED,)),
    ):
        if wanted is None:
            continue
        deployed = select(Deployment.model_id).where(Deployment.kind.in_(kinds))
        query = query.where(Model.id.in_(deployed) if wanted else Model.id.not_in(deployed))
    if filters.benchmark:
        scored = select(BenchmarkScore.model_id).where(
            func.lower(BenchmarkScore.benchmark) == filters.benchmark.lower()
        )
        if filters.min_score is not None:
            scored = scored.where(BenchmarkScore.score >= filters.min_score)
        query = query.where(Model.id.in_(scored))
    return session.scalars(_with_relations(query.order_by(Model.hf_id), deployments=False)).all()


def all_models(session: Session) -> Sequence[Model]:
    return session.scalars(_with_relations(select(Model).order_by(Model.hf_id))).all()


# --- deployments --------------------------------------------------------------------------------


def get_deployment(session: Session, ref: str | int) -> Deployment | None:
    # ASCII digits only: str.isdigit() also accepts "³", which int() refuses.
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit() and len(ref) <= 9):
        return session.get(Deployment, int(ref))
    return session.scalars(select(Deployment).where(Deployment.name == ref)).first()


def list_deployments(session: Session, model_id: int | None = None) -> Sequence[Deployment]:
    query = select(Deployment).options(selectinload(Deployment.model)).order_by(Deployment.name)
    if model_id is not None:
        query = query.where(Deployment.model_id == model_id)
    return session.scalars(query).all()


# --- catalog version ----------------------------------------------------------------------------


def catalog_version(session: Session) -> int:
    row = session.get(CatalogVersion, 1)
    return row.version if row else 0


def track_catalog_changes(factory: sessionmaker[Session]) -> None:
    """Raise the catalog version once in any transaction that changes the catalog, whichever
    code path made the change, so router snapshots can never miss one."""

    def bump(session: Session, _context: object, _instances: object) -> None:
        if session.info.get("catalog_version_bumped"):
            return
        touched = [*session.new, *session.deleted] + [
            o for o in session.dirty if session.is_modified(o)
        ]
        if not any(isinstance(o, _CATALOG_TYPES) for o in touched):
            return
        row = session.get(CatalogVersion, 1)
        if row is None:
            session.add(CatalogVersion(id=1, version=1))
        else:
            row.version += 1
            row.updated_at = dt.datetime.now(dt.UTC)
        session.info["catalog_version_bumped"] = True

    def transaction_over(session: Session, *_args: object) -> None:
        session.info.pop("catalog_version_bumped", None)

    event.listen(factory, "before_flush", bump)
    event.listen(factory, "after_commit", transaction_over)
    event.listen(factory, "after_rollback", transaction_over)
