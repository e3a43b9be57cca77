"""The `modelyard` command, in process and as real processes serving real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import free_port, prepare_database
from web.commands.root import app

runner = CliRunner()


def run(url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env={"MODELYARD_DATABASE_URL": url})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def url(database_url: str, tmp_path: Path) -> str:
    # Migrated and seeded as every other test's database is: a copy of the catalog seeded once
    # per run (a full `catalog seed` here took ~1 s of CPU for each of 14 tests). The command
    # itself still runs: on this copy below (seed twice), and on a fresh database as a real
    # process in test_make_run_path_serves_the_seeded_catalog_over_http.
    prepare_database(database_url, tmp_path)
    return database_url


def test_seed_twice_reports_no_changes(url: str) -> None:
    output = run(url, "catalog", "seed")
    assert "licenses" in output and "catalog version 1" in output


def test_list_and_show(url: str) -> None:
    listed = run(url, "catalog", "list", "--family", "llama-2")
    assert "meta-llama/Llama-2-70b-chat-hf" in listed and "6 models" in listed
    data = json.loads(run(url, "catalog", "list", "--commercial", "--max-params", "3B", "--json"))
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in {m["id"] for m in data["items"]}
    shown = run(url, "catalog", "show", "phi-2")
    assert "licence history" in shown and "msr" in shown and "2024-01-06" in shown
    assert "fireworks/phi-2" in shown
    detail = json.loads(run(url, "catalog", "show", "phi-2", "--json"))
    assert detail["id"] == "microsoft/phi-2"


def test_bad_input_exits_non_zero_with_a_message(url: str) -> None:
    assert "no model 'nobody/nothing'" in run(url, "catalog", "show", "nobody/nothing", code=1)
    assert "min_params" in run(url, "catalog", "list", "--min-params", "lots", code=2)


def test_register_update_and_remove_a_local_server(url: str) -> None:
    added = run(
        url,
        "deployments",
        "add",
        "--model",
        "mistral-7b-instruct",
        "--kind",
        "local",
        "--url",
        "http://127.0.0.1:8081/v1",
        "--served-name",
        "mistral",
        "--cost-per-hour",
        "1.8",
        "--tokens-per-s",
        "100",
    )
    assert "local/mistral-7b-instruct-v0.2" in added
    listed = json.loads(run(url, "deployments", "list", "--model", "mistral-7b-instruct", "--json"))
    (local,) = [d for d in listed if d["kind"] == "local"]
    assert local["usd_per_million_tokens"] == pytest.approx(5.0)
    assert local["capabilities"] == []
    run(url, "deployments", "update", local["name"], "--capabilities", "tools,json_schema")
    table = run(url, "deployments", "list", "--model", "mistral-7b-instruct")
    assert "capabilities" in table and "tools" in table and "json_schema" in table
    run(url, "deployments", "update", local["name"], "--status", "disabled")
    listed = json.loads(run(url, "deployments", "list", "--json"))
    assert {d["status"] for d in listed if d["name"] == local["name"]} == {"disabled"}
    run(url, "deployments", "remove", local["name"])
    assert "no deployment" in run(url, "deployments", "remove", local["name"], code=1)
    assert "base_url" in run(
        url,
        "deployments",
        "add",
        "--model",
        "phi-2",
        "--kind",
        "local",
        "--served-name",
        "x",
        code=2,
    )


def test_add_a_model_then_a_deployment_for_it(url: str) -> None:
    run(
        url,
        "models",
        "add",
        "--id",
        "acme/vicuna-ft",
        "--license",
        "llama2",
        "--family",
        "vicuna",
        "--params",
        "13B",
        "--parent",
        "lmsys/vicuna-13b-v1.5:finetune",
    )
    shown = json.loads(run(url, "catalog", "show", "acme/vicuna-ft", "--json"))
    assert shown["parents"][0]["id"] == "lmsys/vicuna-13b-v1.5"
    assert "unknown licence" in run(
        url, "models", "add", "--id", "acme/x", "--license", "nope", "--family", "x", code=1
    )


def test_keys(url: str) -> None:
    created = run(url, "keys", "create", "--name", "ops", "--admin")
    secret = created.strip().splitlines()[-1]
    assert secret.startswith("my-") and len(secret) > 40
    listed = run(url, "keys", "list")
    assert "ops" in listed and secret not in listed
    assert "exists already" in run(url, "keys", "create", "--name", "ops", code=1)
    assert "--policy" in run(
        url, "keys", "create", "--name", "x", "--policy", '{"privacy": 1}', code=2
    )
    run(url, "keys", "create", "--name", "app", "--policy", '{"privacy": "local_only"}')
    first = run(url, "keys", "dev").split()[-1]
    second = run(url, "keys", "dev").split()[-1]
    assert first != second and first.startswith("my-")
    run(url, "keys", "revoke", "ops")
    assert "no key" in run(url, "keys", "revoke", "nobody", code=1)


def test_make_run_path_serves_the_seeded_catalog_over_http(tmp_path: Path) -> None:
    """What `make run` does, as separate processes: migrate, seed, serve, then real HTTP."""
    env = {**os.environ, "MODELYARD_DATA_DIR": str(tmp_path / "data")}
    exe = [sys.executable, "-m", "web"]
    for step in (["db", "upgrade"], ["catalog", "seed"]):
        subprocess.run([*exe, *step], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    server = subprocess.Popen(
        [*exe, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start within 30 s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["total"] >= 45
        assert (tmp_path / "data" / "modelyard.db").is_file()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_keys_teams_and_the_audit_log_from_the_command_line(url: str) -> None:
    run(url, "teams", "create", "search", "--usd-per-day", "50")
    assert "no team named" in run(
        url, "keys", "create", "--name", "x", "--policy", '{"team": "nope"}', code=1
    )
    created = run(url, "keys", "create", "--name", "svc", "--policy", '{"team": "search"}')
    first = created.strip().splitlines()[-1]
    shown = json.loads(run(url, "keys", "show", "svc"))
    assert shown["team"] == "search" and shown["state"] == "active" and first not in str(shown)
    rotated = run(url, "keys", "rotate", "svc", "--grace", "60")
    assert "the old secret works until" in rotated
    second = rotated.strip().splitlines()[-1]
    assert second.startswith("my-") and second != first
    updated = json.loads(run(url, "keys", "update", "svc", "--policy", '{"min_quality": 0.3}'))
    assert updated["policy"] == {"min_quality": 0.3} and updated["team"] is None
    run(url, "teams", "add-member", "search", "svc")
    teams = run(url, "teams", "list")
    assert "search" in teams and "svc" in teams
    assert "greater than or equal to 0" in run(
        url, "teams", "create", "t2", "--usd-per-day", "-1", code=2
    )
    run(url, "keys", "expire", "svc")
    assert "expired" in run(url, "keys", "list")
    assert "it is expired" in run(url, "keys", "rotate", "svc", code=1)
    assert "no key named" in run(url, "keys", "rotate", "nobody", code=1)
    audit = run(url, "audit", "list", "--limit", "20")
    for action in ("team.create", "key.create", "key.rotate", "key.update", "key.expire"):
        assert action in audit
    assert "cli:" in audit


def test_a_team_policy_from_the_command_line(url: str) -> None:
    policy = '{"privacy": "local_only"}'
    run(url, "teams", "create", "research", "--usd-per-day", "20", "--policy", policy)
    assert "local_only" in run(url, "teams", "list")
    run(url, "teams", "update", "research", "--policy", '{"models": ["phi-2"]}')
    listed = run(url, "teams", "list")
    assert "phi-2" in listed and "local_only" not in listed  # replaced whole
    # Not a team's field: refused, nothing changes.
    assert "--policy" in run(
        url, "teams", "update", "research", "--policy", '{"team": "other"}', code=2
    )
    assert "phi-2" in run(url, "teams", "list")
    run(url, "teams", "update", "research", "--policy", "{}")
    assert "phi-2" not in run(url, "teams", "list")
    assert "team.update" in run(url, "audit", "list", "--action", "team.update")
