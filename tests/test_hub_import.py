"""Importing from the Hugging Face Hub: huggingface-hub's real client against a local Hub
emulator (tests/hub_emulator.py) serving recorded cards, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from catalog import repository as repo
from catalog.db import transaction
from catalog.hub import HubClient
from catalog.hub_import import ImportReport, import_from_hub
from catalog.licensing import check_model
from catalog.schemas import UsageProfile
from catalog.snapshot import build_snapshot
from router.accounts import keys
from tests.conftest import free_port, seed
from tests.hub_emulator import TOKEN
from tests.servers import ServerProcess
from web.app import create_app
from web.commands.root import app as cli_app
from web.settings import Settings

CARDS = Path(__file__).parent / "hub_cards"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """A copy of the recorded cards that a test may change between imports."""
    folder = tmp_path / "cards"
    shutil.copytree(CARDS, folder)
    return folder


@pytest.fixture
def hub(cards: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    args = ["-m", "tests.hub_emulator", str(port), str(cards)]
    server = ServerProcess(args, port, "/api/models/none/none", tmp_path / "hub.log")
    yield server
    server.stop()


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    seed(sessions)
    return sessions


def run_import(
    sessions: sessionmaker[Session], hub: ServerProcess, *repos: str, token: str | None = None
) -> ImportReport:
    with transaction(sessions) as session:
        return import_from_hub(session, HubClient(hub.base_url, token), list(repos))


def by_repo(report: ImportReport) -> dict[str, Any]:
    return {r.repo_id: r for r in report.results}


def test_a_fine_tune_arrives_with_its_card(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    report = run_import(seeded, hub, "acme/llama-2-7b-support")
    results = by_repo(report)
    assert results["acme/llama-2-7b-support"].status == "added"
    # Its base is curated in the seed: linked, never overwritten.
    assert results["meta-llama/Llama-2-7b-chat-hf"].status == "kept"
    assert results["meta-llama/Llama-2-7b-chat-hf"].parent_of == "acme/llama-2-7b-support"
    with seeded() as session:
        model = repo.find_model(session, "acme/llama-2-7b-support")
        assert model is not None
        assert model.family == "llama-2"  # from its parent
        assert model.parameters == 6_738_415_616 and model.context_window == 4096
        assert model.capabilities == ["chat"] and model.gated is False
        assert model.hub_revision == "3f1e0c5a9b7d2e4f6a8c0b1d3e5f7a9c1b3d5e7f"
        assert model.pipeline_tag == "text-generation"
        assert model.release_date == dt.date(2024, 2, 10)
        assert "release_date" in model.unverified_fields
        assert [(p.parent.hf_id, p.relation) for p in model.parents] == [
            ("meta-llama/Llama-2-7b-chat-hf", "finetune")
        ]
        assert [(a.license_id, a.effective_from, a.effective_to) for a in model.licenses] == [
            ("llama2", None, None)
        ]
        scores = {s.benchmark: (s.score, s.source) for s in model.scores}
        assert scores["MMLU"][0] == pytest.approx(47.31)
        assert scores["ARC-Challenge"][0] == pytest.approx(54.01)  # a fraction, as percent
        assert "model card of acme/llama-2-7b-support" in scores["MMLU"][1]
        # A dataset the catalog has no name for keeps the card's own name, never dropped.
        assert set(scores) == {"MMLU", "ARC-Challenge", "Some Private Eval"}
        assert scores["Some Private Eval"][0] == pytest.approx(88.0)


def test_a_quantised_upload_claiming_apache_over_llama_2_is_a_conflict(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    report = run_import(seeded, hub, "quant/Llama-2-7B-Chat-AWQ")
    result = by_repo(report)["quant/Llama-2-7B-Chat-AWQ"]
    assert result.status == "added"
    assert any("more permissive than Llama 2" in c for c in result.conflicts)
    with seeded() as session:
        model = repo.find_model(session, "quant/Llama-2-7B-Chat-AWQ")
        assert model is not None and model.parents[0].relation == "quantized"
        snapshot = build_snapshot(session)
    view = snapshot.find("quant/Llama-2-7B-Chat-AWQ")
    assert view is not None
    # The ancestor's terms still decide: 800M users at Llama 2's release is over its threshold.
    big = UsageProfile(commercial=True, monthly_active_users_at_release=800_000_000)
    assert check_model(snapshot, view, big).verdict == "forbidden"


def test_an_other_licence_is_recorded_unverified_and_needs_review(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    run_import(seeded, hub, "acme/other-licence")
    with seeded() as session:
        licence = repo.get_license(session, "hf-acme-research-license")
        assert licence is not None and licence.verified is False
        assert licence.commercial_use == "unknown"
        assert licence.source_url == f"{hub.base_url}/acme/other-licence/blob/main/LICENSE"
        snapshot = build_snapshot(session)
    view = snapshot.find("acme/other-licence")
    assert view is not None
    assert check_model(snapshot, view, UsageProfile(commercial=True)).verdict == "needs_review"


def test_parents_are_imported_too_up_to_the_depth(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    results = by_repo(run_import(seeded, hub, "acme/chain-child"))
    assert results["acme/chain-parent"].status == "added"
    assert results["acme/chain-parent"].parent_of == "acme/chain-child"
    assert results["mistralai/Mistral-7B-v0.1"].status == "kept"
    with seeded() as session:
        snapshot = build_snapshot(session)
    child = snapshot.find("acme/chain-child")
    assert child is not None
    assert [m.hf_id for m in snapshot.lineage(child)] == [
        "acme/chain-child",
        "acme/chain-parent",
        "mistralai/Mistral-7B-v0.1",
    ]
    shallow = run_import(seeded, hub, "acme/chain-child")  # already there: unchanged
    assert by_repo(shallow)["acme/chain-child"].status == "unchanged"


def test_depth_zero_imports_no_parent(seeded: sessionmaker[Session], hub: ServerProcess) -> None:
    with transaction(seeded) as session:
        report = import_from_hub(session, HubClient(hub.base_url), ["acme/chain-child"], depth=0)
    results = by_repo(report)
    assert results["acme/chain-parent"].status == "failed"
    assert results["acme/chain-child"].status == "added"
    assert "without parents not imported: acme/chain-parent" in results["acme/chain-child"].message


def test_failures_are_reported_and_the_batch_goes_on(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    report = run_import(
        seeded,
        hub,
        "acme/gated-model",
        "nobody/nothing",
        "acme/rate-limited",
        "acme/broken-card",
        "acme/other-licence",
    )
    results = by_repo(report)
    assert {repo_id: r.error for repo_id, r in results.items() if r.status == "failed"} == {
        "acme/gated-model": "gated",
        "nobody/nothing": "not_found",
        "acme/rate-limited": "rate_limited",
        "acme/broken-card": "malformed_card",
    }
    assert "MODELYARD_HF_TOKEN" in results["acme/gated-model"].message
    assert results["acme/other-licence"].status == "added"
    with seeded() as session:
        assert repo.find_model(session, "acme/broken-card") is None
    # With the token, the gated repo comes in.
    gated = run_import(seeded, hub, "acme/gated-model", token=TOKEN)
    assert by_repo(gated)["acme/gated-model"].status == "added"


def test_reimport_is_idempotent_and_a_licence_change_keeps_history(
    seeded: sessionmaker[Session], hub: ServerProcess, cards: Path
) -> None:
    assert by_repo(run_import(seeded, hub, "acme/chain-parent"))["acme/chain-parent"].status == (
        "added"
    )
    again = run_import(seeded, hub, "acme/chain-parent")
    assert by_repo(again)["acme/chain-parent"].status == "unchanged"

    card_file = cards / "acme__chain-parent.json"
    card = json.loads(card_file.read_text())
    card["cardData"]["license"] = "mit"
    card["sha"] = "7777777777777777777777777777777777777777"
    card_file.write_text(json.dumps(card))
    changed = run_import(seeded, hub, "acme/chain-parent")
    assert by_repo(changed)["acme/chain-parent"].status == "updated"
    today = dt.datetime.now(dt.UTC).date()
    with seeded() as session:
        model = repo.find_model(session, "acme/chain-parent")
        assert model is not None and model.hub_revision == card["sha"]
        history = sorted(
            ((a.license_id, a.effective_from, a.effective_to) for a in model.licenses),
            key=lambda row: row[1] or dt.date.min,
        )
    assert history == [("apache-2.0", None, today), ("mit", today, None)]


def test_curated_models_are_never_overwritten(
    seeded: sessionmaker[Session], hub: ServerProcess, cards: Path
) -> None:
    shutil.copy(cards / "acme__chain-parent.json", cards / "microsoft__phi-2.json")
    results = by_repo(run_import(seeded, hub, "microsoft/phi-2"))
    assert results["microsoft/phi-2"].status == "kept"
    with seeded() as session:
        model = repo.find_model(session, "phi-2")
        assert model is not None and model.hub_revision is None
        assert {a.license_id for a in model.licenses} == {"msr", "mit"}


def test_cli_imports_with_a_summary(
    database_url: str, settings: Settings, seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    env = {"MODELYARD_DATABASE_URL": database_url, "MODELYARD_HF_ENDPOINT": hub.base_url}
    runner = CliRunner()
    table = runner.invoke(
        cli_app, ["catalog", "import", "hf", "acme/chain-child", "nobody/nothing"], env=env
    )
    assert table.exit_code == 0, table.output
    assert "acme/chain-parent" in table.output and "not on the Hub" in table.output
    assert "added: 2" in table.output and "failed: 1" in table.output
    report = runner.invoke(
        cli_app, ["catalog", "import", "hf", "acme/chain-child", "--json"], env=env
    )
    assert json.loads(report.output)["summary"]["unchanged"] == 2
    failed = runner.invoke(cli_app, ["catalog", "import", "hf", "nobody/nothing"], env=env)
    assert failed.exit_code == 1


def test_admin_endpoint(
    settings: Settings, seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    with transaction(seeded) as session:
        _, admin = keys.create_key(session, "ops", admin=True)
        _, user = keys.create_key(session, "app")
    settings = settings.model_copy(update={"hf_endpoint": hub.base_url})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"repos": ["acme/llama-2-7b-support"]}
        assert client.post("/api/catalog/import", json=body).status_code == 401
        refused = client.post(
            "/api/catalog/import", json=body, headers={"Authorization": f"Bearer {user}"}
        )
        assert refused.status_code == 403
        bad = client.post(
            "/api/catalog/import",
            json={"repos": ["not a repo id"]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert bad.status_code == 422 and "repos" in bad.json()["error"]["message"]
        done = client.post(
            "/api/catalog/import", json=body, headers={"Authorization": f"Bearer {admin}"}
        )
        assert done.status_code == 200, done.text
        assert done.json()["summary"]["added"] == 1
        shown = client.get("/api/models/acme/llama-2-7b-support")
        assert shown.status_code == 200


# --- the 2025-2026 licence tags and unmapped benchmarks ----------------------------------------


def test_newer_licence_tags_map_to_their_terms(
    seeded: sessionmaker[Session], hub: ServerProcess
) -> None:
    report = run_import(
        seeded,
        hub,
        "acme/sql-coder-70b",
        "acme/Kimi-K2-Instruct-GGUF",
        "acme/gemma-3-4b-support",
        "acme/mistral-large-research",
        "acme/other-licence",
    )
    results = by_repo(report)
    assert all(results[r].status == "added" for r in results if r.startswith("acme/")), results
    with seeded() as session:

        def licences(repo_id: str) -> list[str]:
            model = repo.find_model(session, repo_id)
            assert model is not None
            return [a.license_id for a in model.licenses]

        assert licences("acme/sql-coder-70b") == ["llama3.3"]
        assert licences("acme/Kimi-K2-Instruct-GGUF") == ["kimi-k2-modified-mit"]
        # `gemma` means the Terms of Use version in force on the day of the import.
        assert licences("acme/gemma-3-4b-support")[0].startswith("gemma-20")
        assert licences("acme/mistral-large-research") == ["mrl"]
        assert licences("acme/other-licence") == ["hf-acme-research-license"]  # unread terms
        sql = repo.find_model(session, "acme/sql-coder-70b")
        assert sql is not None
        scores = {s.benchmark: s.score for s in sql.scores}
        assert scores == {"Spider": pytest.approx(81.2), "MMLU": pytest.approx(79.5)}
    # Llama 3.3 §1.b.i: a distributed derivative's name must begin with "Llama".
    assert any('begin with "Llama"' in c for c in results["acme/sql-coder-70b"].conflicts)


def test_modified_mit_of_someone_else_is_not_taken_for_kimis() -> None:
    from catalog.hub import licence_tag_id

    day = dt.date(2026, 11, 1)
    link = "https://github.com/MoonshotAI/Kimi-K2/blob/main/LICENSE"
    assert licence_tag_id("other", "modified-mit", "acme/k2-gguf", link, day) == (
        "kimi-k2-modified-mit"
    )
    assert licence_tag_id("other", "modified-mit", "acme/tool", "LICENSE", day) is None
    assert licence_tag_id("gemma", None, "google/gemma-2-9b", None, dt.date(2024, 6, 1)) == "gemma"
    assert licence_tag_id("gemma", None, "x/y", None, dt.date(2025, 6, 1)) == "gemma-2025-03-24"
    assert licence_tag_id("gemma", None, "x/y", None, day) == "gemma-2026-04-01"
    assert licence_tag_id("falcon-llm-license", None, "x/y", None, day) == "falcon-2.0"
    assert licence_tag_id("llama4", None, "x/y", None, day) == "llama4"
