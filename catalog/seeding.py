"""Load the seed catalog from YAML files and bring the database in line with it, idempotently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from catalog import repository as repo
from catalog import service
from catalog.errors import CatalogError, SeedError, validation_problems
from catalog.orm import License
from catalog.prices import hosted_price
from catalog.schemas import DeploymentIn, LicenseIn, ModelIn, ScoreEntryIn, ScoreIn
from catalog.score_files import check_unique, read_score_file

SEED_DIR = Path(__file__).parent / "seed"
FILES = {
    "licenses": "licenses.yaml",
    "models": "models.yaml",
    "deployments": "deployments.yaml",
    "scores": "scores.yaml",
}


def seed_files(directory: Path, kind: str) -> list[Path]:
    """`models.yaml`, then any `models-<part>.yaml` beside it in name order: a large seed is
    split by family (models-2025.yaml, …) and each part reads like the main file."""
    main = directory / FILES[kind]
    parts = sorted(directory.glob(f"{main.stem}-*{main.suffix}"))
    # Scores live only in parts (scores-2025-a.yaml, …); a main scores.yaml is optional.
    return parts if kind == "scores" and not main.exists() else [main, *parts]


Entry = TypeVar("Entry", bound=BaseModel)


@dataclass
class SeedData:
    licenses: list[LicenseIn]
    models: list[ModelIn]
    deployments: list[DeploymentIn]
    # The file each entry of an extra file came from (by licence id, hf_id or deployment
    # name), so errors name it; entries of the main files are not listed.
    origins: dict[str, str] = field(default_factory=dict)

    # Scores from the scores files, already folded into their models' `scores`: kept to count.
    score_files: int = 0

    def file_of(self, kind: str, key: str | None) -> str:
        return self.origins.get(f"{kind}:{key}", FILES[kind])


@dataclass
class SeedReport:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    version: int = 0


def _entry_label(raw: Any, index: int) -> str:
    if isinstance(raw, dict):
        for key in ("id", "hf_id", "name"):
            if isinstance(raw.get(key), str):
                return f"entry {index + 1} ({raw[key]})"
    return f"entry {index + 1}"


def _read_list(path: Path, schema: type[Entry]) -> list[Entry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SeedError(f"{path}: expected a list of entries, found {type(raw).__name__}")
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(schema.model_validate(item))
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise SeedError(
                f"{path}: {_entry_label(item, index)}: {problems}",
                {"file": str(path), "entry": index + 1},
            ) from exc
    return entries


def _check_references(directory: Path, data: SeedData) -> None:
    """Every name a seed file uses must be defined, and defined once."""

    def fail(kind: str, message: str, key: str | None = None) -> None:
        raise SeedError(f"{directory / data.file_of(kind, key)}: {message}")

    for kind, keys in (
        ("licenses", [lic.id for lic in data.licenses]),
        ("models", [m.hf_id.lower() for m in data.models]),
        ("deployments", [d.name for d in data.deployments if d.name]),
    ):
        repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
        if repeated:
            fail(kind, f"defined more than once: {', '.join(repeated)}")
    licenses = {lic.id for lic in data.licenses}
    models = {m.hf_id.lower() for m in data.models}
    for model in data.models:
        for period in model.licenses:
            if period.license not in licenses:
                fail("models", f"{model.hf_id}: unknown licence '{period.license}'", model.hf_id)
        for parent in model.parents:
            if parent.model.lower() not in models:
                message = f"{model.hf_id}: unknown parent model '{parent.model}'"
                fail("models", message, model.hf_id)
    for deployment in data.deployments:
        if deployment.model.lower() not in models:
            message = f"{deployment.name}: unknown model '{deployment.model}'"
            fail("deployments", message, deployment.name)


def _read_all(
    directory: Path, kind: str, schema: type[Entry], origins: dict[str, str]
) -> list[Entry]:
    """Every entry of a kind, main file first; entries of the other files are noted in
    `origins` so that errors name their file."""
    key = {"licenses": "id", "models": "hf_id"}.get(kind, "name")
    entries: list[Entry] = []
    for path in seed_files(directory, kind):
        for entry in _read_list(path, schema):
            if path.name != FILES[kind]:
                origins[f"{kind}:{getattr(entry, key)}"] = path.name
            entries.append(entry)
    return entries


def _fold_scores(directory: Path, models: list[ModelIn]) -> tuple[list[ModelIn], int]:
    """The scores files' entries added to their models' own `scores` lists; a score for a
    model the seed does not define, or given twice, names its file and entry."""
    files = seed_files(directory, "scores")
    located = [(path, n, e) for path in files for n, e in enumerate(read_score_file(path), 1)]
    inline = [
        (directory / "models*.yaml", 0, entry)
        for model in models
        for entry in _inline_entries(model)
    ]
    check_unique([*inline, *located])
    by_model = {model.hf_id.lower(): model for model in models}
    extra: dict[str, list[ScoreIn]] = {}
    for path, number, entry in located:
        if entry.model.lower() not in by_model:
            raise SeedError(
                f"{path}: entry {number} ({entry.model} {entry.benchmark}): model: "
                f"'{entry.model}' is not a model of the seed (models*.yaml hf_id)",
                {"file": str(path), "entry": number, "field": "model"},
            )
        score = ScoreIn.model_validate(entry.model_dump(exclude={"model"}))
        extra.setdefault(entry.model.lower(), []).append(score)
    folded = [
        m.model_copy(update={"scores": [*m.scores, *extra[m.hf_id.lower()]]})
        if m.hf_id.lower() in extra
        else m
        for m in models
    ]
    return folded, len(located)


def _inline_entries(model: ModelIn) -> list[ScoreEntryIn]:
    return [
        ScoreEntryIn.model_validate({**s.model_dump(), "model": model.hf_id}) for s in model.scores
    ]


def load_seed(directory: Path = SEED_DIR) -> SeedData:
    origins: dict[str, str] = {}
    models, score_count = _fold_scores(directory, _read_all(directory, "models", ModelIn, origins))
    data = SeedData(
        licenses=_read_all(directory, "licenses", LicenseIn, origins),
        models=models,
        deployments=_read_all(directory, "deployments", DeploymentIn, origins),
        origins=origins,
        score_files=score_count,
    )
    _check_references(directory, data)
    return data


def _license_values(spec: LicenseIn) -> dict[str, Any]:
    values = spec.model_dump(exclude={"id"})
    for url in ("source_url", "acceptable_use_policy_url"):
        values[url] = str(values[url]) if values[url] else None
    return values


def apply_seed(session: Session, data: SeedData, directory: Path = SEED_DIR) -> SeedReport:
    """Create or update every seed entry. Entries the seed does not name (models and
    deployments users added) are left alone."""
    report = SeedReport()

    def count(kind: str, obj: object, existed: bool) -> None:
        if not existed:
            report.created[kind] += 1
        elif session.is_modified(obj) or obj in session.new:
            report.updated[kind] += 1
        else:
            report.unchanged[kind] += 1

    for lic in data.licenses:
        row = repo.get_license(session, lic.id)
        existed = row is not None
        if row is None:
            row = License(id=lic.id)
            session.add(row)
        service._set(row, _license_values(lic))
        count("licenses", row, existed)
    session.flush()

    def touched(objects: list[Any]) -> bool:
        return any(o in session.new or session.is_modified(o) for o in objects)

    models = {}
    known = repo.models_by_reference(session)
    for spec in data.models:
        existing = known.get(spec.hf_id.strip().lower())
        try:
            model = service.apply_model(session, spec, existing)
        except CatalogError as exc:
            where = directory / data.file_of("models", spec.hf_id)
            raise SeedError(f"{where}: {spec.hf_id}: {exc.message}") from exc
        parts = [model, *model.aliases, *model.licenses, *model.scores]
        for score in model.scores:
            count("scores", score, score not in session.new)
        models[spec.hf_id] = (model, existing is not None, touched(parts))
        known[spec.hf_id.strip().lower()] = model
    session.flush()
    for spec in data.models:
        model, existed, changed = models[spec.hf_id]
        service.apply_parents(session, model, spec, known)
        changed = changed or touched([model, *model.parents])
        kind_counter = (
            (report.updated if changed else report.unchanged) if existed else report.created
        )
        kind_counter["models"] += 1
    session.flush()

    for dep_spec in data.deployments:
        existing_dep = repo.get_deployment(session, dep_spec.name) if dep_spec.name else None
        try:
            deployment = service.upsert_deployment(session, dep_spec, hosted_price, known)
        except CatalogError as exc:
            where = directory / data.file_of("deployments", dep_spec.name)
            raise SeedError(f"{where}: {dep_spec.name}: {exc.message}") from exc
        count("deployments", deployment, existing_dep is not None)
    session.flush()
    report.version = repo.catalog_version(session)
    return report
