"""The production shape: the compose file as Debian's docker-compose reads it (no engine runs
here), /metrics, JSON logs, and graceful shutdown of a real process."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from catalog.db import transaction
from router.accounts import keys
from tests.conftest import (
    echo_deployment,
    prepare_database,
    start_gateway,
)
from tests.servers import REPO, ServerProcess
from web.app import create_app, session_factory_for
from web.commands.logs import JsonFormatter, log_config
from web.settings import Settings

REPLICAS = ("modelyard-1", "modelyard-2")
PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}
CHEAPER = {"input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}


def mount(volume: str | dict[str, str]) -> tuple[str, str]:
    """(source, target) of a volume, in the short or the long syntax."""
    if isinstance(volume, dict):
        return volume["source"], volume["target"]
    source, target = volume.split(":")[:2]
    return source, target


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: `make test` installs it (docker-compose)")
    done = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_wires_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "llama", "migrate", *REPLICAS, "proxy"}
    for name in ("postgres", "redis", "llama"):
        assert services[name]["healthcheck"]["test"], name
    assert "--appendonly" in services["redis"]["command"]  # the shared ledger needs it
    assert {mount(v)[1] for v in services["postgres"]["volumes"]} == {"/var/lib/postgresql/data"}
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "modelyard db upgrade" in " ".join(services["migrate"]["command"])
    assert [p["published"] for p in services["proxy"]["ports"]] in (["8000"], [8000])
    for replica in REPLICAS:
        spec = services[replica]
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy"
        env = spec["environment"]
        assert env["MODELYARD_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["MODELYARD_DATABASE_URL"]
        assert env["MODELYARD_REDIS_URL"] == "redis://redis:6379/0"


def test_every_setting_the_compose_file_names_exists(compose: dict[str, Any]) -> None:
    known = {f"MODELYARD_{name.upper()}" for name in Settings.model_fields}
    for name, spec in compose["services"].items():
        for variable in spec.get("environment") or {}:
            if variable.startswith("MODELYARD_"):
                assert variable in known, f"{name} sets {variable}, which no setting reads"
        for variable in re.findall(r"MODELYARD_\w+", (REPO / "Dockerfile").read_text()):
            assert variable in known, f"the Dockerfile sets {variable}"


def test_the_proxy_sends_to_both_replicas(compose: dict[str, Any]) -> None:
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    for replica in REPLICAS:
        assert f"server {replica}:8000" in conf
    mounted = [mount(v)[0] for v in compose["services"]["proxy"]["volumes"]]
    assert any(source.endswith("deploy/nginx.conf") for source in mounted)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "EXPOSE 8000" in dockerfile and '"modelyard", "serve"' in dockerfile


def test_json_logs_carry_the_route_id() -> None:
    record = logging.LogRecord(
        "modelyard.router", logging.WARNING, "", 0, "route %s: x", ("r1",), None
    )
    record.route_id = "r1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "route r1: x" and line["route_id"] == "r1"
    assert line["level"] == "warning" and line["logger"] == "modelyard.router"
    config = log_config("info", "json")
    assert set(config["loggers"]) >= {"uvicorn.access", "modelyard"}


@pytest.fixture
def app_settings(tmp_path: Path, fault_upstream: ServerProcess) -> Settings:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    deployments = [
        echo_deployment(fault_upstream, name=name, model=model, served_name=served, **price)
        for name, model, served, price in (
            ("test/phi-2-broken", "phi-2", "server-error", CHEAPER),
            ("test/phi-2-echo", "phi-2", "echo", PRICE),
            ("test/mistral-slow", "mistral-7b-instruct", "slow-echo", PRICE),
        )
    ]
    prepare_database(url, tmp_path, deployments)
    return Settings(database_url=url, data_dir=tmp_path)


def test_metrics_count_requests_cost_fallbacks_and_refusals(app_settings: Settings) -> None:
    engine, factory = session_factory_for(app_settings)
    with transaction(factory) as session:
        _, key = keys.create_key(session, "m", policy={"requests_per_minute": 1})
    engine.dispose()
    body = {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "hello"}],
        "route": {"privacy": "local_only", "exclude": ["smollm2"]},
    }
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
        assert client.post("/v1/chat/completions", json=body, headers=auth).status_code == 429
        text = client.get("/metrics").text
    echo = 'deployment="test/phi-2-echo",model="microsoft/phi-2"'
    assert f'modelyard_requests_total{{{echo},status="ok"}} 1.0' in text
    broken = 'code="upstream_server_error",deployment="test/phi-2-broken"'
    assert f"modelyard_fallbacks_total{{{broken}}} 1.0" in text
    assert 'modelyard_refusals_total{reason="rate_limit"} 1.0' in text
    assert re.search(rf"modelyard_cost_usd_total\{{{echo}\}} [1-9]", text)
    assert "modelyard_deployments_cooling 0.0" in text
    assert "hello" not in text and key not in text  # no prompt, no key


@pytest.fixture
def served(app_settings: Settings, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    engine, factory = session_factory_for(app_settings)
    with transaction(factory) as session:
        _, key = keys.create_key(session, "served")
    engine.dispose()
    env = {"MODELYARD_DATABASE_URL": app_settings.database_url, "MODELYARD_LOG_FORMAT": "json"}
    server = start_gateway(tmp_path, env, "served")
    yield server, key
    server.stop()


def test_graceful_shutdown_drains_a_stream_and_flushes_the_ledger(
    served: tuple[ServerProcess, str], app_settings: Settings
) -> None:
    server, key = served
    # The only local deployment of this model streams a word every 50 ms: 40 words, 2 s.
    body = {
        "model": "mistral-7b-instruct",
        "messages": [{"role": "user", "content": "slow " * 40}],
        "stream": True,
        "route": {"privacy": "local_only"},
    }
    events: list[str] = []

    def stream() -> None:
        with httpx.stream(
            "POST",
            f"{server.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as response:
            events.extend(line for line in response.iter_lines() if line)

    reader = threading.Thread(target=stream)
    reader.start()
    time.sleep(0.5)  # the stream is under way
    server.process.terminate()  # SIGTERM: stop accepting, finish what is in flight
    reader.join(timeout=30)
    server.process.wait(timeout=30)
    assert events and events[-1] == "data: [DONE]", events[-3:]
    engine, factory = session_factory_for(app_settings)
    from sqlalchemy import select

    from router.accounts.orm import UsageRecord

    with factory() as session:
        statuses = session.scalars(select(UsageRecord.status).where(UsageRecord.stream)).all()
    engine.dispose()
    assert statuses == ["ok"]  # the drained stream's record reached the database
    lines = [line for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["logger"] for line in lines)
