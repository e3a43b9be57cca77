"""POST /api/compliance/check and the ML-BOM export, over HTTP, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.test_catalog_api import assert_error
from web.app import create_app
from web.commands.root import app as cli
from web.settings import Settings


@pytest.fixture(scope="module")
def api(seeded_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module", autouse=True)
def iri_checks_remembered() -> Iterator[None]:
    """The CycloneDX schema checks every URL in a BOM as an IRI, each with an Earley parser
    (~20 ms a URL, nearly all of the catalog BOM's validation): here each distinct URL is
    parsed once per module, by the same checker with the same verdict (a pure function; an
    invalid one raises every time)."""
    import functools

    from jsonschema.validators import Draft7Validator

    checkers = Draft7Validator.FORMAT_CHECKER.checkers
    original = checkers["iri-reference"]
    checkers["iri-reference"] = (functools.cache(original[0]), original[1])
    try:
        yield
    finally:
        checkers["iri-reference"] = original


def check(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/compliance/check", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_named_models_get_one_result_each(api: TestClient) -> None:
    report = check(
        api,
        {
            "use": {"commercial": True, "monthly_active_users": 800_000_000, "date": "2024-02-01"},
            "models": ["phi-2", "meta-llama/Llama-2-70b-chat-hf", "qwen2.5-72b-instruct"],
        },
    )
    verdicts = {r["model"]: r["verdict"] for r in report["results"]}
    assert verdicts == {
        "microsoft/phi-2": "allowed",
        "meta-llama/Llama-2-70b-chat-hf": "needs_review",
        "Qwen/Qwen2.5-72B-Instruct": "forbidden",
    }
    assert report["date"] == "2024-02-01"
    assert report["summary"] == {
        "allowed": 1,
        "allowed_with_obligations": 0,
        "needs_review": 1,
        "forbidden": 1,
    }
    qwen = report["results"][2]
    reason = next(r for r in qwen["reasons"] if r["verdict"] == "forbidden")
    assert reason == {
        "term": "user_threshold",
        "verdict": "forbidden",
        "message": reason["message"],
        "license": "qwen",
        "clause": "§4",
        "imposed_by": "Qwen/Qwen2.5-72B-Instruct",
    }


def test_all_models_by_default(api: TestClient) -> None:
    everything = api.get("/api/models", params={"per_page": 200}).json()["total"]
    report = check(api, {"use": {}})
    assert len(report["results"]) == everything
    assert report["use"]["commercial"] is False


def test_obligations_carry_text_and_clause(api: TestClient) -> None:
    report = check(
        api,
        {"use": {"commercial": True, "redistribute_weights": True}, "models": ["llama-3-8b"]},
    )
    obligations = {o["kind"]: o for o in report["results"][0]["obligations"]}
    assert obligations["attribution"]["text"] == "Built with Meta Llama 3"
    assert obligations["attribution"]["clause"] == "§1.b.i"
    assert obligations["notice_file"]["text"].startswith("Meta Llama 3 is licensed")
    assert obligations["license_copy"]["license"] == "llama3"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"use": {"monthly_active_users": -1}}, 422, "use.monthly_active_users"),
        ({"use": {"date": "next tuesday"}}, 422, "use.date"),
        ({"use": {"date": "2024-13-01"}}, 422, "use.date"),
        ({"use": {"commercial": "sometimes"}}, 422, "use.commercial"),
        ({"use": {"favourite_colour": "blue"}}, 422, "use.favourite_colour"),
        ({"use": {}, "models": ["phi-2", "nobody/nothing"]}, 404, "'nobody/nothing'"),
        ({"use": {}, "models": ["phi-2\u0000"]}, 422, "control characters"),
        ({"use": {}, "models": "phi-2"}, 422, "models"),
        ({"usage": {}}, 422, "usage"),
    ],
)
def test_bad_profiles_name_the_field(
    api: TestClient, body: dict[str, Any], status: int, needle: str
) -> None:
    response = api.post("/api/compliance/check", json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


def test_model_bom_is_valid_cyclonedx_with_lineage(api: TestClient) -> None:
    response = api.get("/api/models/microsoft/Orca-2-13b/bom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(response.text) is None
    bom = json.loads(response.text)
    assert bom["specVersion"] == "1.6"
    subject = bom["metadata"]["component"]
    assert subject["type"] == "machine-learning-model"
    assert (subject["group"], subject["name"]) == ("microsoft", "Orca-2-13b")
    licences = {
        lic["license"]["name"]: lic["license"]["acknowledgement"] for lic in subject["licenses"]
    }
    assert licences == {
        "Microsoft Research License": "declared",
        "Llama 2 Community License Agreement": "concluded",  # carried from the base model
    }
    (base,) = bom["components"]
    assert base["bom-ref"] == "model:meta-llama/Llama-2-13b-hf"
    depends = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert depends["model:microsoft/Orca-2-13b"] == ["model:meta-llama/Llama-2-13b-hf"]


def test_bom_uses_spdx_ids_where_they_exist(api: TestClient) -> None:
    bom = api.get("/api/models/phi-2/bom").json()
    (entry,) = bom["metadata"]["component"]["licenses"]
    assert entry["license"]["id"] == "MIT"
    properties = {p["name"]: p["value"] for p in bom["metadata"]["component"]["properties"]}
    assert properties["modelyard:license-history"] == (
        "msr 2023-12-12..2024-01-06 (unverified); mit 2023-12-13..now (unverified)"
    )
    assert_error(api.get("/api/models/nobody/nothing/bom"), 404, "not_found")


def test_cli_license_check_and_bom(seeded_settings: Settings, tmp_path: Any) -> None:
    runner = CliRunner()
    env = {"MODELYARD_DATABASE_URL": seeded_settings.database_url}
    table = runner.invoke(
        cli,
        [
            "license",
            "check",
            "--commercial",
            "--mau",
            "800000000",
            "--date",
            "2024-02-01",
            "phi-2",
            "llama-2-7b",
        ],
        env=env,
    )
    assert table.exit_code == 0, table.output
    assert "needs_review" in table.output and "microsoft/phi-2" in table.output
    as_json = runner.invoke(cli, ["license", "check", "--json", "codestral-22b"], env=env)
    assert json.loads(as_json.output)["results"][0]["verdict"] == "allowed_with_obligations"
    bad = runner.invoke(cli, ["license", "check", "--mau", "-3"], env=env)
    assert bad.exit_code == 2 and "monthly_active_users" in bad.output
    unknown = runner.invoke(cli, ["license", "check", "nobody/nothing"], env=env)
    assert unknown.exit_code == 1 and "nobody/nothing" in unknown.output
    out = tmp_path / "catalog.cdx.json"
    written = runner.invoke(cli, ["catalog", "bom", "--out", str(out)], env=env)
    assert written.exit_code == 0, written.output
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert len(json.loads(text)["components"]) >= 45
