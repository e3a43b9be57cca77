"""Outcome files: which model answered which prompt well, and at what cost.

One CSV row per prompt: a `prompt` column, optionally `sample_id` and `eval_name` (the task
or data set), and for each model a score column `<model>` (0-1) and a cost column
`<model>|total_cost` (USD). The routing data in shared/data/routing/ has this shape, and so
must a user's own files.
"""

from __future__ import annotations

import ast
import csv
import gzip
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from router.core.errors import RouterError

COST_SUFFIX = "|total_cost"
INFO_COLUMNS = ("sample_id", "prompt", "eval_name")

# Prompts with few-shot examples run to hundreds of kilobytes; the csv module's default
# field limit (128 KiB) would refuse them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class OutcomeFileError(RouterError):
    code = "invalid_outcomes"


@dataclass(frozen=True)
class Outcomes:
    """Prompts x models: scores in [0, 1] and costs in USD, row-aligned with `prompts`."""

    models: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str, ...]  # eval_name per prompt, or the file's stem
    ids: tuple[str, ...]
    scores: npt.NDArray[np.float64]
    costs: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.prompts)

    def best_model_per_task(self) -> dict[str, str]:
        """Per task (eval_name), the model with the best mean score."""
        tasks = np.array(self.tasks)
        return {
            task: self.models[int(np.argmax(self.scores[tasks == task].mean(axis=0)))]
            for task in sorted(set(self.tasks))
        }

    def subset(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> Outcomes:
        index = np.asarray(rows, dtype=np.intp)
        return Outcomes(
            self.models,
            tuple(self.prompts[i] for i in index),
            tuple(self.tasks[i] for i in index),
            tuple(self.ids[i] for i in index),
            self.scores[index],
            self.costs[index],
        )


def prompt_text(cell: str) -> str:
    """The prompt as a model saw it. RouterBench-style files store a Python list of strings
    (`['…']`); anything else is taken as plain text."""
    stripped = cell.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return cell
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return "\n".join(value)
    return cell


def _number(path: Path, line: int, column: str, raw: str | None, *, score: bool) -> float:
    try:
        value = float(raw if raw is not None else "")
    except ValueError:
        raise OutcomeFileError(
            f"{path}:{line}: column '{column}' must be a number, got {raw!r}"
        ) from None
    if not np.isfinite(value) or value < 0 or (score and value > 1):
        bounds = "between 0 and 1" if score else "a cost of 0 USD or more"
        raise OutcomeFileError(f"{path}:{line}: column '{column}' must be {bounds}, got {raw}")
    return value


def _columns(path: Path, header: Sequence[str] | None) -> list[str]:
    if not header:
        raise OutcomeFileError(f"{path}: the file is empty (no header row)")
    if "prompt" not in header:
        raise OutcomeFileError(f"{path}: no 'prompt' column")
    models = [c for c in header if c not in INFO_COLUMNS and not c.endswith(COST_SUFFIX)]
    if not models:
        raise OutcomeFileError(f"{path}: no model score columns besides {', '.join(INFO_COLUMNS)}")
    missing = [m for m in models if m + COST_SUFFIX not in header]
    if missing:
        raise OutcomeFileError(
            f"{path}: model(s) without a cost column: "
            + ", ".join(f"'{m}' (expected '{m}{COST_SUFFIX}')" for m in missing)
        )
    return models


def load_file(path: Path) -> Outcomes:
    try:
        if path.suffix == ".gz":  # the outcome data that ships with the project is gzipped
            handle: TextIO = gzip.open(path, "rt", newline="", encoding="utf-8")  # noqa: SIM115
        else:
            handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise OutcomeFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        reader = csv.DictReader(handle)
        try:
            models = _columns(path, reader.fieldnames)
            prompts, tasks, ids, scores, costs = [], [], [], [], []
            for row in reader:
                line = reader.line_num
                text = prompt_text(row.get("prompt") or "")
                if not text.strip():
                    raise OutcomeFileError(f"{path}:{line}: the prompt is empty")
                prompts.append(text)
                tasks.append(row.get("eval_name") or path.name.split(".")[0])
                ids.append(row.get("sample_id") or f"{path.name}:{line}")
                scores.append([_number(path, line, m, row.get(m), score=True) for m in models])
                costs.append(
                    [
                        _number(path, line, m + COST_SUFFIX, row.get(m + COST_SUFFIX), score=False)
                        for m in models
                    ]
                )
        except (gzip.BadGzipFile, EOFError) as exc:
            raise OutcomeFileError(f"{path}: not a gzip file ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise OutcomeFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
        except csv.Error as exc:
            raise OutcomeFileError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from exc
    if not prompts:
        raise OutcomeFileError(f"{path}: no rows below the header")
    return Outcomes(
        tuple(models),
        tuple(prompts),
        tuple(tasks),
        tuple(ids),
        np.array(scores, dtype=np.float64),
        np.array(costs, dtype=np.float64),
    )


def load_outcomes(paths: Sequence[Path]) -> Outcomes:
    """Several files become one set over the models they all share."""
    if not paths:
        raise OutcomeFileError("name at least one outcome file")
    parts = [load_file(Path(p)) for p in paths]
    shared = [m for m in parts[0].models if all(m in part.models for part in parts[1:])]
    if not shared:
        raise OutcomeFileError("the outcome files have no model column in common")
    scores, costs = [], []
    for part in parts:
        columns = [part.models.index(m) for m in shared]
        scores.append(part.scores[:, columns])
        costs.append(part.costs[:, columns])
    return Outcomes(
        tuple(shared),
        tuple(p for part in parts for p in part.prompts),
        tuple(t for part in parts for t in part.tasks),
        tuple(i for part in parts for i in part.ids),
        np.vstack(scores),
        np.vstack(costs),
    )
