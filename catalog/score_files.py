"""Files of benchmark scores: the seed's catalog/seed/scores*.yaml and the CSV or JSON files
users import (`modelyard catalog scores import`). One entry per score, in the same shape
everywhere (catalog.schemas.ScoreEntryIn); every error names the file, the entry and the
field, and a file with any bad entry is refused whole."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from catalog.errors import SeedError, validation_problems
from catalog.schemas import ScoreEntryIn

FIELDS = tuple(ScoreEntryIn.model_fields)


def _label(raw: Any, number: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("model"), str):
        bench = raw.get("benchmark")
        return f"entry {number} ({raw['model']}{f' {bench}' if isinstance(bench, str) else ''})"
    return f"entry {number}"


def _raw_entries(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SeedError(f"{path}: not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, text)
    try:
        raw = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if suffix == ".json" else "YAML"
        raise SeedError(f"{path}: not valid {kind}: {exc}") from exc
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SeedError(f"{path}: expected a list of scores, found {type(raw).__name__}")
    return raw


def _csv_rows(path: Path, text: str) -> list[Any]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise SeedError(
            f"{path}: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(FIELDS)}"
        )
    rows: list[Any] = []
    for row in reader:
        if None in row:
            raise SeedError(f"{path}: entry {len(rows) + 1}: more cells than columns")
        # Empty cells are absent fields; `verified` is written true/false.
        values: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
        if "verified" in values:
            flag = str(values["verified"]).strip().lower()
            values["verified"] = {"true": True, "false": False}.get(flag, values["verified"])
        rows.append(values)
    return rows


def read_score_file(path: Path) -> list[ScoreEntryIn]:
    """Every score of a YAML, JSON or CSV file, validated; duplicates refused."""
    entries = []
    for number, raw in enumerate(_raw_entries(path), start=1):
        try:
            entries.append(ScoreEntryIn.model_validate(raw))
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise SeedError(
                f"{path}: {_label(raw, number)}: {problems}",
                {"file": str(path), "entry": number},
            ) from exc
    check_unique([(path, number, entry) for number, entry in enumerate(entries, start=1)])
    return entries


def score_key(entry: ScoreEntryIn) -> tuple[str, str, str]:
    return (entry.model.lower(), entry.benchmark, entry.setting)


def check_unique(located: Iterable[tuple[Path, int, ScoreEntryIn]]) -> None:
    """A (model, benchmark, setting) triple is given once, across all files."""
    seen: dict[tuple[str, str, str], tuple[Path, int]] = {}
    for path, number, entry in located:
        key = score_key(entry)
        if key in seen:
            first_path, first = seen[key]
            # Entry 0 stands for a model's own `scores` list in models*.yaml.
            entry_name = f"entry {first}" if first else "a model's own scores"
            where = entry_name if first_path == path else f"{first_path} {entry_name}"
            raise SeedError(
                f"{path}: entry {number} ({entry.model} {entry.benchmark}): setting: "
                f"'{entry.setting}' repeats {where}; give each score its own setting",
                {"file": str(path), "entry": number, "field": "setting"},
            )
        seen[key] = (path, number)
