"""An immutable, in-memory copy of the catalog, rebuilt only when the catalog version changes.

The licence engine and the router read this instead of the database: a request never waits
on SQL, and every reader of one snapshot sees one consistent catalog.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from catalog import repository as repo
from catalog.orm import Deployment, License, Model
from catalog.prices import token_prices
from catalog.terms import (
    CommercialUse,
    DeploymentKind,
    DeploymentStatus,
    OutputsUse,
    ParentRelation,
    Privacy,
    ThresholdConsequence,
    UserThresholdMeasure,
)

Node = TypeVar("Node")
Key = TypeVar("Key")


def breadth_first(
    start: Node, neighbours: Callable[[Node], Iterable[Node]], key: Callable[[Node], Key]
) -> Iterator[Node]:
    """`start`, then everything reachable from it once each, nearest first; cycles are safe."""
    seen = {key(start)}
    queue = [start]
    while queue:
        current = queue.pop(0)
        yield current
        for nxt in neighbours(current):
            if key(nxt) not in seen:
                seen.add(key(nxt))
                queue.append(nxt)


@dataclass(frozen=True, slots=True)
class LicenseTerms:
    """One licence version's terms. Hashable, so evaluations can be cached by it."""

    id: str
    name: str
    version: str | None
    released: dt.date | None
    commercial_use: CommercialUse
    commercial_condition: str | None
    user_threshold: int | None
    user_threshold_measure: UserThresholdMeasure
    research_only: bool
    permitted_use_note: str | None
    hosting_condition: str | None
    attribution_text: str | None
    notice_text: str | None
    ship_license_copy: bool
    redistribution_conditions: tuple[str, ...]
    derivative_terms: str | None
    outputs_to_improve_models: OutputsUse
    outputs_condition: str | None
    outputs_same_family_exception: bool
    acceptable_use_policy: bool | None
    acceptable_use_policy_url: str | None
    naming_rule: str | None
    naming_prefix: str | None
    source_url: str | None
    spdx_id: str | None
    verified: bool
    unverified_terms: frozenset[str]
    clauses: tuple[tuple[str, str], ...]
    # The 2025-2026 terms; their defaults say "the licence has no such term".
    revenue_threshold_usd: int | None = None
    threshold_consequence: ThresholdConsequence = ThresholdConsequence.SEPARATE_LICENSE
    threshold_display_text: str | None = None
    threshold_counts_affiliates: bool = False
    threshold_end_user_exemption: bool = False
    excluded_regions: tuple[str, ...] = ()
    region_exclusion_multimodal_only: bool = False
    region_exclusion_end_user_exempt: bool = False
    hosted_is_distribution: bool = False
    notice_exempt_hosted: bool = False
    outputs_derivative_if_imitating: bool = False
    outputs_research_only: bool = False
    use_latest_version: bool = False

    def clause(self, term: str) -> str | None:
        return dict(self.clauses).get(term)

    def unverified(self, term: str) -> bool:
        return term in self.unverified_terms

    @classmethod
    def of(cls, row: License) -> LicenseTerms:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
        # Containers become immutable so the terms can key caches.
        values["redistribution_conditions"] = tuple(row.redistribution_conditions)
        values["excluded_regions"] = tuple(row.excluded_regions or ())
        values["unverified_terms"] = frozenset(row.unverified_terms)
        values["clauses"] = tuple(sorted(row.clauses.items()))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class LicensePeriod:
    terms: LicenseTerms
    start: dt.date | None
    end: dt.date | None
    verified: bool
    note: str | None
    # Where a change date is uncertain: the part of [start, end) where the period surely held.
    certain_from: dt.date | None = None
    certain_to: dt.date | None = None

    def in_force_on(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)

    def verified_on(self, day: dt.date) -> bool:
        """Whether it is sure that this period held on `day`: a verified period always; an
        unverified one with a certain part only inside that part (a change that certainly
        happened at an unknown date leaves the later licence sure once the window has passed)."""
        if self.verified:
            return True
        if self.certain_from is None and self.certain_to is None:
            return False
        return (self.certain_from is None or self.certain_from <= day) and (
            self.certain_to is None or day < self.certain_to
        )


@dataclass(frozen=True, slots=True)
class DeploymentView:
    id: int
    name: str
    kind: DeploymentKind
    provider: str
    served_name: str
    base_url: str | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    tokens_per_second: float | None
    privacy: Privacy
    max_context: int | None
    status: DeploymentStatus
    capabilities: frozenset[str] = frozenset()  # tools, json_schema, vision… (catalog/capabilities)


@dataclass(frozen=True, slots=True)
class ScoreView:
    """A published score with what it measured and who says so (scores files, model cards)."""

    benchmark: str
    score: float  # as published, a percentage
    setting: str
    source: str
    as_of: str | None = None


@dataclass(frozen=True, slots=True)
class ModelView:
    id: int
    hf_id: str
    name: str
    family: str
    parameters: int | None
    context_window: int | None
    release_date: dt.date | None
    capabilities: tuple[str, ...]
    periods: tuple[LicensePeriod, ...]
    parents: tuple[tuple[str, ParentRelation], ...]  # (parent hf_id, relation)
    deployments: tuple[DeploymentView, ...]
    scores: tuple[tuple[str, float], ...] = ()  # verified (benchmark, score) as published
    # The verified scores in full, for the ability model and the basis it names. Unverified
    # scores are not in the snapshot: the router never uses them.
    score_facts: tuple[ScoreView, ...] = ()
    embedding_dimensions: tuple[int, ...] = ()  # embedding models: sizes, their own first

    def periods_on(self, day: dt.date) -> list[LicensePeriod]:
        return [p for p in self.periods if p.in_force_on(day)]


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    version: int
    models: Mapping[str, ModelView]  # by hf_id
    aliases: Mapping[str, str]  # lower-case alias or id → hf_id
    licenses: Mapping[str, LicenseTerms]  # by licence id
    built_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Answers computed from this snapshot (the licence engine's), dropped with it.
    compliance_cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def find(self, ref: str) -> ModelView | None:
        hf_id = self.aliases.get(ref.strip().lower())
        return self.models.get(hf_id) if hf_id else None

    def lineage(self, model: ModelView) -> list[ModelView]:
        """The model, then each ancestor once, nearest first."""
        return list(
            breadth_first(
                model,
                lambda m: [self.models[p] for p, _ in m.parents if p in self.models],
                lambda m: m.hf_id,
            )
        )


def _deployment_view(row: Deployment) -> DeploymentView:
    prices = token_prices(row)
    return DeploymentView(
        id=row.id,
        name=row.name,
        kind=DeploymentKind(row.kind),
        provider=row.provider,
        served_name=row.served_name,
        base_url=row.base_url,
        input_cost_per_token=prices[0] if prices else None,
        output_cost_per_token=prices[1] if prices else None,
        tokens_per_second=row.tokens_per_second,
        privacy=Privacy(row.privacy),
        max_context=row.max_context,
        status=DeploymentStatus(row.status),
        capabilities=frozenset(row.capabilities or ()),
    )


def _model_view(row: Model, terms: Mapping[str, LicenseTerms]) -> ModelView:
    return ModelView(
        id=row.id,
        hf_id=row.hf_id,
        name=row.name,
        family=row.family,
        parameters=row.parameters,
        context_window=row.context_window,
        release_date=row.release_date,
        capabilities=tuple(row.capabilities),
        periods=tuple(
            LicensePeriod(
                terms[a.license_id],
                a.effective_from,
                a.effective_to,
                a.verified,
                a.note,
                a.certain_from,
                a.certain_to,
            )
            for a in row.licenses
        ),
        parents=tuple((e.parent.hf_id, ParentRelation(e.relation)) for e in row.parents),
        deployments=tuple(_deployment_view(d) for d in row.deployments),
        scores=tuple((s.benchmark, s.score) for s in row.scores if s.verified),
        score_facts=tuple(
            ScoreView(s.benchmark, s.score, s.setting, s.source, s.as_of)
            for s in row.scores
            if s.verified
        ),
        embedding_dimensions=tuple(row.embedding_dimensions or ()),
    )


def build_snapshot(session: Session) -> CatalogSnapshot:
    version = repo.catalog_version(session)
    terms = {row.id: LicenseTerms.of(row) for row in repo.list_licenses(session)}
    models: dict[str, ModelView] = {}
    aliases: dict[str, str] = {}
    for row in repo.all_models(session):
        models[row.hf_id] = _model_view(row, terms)
        aliases[row.hf_id.lower()] = row.hf_id
        for alias in row.aliases:
            aliases.setdefault(alias.alias, row.hf_id)
    return CatalogSnapshot(
        version, MappingProxyType(models), MappingProxyType(aliases), MappingProxyType(terms)
    )


class SnapshotCache:
    """Hands out the current snapshot; rebuilds it when the catalog version has moved.

    `get(session)` checks the version (one tiny query) for the catalog API; the router's hot
    path reads `current` instead, which a background task refreshes. `prepare` runs on each
    new snapshot before anyone can read it: work the router needs per catalog version (the
    ability model's fit) is done there, never by the request that first meets the version."""

    def __init__(self, prepare: Callable[[CatalogSnapshot], None] | None = None) -> None:
        self._snapshot: CatalogSnapshot | None = None
        self._lock = threading.Lock()
        self._prepare = prepare

    @property
    def current(self) -> CatalogSnapshot | None:
        return self._snapshot

    def get(self, session: Session) -> CatalogSnapshot:
        version = repo.catalog_version(session)
        current = self._snapshot
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                built = build_snapshot(session)
                if self._prepare is not None:
                    self._prepare(built)
                self._snapshot = built
            return self._snapshot
