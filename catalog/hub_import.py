"""Adding and refreshing models from the Hugging Face Hub, with their lineage.

Each named repo is read (catalog/hub.py), then its parents up to a depth limit, so that the
licence engine sees the whole lineage. Writes go through the same service functions as the
seed and `models add`. Rules:

- Curated models (from the seed or added by hand: no hub revision) are never overwritten;
  they are linked as parents as they are.
- A licence tag the catalog has terms for maps to that licence; any other tag, `other`
  included, becomes a licence record marked unverified, so compliance answers say
  `needs_review` rather than guess.
- Re-importing is idempotent. A changed licence tag closes the open licence period on the
  day of the import and opens a new one: history is kept, never overwritten.
- Each repo's failure (not found, gated, rate-limited, malformed card) is reported in the
  summary; the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from catalog import licensing, service
from catalog import repository as repo
from catalog.errors import CatalogError
from catalog.hub import HubCard, HubError, HubMalformed, licence_tag_id
from catalog.orm import License, Model
from catalog.schemas import LicensePeriodIn, ModelIn, ParentIn, ScoreIn, UsageProfile
from catalog.snapshot import build_snapshot
from catalog.terms import CommercialUse, OutputsUse

DEFAULT_DEPTH = 3


class CardSource(Protocol):
    endpoint: str

    def card(self, repo_id: str) -> HubCard: ...

    def link(self, repo_id: str, target: str | None = None) -> str: ...


@dataclass
class ImportResult:
    repo_id: str
    status: str  # added, updated, unchanged, kept (curated), failed
    message: str = ""
    error: str | None = None  # the HubError code when failed
    parent_of: str | None = None  # set when imported as an ancestor
    conflicts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "status": self.status,
            "message": self.message,
            "error": self.error,
            "parent_of": self.parent_of,
            "conflicts": self.conflicts,
        }


@dataclass
class ImportReport:
    results: list[ImportResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def as_dict(self) -> dict[str, Any]:
        statuses = ("added", "updated", "unchanged", "kept", "failed")
        return {
            "summary": {s: self.count(s) for s in statuses},
            "results": [r.as_dict() for r in self.results],
        }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")[:50] or "other"


def licence_for(
    session: Session, card: HubCard, source: CardSource, today: dt.date | None = None
) -> tuple[str, bool]:
    """The catalog licence for the card's tag, and whether its terms are known. An unknown
    tag gets (or reuses) a licence record with every term unknown and unverified."""
    tag = (card.license_tag or "").lower()
    day = today or dt.datetime.now(dt.UTC).date()
    known = licence_tag_id(tag, card.license_name, card.repo_id, card.license_link, day)
    if known and repo.get_license(session, known) is not None:
        return known, True
    if tag in ("", "other"):
        label = card.license_name or f"licence of {card.repo_id}"
        licence_id = f"hf-{_slug(card.license_name or card.repo_id)}"
    else:
        label = f"{tag} (Hub licence tag)"
        licence_id = f"hf-{_slug(tag)}"
    if repo.get_license(session, licence_id) is None:
        link = source.link(card.repo_id, card.license_link) if card.license_link else None
        session.add(
            License(
                id=licence_id,
                name=label[:200],
                commercial_use=CommercialUse.UNKNOWN,
                research_only=False,
                ship_license_copy=False,
                redistribution_conditions=[],
                outputs_to_improve_models=OutputsUse.UNKNOWN,
                outputs_same_family_exception=False,
                user_threshold_measure="none",
                source=f"Hugging Face Hub licence tag '{tag or 'none'}' of {card.repo_id}",
                source_url=link,
                verified=False,
                unverified_terms=["commercial_use", "research_only", "outputs_to_improve_models"],
                clauses={},
                notes="Imported from a model card; nobody has read these terms yet.",
            )
        )
        session.flush()
    return licence_id, False


def _periods(
    model: Model | None, licence_id: str, verified: bool, card: HubCard, today: dt.date
) -> list[LicensePeriodIn]:
    source = f"Hugging Face card licence tag, revision {card.revision or 'unknown'}"
    history = [
        LicensePeriodIn(
            license=a.license_id,
            from_=a.effective_from,
            to=a.effective_to,
            verified=a.verified,
            certain_from=a.certain_from,
            certain_to=a.certain_to,
            source=a.source,
            note=a.note,
        )
        for a in (model.licenses if model else [])
    ]
    open_periods = [p for p in history if p.to is None]
    if any(p.license == licence_id for p in open_periods):
        return history  # the same licence is still in force
    closed = [
        p.model_copy(update={"to": today})
        if p.to is None and (p.from_ or dt.date.min) < today
        else p
        for p in history
    ]
    # A period that opened today and is already replaced would be empty: drop it.
    closed = [p for p in closed if not (p.to is None and p.from_ == today)]
    starts = today if history else None  # the first licence seen holds from the start
    closed.append(
        LicensePeriodIn(license=licence_id, from_=starts, verified=verified, source=source)
    )
    return closed


def _family(session: Session, card: HubCard) -> str:
    for parent_id, _relation in card.parents:
        parent = repo.find_model(session, parent_id)
        if parent is not None:
            return parent.family
    return _slug(card.model_type or card.repo_id.split("/")[0])


def _spec(
    session: Session, card: HubCard, model: Model | None, source: CardSource, today: dt.date
) -> ModelIn:
    licence_id, verified = licence_for(session, card, source, today)
    capabilities = ["chat"] if card.conversational else []
    try:
        return ModelIn(
            hf_id=card.repo_id,
            name=card.repo_id.split("/", 1)[1],
            family=_family(session, card),
            parameters=card.parameters,
            context_window=card.context_window,
            release_date=card.created,
            gated=card.gated,
            capabilities=capabilities,
            aliases=[a.alias for a in model.aliases] if model else [],
            licenses=_periods(model, licence_id, verified, card, today),
            parents=[ParentIn(model=p, relation=r) for p, r in card.parents],
            scores=[
                ScoreIn(
                    benchmark=s.benchmark,
                    score=s.score,
                    setting=s.setting,
                    source=f"model card of {card.repo_id} (model-index)",
                    source_url=source.link(card.repo_id),
                )
                for s in card.scores
            ],
            # The Hub's creation date is when the repo appeared, not always the release.
            unverified=["release_date"] if card.created else [],
            source=f"Hugging Face Hub card {card.repo_id} at revision {card.revision}",
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HubMalformed(f"{card.repo_id}: the card gives a bad {where}: {first['msg']}") from exc


class Importer:
    def __init__(
        self,
        session: Session,
        source: CardSource,
        depth: int = DEFAULT_DEPTH,
        today: dt.date | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.source = source
        self.depth = depth
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.progress = progress or (lambda _repo: None)
        self.report = ImportReport()
        self._done: dict[str, ImportResult] = {}

    def run(self, repo_ids: Sequence[str]) -> ImportReport:
        for repo_id in repo_ids:
            self._import(repo_id.strip(), self.depth, None)
        return self.report

    def _import(self, repo_id: str, depth: int, child: str | None) -> ImportResult:
        key = repo_id.lower()
        if key in self._done:
            return self._done[key]
        self.progress(repo_id)
        existing = repo.find_model(self.session, repo_id)
        if existing is not None and existing.hub_revision is None:
            result = ImportResult(
                existing.hf_id, "kept", "curated in the catalog (seed or added by hand)"
            )
        elif child is not None and depth < 0:
            result = ImportResult(repo_id, "failed", "deeper than the lineage depth limit", "depth")
        else:
            result = self._fetch_and_write(repo_id, existing, depth)
        result.parent_of = child
        self._done[key] = result
        self.report.results.append(result)
        return result

    def _fetch_and_write(self, repo_id: str, existing: Model | None, depth: int) -> ImportResult:
        try:
            card = self.source.card(repo_id)
            for parent_id, _ in card.parents:  # parents first, so the edges have a target
                self._import(parent_id, depth - 1, card.repo_id)
            return self._write(card, existing)
        except (HubError, CatalogError) as exc:
            code = exc.code if isinstance(exc, HubError) else "invalid"
            return ImportResult(repo_id, "failed", exc.message, code)

    def _write(self, card: HubCard, existing: Model | None) -> ImportResult:
        # Everything that can refuse a card is checked before the first write, so a refused
        # card leaves nothing half-written in the batch's transaction.
        missing = [p for p, _ in card.parents if repo.find_model(self.session, p) is None]
        if missing:
            card = _without_parents(card, missing)
        alias = card.repo_id.rsplit("/", 1)[-1].lower()
        owner = repo.alias_owner(self.session, alias)
        if owner is not None and owner is not existing:
            raise CatalogError(
                f"{card.repo_id}: its short name '{alias}' already names {owner.hf_id}"
            )
        spec = _spec(self.session, card, existing, self.source, self.today)
        model = service.apply_model(self.session, spec, existing, score_origin="hub")
        changed = existing is None or any(
            o in self.session.new or self.session.is_modified(o) for o in self._rows(model)
        )
        self.session.flush()
        edges = {(e.parent.hf_id, e.relation) for e in model.parents}
        service.apply_parents(self.session, model, spec)
        changed = changed or edges != {(e.parent.hf_id, e.relation) for e in model.parents}
        changed = changed or model.hub_revision != card.revision
        model.hub_revision = card.revision or "unknown"
        model.hub_last_modified = card.last_modified
        model.pipeline_tag = card.pipeline_tag
        self.session.flush()
        status = "added" if existing is None else ("updated" if changed else "unchanged")
        note = f"without parents not imported: {', '.join(missing)}" if missing else ""
        return ImportResult(model.hf_id, status, note)

    def _rows(self, model: Model) -> list[Any]:
        return [model, *model.licenses, *model.parents, *model.scores, *model.aliases]


def _without_parents(card: HubCard, missing: list[str]) -> HubCard:
    return replace(card, parents=tuple(p for p in card.parents if p[0] not in missing))


def import_from_hub(
    session: Session,
    source: CardSource,
    repo_ids: Sequence[str],
    depth: int = DEFAULT_DEPTH,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import the repos and their ancestors, then flag each imported model whose declared
    licence contradicts an ancestor's (the licence engine's conflicts, today)."""
    report = Importer(session, source, depth, progress=progress).run(repo_ids)
    snapshot = build_snapshot(session)
    for result in report.results:
        model = snapshot.find(result.repo_id)
        if result.status in ("added", "updated", "unchanged") and model is not None:
            compliance = licensing.check_model(snapshot, model, UsageProfile())
            result.conflicts = [c.message for c in compliance.conflicts]
    return report
