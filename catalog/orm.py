"""The catalog's tables: licences, models with licence history and lineage, scores, deployments."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from catalog.terms import (
    CommercialUse,
    DatePrecision,
    DeploymentKind,
    DeploymentStatus,
    OutputsUse,
    ParentRelation,
    PriceSource,
    Privacy,
    ThresholdConsequence,
    UserThresholdMeasure,
)

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        dict[str, str]: JSON,
    }


def _enum(cls: type) -> Enum:
    # Stored as text with no database enum type: adding a value needs no migration dance.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class License(Base):
    """One version of a licence, as structured terms rather than prose."""

    __tablename__ = "licenses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(64))
    # When this version was published: Llama and DBRX count users in the month before it.
    released: Mapped[dt.date | None] = mapped_column(Date)
    spdx_id: Mapped[str | None] = mapped_column(String(64))
    commercial_use: Mapped[CommercialUse] = mapped_column(_enum(CommercialUse))
    commercial_condition: Mapped[str | None] = mapped_column(Text)
    user_threshold: Mapped[int | None] = mapped_column(BigInteger)
    user_threshold_measure: Mapped[UserThresholdMeasure] = mapped_column(
        _enum(UserThresholdMeasure)
    )
    # 2025-2026 terms (migration 0006): Kimi K2's revenue test and display duty, Llama 3.3/4's
    # affiliates and end-user exemption, Llama 4's EU carve-out, Gemma's hosted-service Notice
    # and purpose-conditioned output rule, MRL's research-only outputs.
    revenue_threshold_usd: Mapped[int | None] = mapped_column(BigInteger)
    threshold_consequence: Mapped[ThresholdConsequence] = mapped_column(
        _enum(ThresholdConsequence), default=ThresholdConsequence.SEPARATE_LICENSE
    )
    threshold_display_text: Mapped[str | None] = mapped_column(Text)
    threshold_counts_affiliates: Mapped[bool] = mapped_column(default=False)
    threshold_end_user_exemption: Mapped[bool] = mapped_column(default=False)
    excluded_regions: Mapped[list[str]] = mapped_column(default=list)
    region_exclusion_multimodal_only: Mapped[bool] = mapped_column(default=False)
    region_exclusion_end_user_exempt: Mapped[bool] = mapped_column(default=False)
    hosted_is_distribution: Mapped[bool] = mapped_column(default=False)
    notice_exempt_hosted: Mapped[bool] = mapped_column(default=False)
    outputs_derivative_if_imitating: Mapped[bool] = mapped_column(default=False)
    outputs_research_only: Mapped[bool] = mapped_column(default=False)
    use_latest_version: Mapped[bool] = mapped_column(default=False)
    research_only: Mapped[bool] = mapped_column()
    permitted_use_note: Mapped[str | None] = mapped_column(Text)
    hosting_condition: Mapped[str | None] = mapped_column(Text)
    attribution_text: Mapped[str | None] = mapped_column(Text)
    notice_text: Mapped[str | None] = mapped_column(Text)
    ship_license_copy: Mapped[bool] = mapped_column()
    redistribution_conditions: Mapped[list[str]] = mapped_column(default=list)
    derivative_terms: Mapped[str | None] = mapped_column(Text)
    outputs_to_improve_models: Mapped[OutputsUse] = mapped_column(_enum(OutputsUse))
    outputs_condition: Mapped[str | None] = mapped_column(Text)
    outputs_same_family_exception: Mapped[bool] = mapped_column(default=False)
    acceptable_use_policy: Mapped[bool | None] = mapped_column()
    acceptable_use_policy_url: Mapped[str | None] = mapped_column(String(500))
    naming_rule: Mapped[str | None] = mapped_column(Text)
    naming_prefix: Mapped[str | None] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str | None] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column()
    unverified_terms: Mapped[list[str]] = mapped_column(default=list)
    clauses: Mapped[dict[str, str]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hf_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(64), index=True)
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    active_parameters: Mapped[int | None] = mapped_column(BigInteger)
    context_window: Mapped[int | None] = mapped_column(Integer)
    release_date: Mapped[dt.date | None] = mapped_column(Date)
    release_date_precision: Mapped[DatePrecision] = mapped_column(
        _enum(DatePrecision), default=DatePrecision.DAY
    )
    gated: Mapped[bool | None] = mapped_column()
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    # Embedding models: the vector sizes they return, their own first.
    embedding_dimensions: Mapped[list[int]] = mapped_column(JSON, default=list)
    unverified_fields: Mapped[list[str]] = mapped_column(default=list)
    source: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    # Set for models imported from the Hugging Face Hub: the card revision read, and when the
    # repo last changed. A model without a revision is curated (seed or added by hand), and
    # an import never overwrites it.
    hub_revision: Mapped[str | None] = mapped_column(String(64))
    hub_last_modified: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    pipeline_tag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )

    aliases: Mapped[list[ModelAlias]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelAlias.alias"
    )
    licenses: Mapped[list[LicenseAssignment]] = relationship(
        back_populates="model",
        cascade="all, delete-orphan",
        order_by="LicenseAssignment.effective_from",
    )
    parents: Mapped[list[ModelParent]] = relationship(
        foreign_keys="ModelParent.child_id", back_populates="child", cascade="all, delete-orphan"
    )
    children: Mapped[list[ModelParent]] = relationship(
        foreign_keys="ModelParent.parent_id", back_populates="parent", cascade="all, delete-orphan"
    )
    scores: Mapped[list[BenchmarkScore]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="BenchmarkScore.benchmark"
    )
    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="Deployment.name"
    )


class ModelAlias(Base):
    __tablename__ = "model_aliases"

    alias: Mapped[str] = mapped_column(String(200), primary_key=True)  # stored lower-case
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)

    model: Mapped[Model] = relationship(back_populates="aliases")


class ModelParent(Base):
    """One edge of the lineage graph: `child` was made from `parent`."""

    __tablename__ = "model_parents"

    child_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    relation: Mapped[ParentRelation] = mapped_column(_enum(ParentRelation))

    child: Mapped[Model] = relationship(foreign_keys=[child_id], back_populates="parents")
    parent: Mapped[Model] = relationship(foreign_keys=[parent_id], back_populates="children")


class LicenseAssignment(Base):
    """The licence a model carried over a period: [effective_from, effective_to).

    A null `effective_from` means "since release"; a null `effective_to` means "still in force".
    """

    __tablename__ = "license_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"), index=True)
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    verified: Mapped[bool] = mapped_column(default=True)
    # An uncertain change date: the period certainly applied only within these (migration 0006).
    certain_from: Mapped[dt.date | None] = mapped_column(Date)
    certain_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    model: Mapped[Model] = relationship(back_populates="licenses")
    license: Mapped[License] = relationship()

    def in_force_on(self, day: dt.date) -> bool:
        starts_ok = self.effective_from is None or self.effective_from <= day
        ends_ok = self.effective_to is None or day < self.effective_to
        return starts_ok and ends_ok


class BenchmarkScore(Base):
    __tablename__ = "benchmark_scores"
    __table_args__ = (UniqueConstraint("model_id", "benchmark", "setting", name="uq_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    benchmark: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    setting: Mapped[str] = mapped_column(String(400), default="")
    source: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(500))
    # The source's date, or "commit <sha>" of the repository read.
    as_of: Mapped[str | None] = mapped_column(String(200))
    # False: kept and shown, but not read at an official source; never used for routing.
    verified: Mapped[bool] = mapped_column(default=True)
    # "seed" (the seed files), "hub" (a Hub card's model-index), each replaced when its source
    # is read again, or "import" (a user's `catalog scores import`: kept until replaced).
    origin: Mapped[str] = mapped_column(String(16), default="seed")

    model: Mapped[Model] = relationship(back_populates="scores")


class Deployment(Base):
    """Where a model runs and what a token costs there."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DeploymentKind] = mapped_column(_enum(DeploymentKind))
    provider: Mapped[str] = mapped_column(String(64))
    served_name: Mapped[str] = mapped_column(String(300))
    base_url: Mapped[str | None] = mapped_column(String(500))
    input_cost_per_token: Mapped[float | None] = mapped_column(Float)
    output_cost_per_token: Mapped[float | None] = mapped_column(Float)
    price_source: Mapped[PriceSource] = mapped_column(_enum(PriceSource))
    cost_per_hour: Mapped[float | None] = mapped_column(Float)
    tokens_per_second: Mapped[float | None] = mapped_column(Float)
    region: Mapped[str | None] = mapped_column(String(64))
    privacy: Mapped[Privacy] = mapped_column(_enum(Privacy))
    max_context: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[DeploymentStatus] = mapped_column(
        _enum(DeploymentStatus), default=DeploymentStatus.ACTIVE
    )
    # tools, json_schema, vision… (catalog/capabilities.py): what a routed request may need.
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )

    model: Mapped[Model] = relationship(back_populates="deployments")


class CatalogVersion(Base):
    """One row whose number rises on every catalog change, so router snapshots know to rebuild."""

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
