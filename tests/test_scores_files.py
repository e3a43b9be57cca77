"""Scores as data with their sources: the seed's scores files and `catalog scores import`,
strict about bad files (file, entry and field named; nothing half-written), unverified
scores shown but never in the router's snapshot."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from catalog import seeding, service
from catalog.db import transaction
from catalog.errors import SeedError
from catalog.orm import BenchmarkScore
from catalog.snapshot import build_snapshot
from tests.conftest import migrate, seed
from web.app import session_factory_for
from web.commands.root import app
from web.settings import Settings

GOOD = """\
- model: Qwen/Qwen3-235B-A22B
  benchmark: MMLU-Pro
  score: 68.18
  setting: "5-shot, CoT; base model"
  source: "A test table"
  source_url: "https://example.org/report"
  as_of: "2025-05-14"
  verified: true
- model: Qwen/Qwen3-235B-A22B
  benchmark: AIME-2024
  score: 85.7
  setting: "thinking on"
  source: "A test table"
  as_of: "commit 0123abcd"
- model: deepseek-ai/DeepSeek-R1
  benchmark: MATH-500
  score: 97.3
  setting: "pass@1"
  source: "Quoted by a third party"
  verified: false
"""


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    shutil.copytree(seeding.SEED_DIR, folder)
    for extra in folder.glob("scores*.yaml"):  # the real files are tested by test_seed
        extra.unlink()
    return folder


def _score_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BenchmarkScore)) or 0


def test_a_scores_file_is_seeded_with_date_and_verification(
    seed_copy: Path, sessions: sessionmaker[Session]
) -> None:
    (seed_copy / "scores-test.yaml").write_text(GOOD)
    with transaction(sessions) as session:
        report = seeding.apply_seed(session, seeding.load_seed(seed_copy), seed_copy)
    assert report.created["scores"] >= 3
    with transaction(sessions) as session:
        qwen = service.get_model(session, "Qwen/Qwen3-235B-A22B")
        mine = {(s.benchmark, s.setting): s for s in qwen.scores}
        assert mine["MMLU-Pro", "5-shot, CoT; base model"].as_of == "2025-05-14"
        assert mine["AIME-2024", "thinking on"].as_of == "commit 0123abcd"
        r1 = service.get_model(session, "deepseek-ai/DeepSeek-R1")
        assert [(s.benchmark, s.verified) for s in r1.scores] == [("MATH-500", False)]
        snapshot = build_snapshot(session)
    # The router's snapshot holds verified scores only.
    assert snapshot.models["deepseek-ai/DeepSeek-R1"].scores == ()
    facts = snapshot.models["Qwen/Qwen3-235B-A22B"].score_facts
    assert {(f.benchmark, f.score, f.setting) for f in facts} >= {
        ("MMLU-Pro", 68.18, "5-shot, CoT; base model"),
        ("AIME-2024", 85.7, "thinking on"),
    }
    with transaction(sessions) as session:  # a second seed changes nothing
        again = seeding.apply_seed(session, seeding.load_seed(seed_copy), seed_copy)
    assert sum(again.created.values()) == sum(again.updated.values()) == 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "model: deepseek-ai/DeepSeek-R1",
            "model: deepseek-ai/DeepSeek-R9",
            r"scores-test\.yaml: entry 3 \(deepseek-ai/DeepSeek-R9 MATH-500\): model: "
            r"'deepseek-ai/DeepSeek-R9' is not a model of the seed",
        ),
        ("score: 68.18", "score: 681.8", r"scores-test\.yaml: entry 1 .*score: Input should be"),
        (
            "benchmark: MMLU-Pro",
            "benchmark: MMLU Pro",
            r"entry 1 \(Qwen/Qwen3-235B-A22B MMLU Pro\): .*spelt 'MMLU-Pro'",
        ),
        ('as_of: "2025-05-14"', 'as_of: "last spring"', r"entry 1 .*as_of: String should match"),
        ('  source: "A test table"\n', "", r"entry 1 .*source: Field required"),
        ("  verified: true\n", "  verified: maybe\n", r"entry 1 .*verified: Input should be"),
        (
            'AIME-2024\n  score: 85.7\n  setting: "thinking on"',
            'MMLU-Pro\n  score: 85.7\n  setting: "5-shot, CoT; base model"',
            r"entry 2 \(Qwen/Qwen3-235B-A22B MMLU-Pro\): setting: .* repeats entry 1",
        ),
        ("- model: deepseek", "- modle: deepseek", r"entry 3.*modle: Extra inputs"),
    ],
)
def test_a_bad_scores_file_is_refused_naming_file_entry_and_field(
    seed_copy: Path, sessions: sessionmaker[Session], old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    (seed_copy / "scores-test.yaml").write_text(GOOD.replace(old, new, 1))
    with pytest.raises(SeedError, match=expected), transaction(sessions) as session:
        seeding.apply_seed(session, seeding.load_seed(seed_copy), seed_copy)
    with transaction(sessions) as session:
        assert _score_rows(session) == 0


def test_a_score_repeated_across_files_names_both(seed_copy: Path) -> None:
    (seed_copy / "scores-a.yaml").write_text(GOOD)
    (seed_copy / "scores-b.yaml").write_text(GOOD[: GOOD.index("- model: Qwen", 10)])
    with pytest.raises(SeedError, match=r"scores-b\.yaml: entry 1 .*repeats .*scores-a\.yaml"):
        seeding.load_seed(seed_copy)


runner = CliRunner()


def _cli(url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env={"MODELYARD_DATABASE_URL": url})
    assert result.exit_code == code, result.output
    return result.output


CSV = """\
model,benchmark,score,setting,source,source_url,as_of,verified
Qwen/Qwen3-8B,MMLU-Pro,56.73,"5-shot, CoT",our own run,,2026-11-01,true
qwen3-8b,GSM8K,89.8,4-shot,our own run,,2026-11-01,
microsoft/phi-2,IFEval,30.0,strict prompt,a blog,,,false
"""


def test_users_import_scores_from_csv_and_json(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    _cli(database_url, "catalog", "seed")
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text(CSV.replace("qwen3-8b", "Qwen/Qwen3-8B"))
    out = _cli(database_url, "catalog", "scores", "import", str(csv_file))
    assert "3 score(s) added, 0 replaced (1 unverified" in out
    json_file = tmp_path / "mine.json"
    entry = {
        "model": "Qwen/Qwen3-8B",
        "benchmark": "MMLU-Pro",
        "score": 57.0,
        "setting": "5-shot, CoT",
        "source": "our second run",
    }
    json_file.write_text(json.dumps([entry]))
    out = _cli(database_url, "catalog", "scores", "import", str(json_file))
    assert "0 score(s) added, 1 replaced" in out
    shown = _cli(database_url, "catalog", "show", "microsoft/phi-2")
    assert "IFEval" in shown and "unverified: not used for routing" in shown
    # A reseed keeps what the user imported.
    _cli(database_url, "catalog", "seed")
    shown = _cli(database_url, "catalog", "show", "Qwen/Qwen3-8B")
    assert "our second run" in shown and "our own run" in shown


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("56.73", "-3"), r"entry 1 \(Qwen/Qwen3-8B MMLU-Pro\): score: Input should be greater"),
        (("Qwen/Qwen3-8B,MMLU", "Qwen/Qwen3-9B,MMLU"), r"entry 1: model: 'Qwen/Qwen3-9B' is not"),
        (("source_url", "url"), r"unknown column\(s\) url"),
        (("GSM8K", "gsm-8k"), r"entry 2 .*spelt 'GSM8K'"),
        ((",false", ",nope"), r"entry 3 .*verified: Input should be a valid boolean"),
    ],
)
def test_a_bad_import_is_refused_whole(
    database_url: str, tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    migrate(database_url)
    # A copy of the suite's seeded template (the seed itself is tested above and by test_seed).
    engine, factory = session_factory_for(Settings(database_url=database_url))
    seed(factory)
    engine.dispose()
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("qwen3-8b", "Qwen/Qwen3-8B").replace(*change, 1))
    result = runner.invoke(
        app, ["catalog", "scores", "import", str(bad)], env={"MODELYARD_DATABASE_URL": database_url}
    )
    assert result.exit_code != 0
    assert re.search(expected, " ".join(result.output.split())), result.output
    shown = _cli(database_url, "catalog", "show", "Qwen/Qwen3-8B")
    assert "our own run" not in shown
