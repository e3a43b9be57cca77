"""The seed catalog: complete, faithful to the facts, idempotent, and strict about bad files."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog import repository as repo
from catalog import seeding, service
from catalog.db import transaction
from catalog.errors import SeedError
from catalog.orm import Deployment, License, LicenseAssignment, Model
from catalog.prices import COST_MAP_FILE
from tests.conftest import seed


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(t)) or 0
        for t in (License, Model, LicenseAssignment, Deployment)
    )


def test_seed_is_idempotent(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        first = _counts(session)
        version = repo.catalog_version(session)
    with transaction(sessions) as session:
        report = seeding.apply_seed(session, seeding.load_seed())
    with transaction(sessions) as session:
        assert _counts(session) == first
        assert repo.catalog_version(session) == version
    assert sum(report.created.values()) == 0
    assert sum(report.updated.values()) == 0
    assert report.unchanged["models"] == first[1]


def test_seed_keeps_user_deployments_and_repairs_edits(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        phi2 = service.get_model(session, "phi-2")
        session.add(
            Deployment(
                name="mine/phi-2",
                model_id=phi2.id,
                kind="local",
                provider="vllm",
                served_name="phi-2",
                base_url="http://127.0.0.1:9000/v1",
                price_source="free",
                privacy="local",
            )
        )
        llama2 = repo.get_license(session, "llama2")
        assert llama2 is not None
        llama2.commercial_use = "forbidden"  # type: ignore[assignment]
    with transaction(sessions) as session:
        report = seeding.apply_seed(session, seeding.load_seed())
        assert report.updated["licenses"] == 1
        assert repo.get_deployment(session, "mine/phi-2") is not None
        repaired = repo.get_license(session, "llama2")
        assert repaired is not None and repaired.commercial_use == "allowed"


def _fact_rows(section: str) -> list[str]:
    """First cells of the table under a heading of ../shared/facts/licenses.md."""
    facts = Path(__file__).resolve().parents[2] / "shared" / "facts" / "licenses.md"
    text = facts.read_text(encoding="utf-8").split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("|")]
    return [c for c in cells[2:] if c]  # skip the header and its rule


def test_every_fact_model_and_licence_is_seeded() -> None:
    data = seeding.load_seed()
    licence_ids = {lic.id for lic in data.licenses}
    assert set(_fact_rows("Licence profiles")) <= licence_ids  # licenses-2025.md adds more
    seeded = {m.hf_id for m in data.models}
    for row in _fact_rows("Models"):
        # "google/gemma-2b, gemma-7b" and "meta-llama/Meta-Llama-3-8B(-Instruct)": the first id.
        first = row.split(",")[0].split("(")[0].split(" ")[0]
        assert first in seeded, row


def test_phi2_licence_history(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        phi2 = service.get_model(session, "microsoft/phi-2")
        periods = [(a.license_id, a.effective_from, a.effective_to) for a in phi2.licenses]
        # MIT "by 2024-01-06": the periods overlap over the uncertain window, and each says
        # where it surely held.
        assert periods == [
            ("msr", dt.date(2023, 12, 12), dt.date(2024, 1, 6)),
            ("mit", dt.date(2023, 12, 13), None),
        ]
        assert [(a.verified, a.certain_from, a.certain_to) for a in phi2.licenses] == [
            (False, None, dt.date(2023, 12, 13)),
            (False, dt.date(2024, 1, 6), None),
        ]
        assert [a.in_force_on(dt.date(2023, 12, 20)) for a in phi2.licenses] == [True, True]
        assert [a.in_force_on(dt.date(2024, 2, 1)) for a in phi2.licenses] == [False, True]


def test_falcon_and_phi4_changed_licence(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        for ref, before, after in (
            ("tiiuae/falcon-40b", "falcon-llm-1.0", "apache-2.0"),
            ("tiiuae/falcon-7b", "falcon-llm-1.0", "apache-2.0"),
            ("microsoft/phi-4", "msr", "mit"),
        ):
            model = service.get_model(session, ref)
            ids = [a.license_id for a in model.licenses]
            assert ids == [before, after], ref
            # The change date is approximate: the later licence is sure from where the
            # earlier one may have lasted to.
            assert model.licenses[0].effective_to == model.licenses[1].certain_from
            assert not model.licenses[0].verified and not model.licenses[1].verified


def test_lineage_is_recorded(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        orca = service.get_model(session, "microsoft/Orca-2-13b")
        assert [(e.parent.hf_id, e.relation) for e in orca.parents] == [
            ("meta-llama/Llama-2-13b-hf", "finetune")
        ]
        vicuna = service.get_model(session, "lmsys/vicuna-13b-v1.5")
        assert [p.parent.hf_id for p in vicuna.parents] == ["meta-llama/Llama-2-13b-hf"]


def test_unverified_facts_stay_unverified(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        msr = repo.get_license(session, "msr")
        llama2 = repo.get_license(session, "llama2")
        qwen = repo.get_license(session, "qwen")
        assert msr is not None and llama2 is not None and qwen is not None
        assert not msr.verified and "outputs_to_improve_models" in msr.unverified_terms
        assert llama2.verified and llama2.unverified_terms == []
        assert not qwen.verified and "redistribution_conditions" in qwen.unverified_terms
        assert qwen.user_threshold == 100_000_000 and qwen.user_threshold_measure == "at_any_time"
        assert llama2.user_threshold_measure == "at_release"
        phi1 = service.get_model(session, "microsoft/phi-1")
        assert phi1.licenses[0].verified is False
        phi2 = service.get_model(session, "phi-2")
        assert set(phi2.unverified_fields) == {"context_window", "gated"}
        assert phi2.gated is False
        bloom = service.get_model(session, "bigscience/bloom")
        assert bloom.gated is None  # "nv" in the facts: unknown, not a guess
        rail = repo.get_license(session, "bigscience-rail-1.0")
        assert rail is not None and "commercial_use" in rail.unverified_terms


def test_core_models_are_complete(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        for ref in (
            "microsoft/phi-2",
            "meta-llama/Llama-2-7b-hf",
            "meta-llama/Llama-2-7b-chat-hf",
            "meta-llama/Llama-2-13b-hf",
            "meta-llama/Llama-2-13b-chat-hf",
            "meta-llama/Llama-2-70b-hf",
            "meta-llama/Llama-2-70b-chat-hf",
            "mistralai/Mistral-7B-v0.1",
        ):
            model = service.get_model(session, ref)
            assert model.parameters and model.context_window and model.release_date, ref
            assert model.licenses, ref
            assert len(model.scores) >= 5, ref
            assert all(s.source and s.source_url for s in model.scores), ref
            assert any(d.kind == "hosted" for d in model.deployments), ref


def test_hosted_prices_come_from_litellms_cost_map(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    # Read the bundled JSON independently of catalog.prices.
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    cost_map = json.loads(
        (Path(next(iter(spec.submodule_search_locations))) / COST_MAP_FILE).read_text()
    )
    with transaction(sessions) as session:
        hosted = [d for d in repo.list_deployments(session) if d.kind == "hosted"]
        assert len(hosted) >= 25
        providers = {d.provider for d in hosted}
        assert {"fireworks_ai", "replicate", "bedrock", "anyscale"} <= providers
        for d in hosted:
            entry = cost_map.get(d.served_name) or cost_map[d.served_name.split("/", 1)[1]]
            assert d.price_source == "litellm"
            assert d.input_cost_per_token == entry["input_cost_per_token"], d.name
            assert d.output_cost_per_token == entry["output_cost_per_token"], d.name
        phi2 = service.get_model(session, "phi-2")
        assert [d.provider for d in phi2.deployments] == ["fireworks_ai"]
        llama_providers = {
            d.provider
            for ref in ("llama-2-7b-chat", "llama-2-13b-chat", "llama-2-70b-chat")
            for d in service.get_model(session, ref).deployments
        }
        assert len(llama_providers) >= 3


def test_embedded_smollm2_deployment_points_at_the_packaged_gguf(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    with transaction(sessions) as session:
        smol = service.get_model(session, "HuggingFaceTB/SmolLM2-135M-Instruct")
        (embedded,) = [d for d in smol.deployments if d.kind == "embedded"]
        assert embedded.privacy == "local" and service.token_prices(embedded) == (0.0, 0.0)
    package, _, filename = embedded.served_name.partition(":")
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    gguf = Path(next(iter(spec.submodule_search_locations))) / filename
    assert gguf.is_file() and gguf.read_bytes()[:4] == b"GGUF"


def test_cost_map_is_read_without_importing_litellm() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from catalog.prices import litellm_cost_map; "
        "print(len(litellm_cost_map()) > 1000, 'litellm' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["True", "False"], result.stderr


# --- malformed seed files -----------------------------------------------------------------------


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    shutil.copytree(seeding.SEED_DIR, folder)
    return folder


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "models.yaml",
            "  parameters: 2.7B\n",
            "  parameters: lots\n",
            r"models\.yaml: entry \d+ \(microsoft/phi-2\): parameters: .*'lots' is not a count",
        ),
        (
            "models.yaml",
            "    - license: llama2\n",
            "    - license: llama-two\n",
            r"models\.yaml: meta-llama/Llama-2-7b-hf: unknown licence 'llama-two'",
        ),
        (
            "licenses.yaml",
            "  commercial_use: allowed\n",
            "  commercial_use: sometimes\n",
            r"licenses\.yaml: entry 1 \(llama2\): commercial_use: Input should be",
        ),
        (
            "licenses.yaml",
            "  verified: true\n",
            "  verified: true\n  unverified_terms: [naming_rule]\n",
            r"licenses\.yaml: entry 1 \(llama2\).*cannot be verified: true",
        ),
        (
            "deployments.yaml",
            "served_name: fireworks_ai/accounts/fireworks/models/phi-2-3b",
            "served_name: fireworks_ai/no-such-model",
            r"deployments\.yaml: fireworks/phi-2: litellm's cost map has no .*no-such-model",
        ),
        (
            "deployments.yaml",
            "model: microsoft/phi-2,",
            "model: microsoft/phi-22,",
            r"deployments\.yaml: fireworks/phi-2: unknown model 'microsoft/phi-22'",
        ),
        (
            "models.yaml",
            "- hf_id: microsoft/phi-1\n",
            "- hf_id: [oops\n",
            r"models\.yaml: not valid YAML",
        ),
        (
            "models.yaml",
            "  family: phi\n",
            "  family: phi\n  colour: blue\n",
            r"models\.yaml: entry 1 \(microsoft/phi-1\): colour: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_seed_names_file_entry_and_field(
    seed_copy: Path,
    sessions: sessionmaker[Session],
    file: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    _replace(seed_copy / file, old, new)
    with pytest.raises(SeedError, match=expected), transaction(sessions) as session:
        seeding.apply_seed(session, seeding.load_seed(seed_copy), seed_copy)
    with transaction(sessions) as session:  # nothing half-written
        assert _counts(session) == (0, 0, 0, 0)


def test_duplicate_entries_are_rejected(seed_copy: Path) -> None:
    path = seed_copy / "licenses.yaml"
    text = path.read_text()
    path.write_text(text + text[text.index("- id: mit") : text.index("- id: apache-2.0")])
    with pytest.raises(SeedError, match=r"licenses\.yaml: defined more than once: mit"):
        seeding.load_seed(seed_copy)
