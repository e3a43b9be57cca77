"""A newcomer's first hour, broken for real: each environment problem ends a command (or
`modelyard serve`) with one sentence and the fix, never a traceback; `--debug` keeps the
traceback; list options take several values after one flag; `alembic upgrade head` honours the
settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from alembic import command
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from tests.conftest import (
    PostgresServer,
    RedisServer,
    free_port,
    migrate,
    prepare_database,
    start_gateway,
)
from tests.servers import REPO
from tests.test_learned_quality import CODE, POEMS, outcome_row, write_outcomes
from web.commands.group import expand_list_options
from web.commands.root import app
from web.migrations import alembic_config, head_revision
from web.problems import explain

BIN = Path(sys.executable).parent
runner = CliRunner()


def modelyard(*args: str, env: dict[str, str], code: int = 1, user: str | None = None) -> str:
    """The installed `modelyard` script as a user runs it; stdout and stderr together."""
    prefix = ["runuser", "-u", user, "--"] if user else []
    done = subprocess.run(
        [*prefix, str(BIN / "modelyard"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    return output


def cli(*args: str, env: dict[str, str], code: int = 1) -> str:
    """The same command in this process (typer's runner): cheaper than a new interpreter."""
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def one_sentence(output: str) -> str:
    """The whole answer is one line starting `error:`, with no traceback."""
    assert "Traceback" not in output and 'File "' not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


# --- the database -------------------------------------------------------------------------------


def test_an_unmigrated_database_says_run_db_upgrade(database_url: str) -> None:
    env = {"MODELYARD_DATABASE_URL": database_url}
    said = one_sentence(modelyard("license", "check", "--commercial", "phi-2", env=env))
    assert "has no modelyard tables yet" in said and "`modelyard db upgrade`" in said
    for args in (
        ["catalog", "list"],
        ["catalog", "seed"],
        ["keys", "list"],
        ["deployments", "list"],
    ):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1, result.output
        assert "modelyard db upgrade" in one_sentence(result.output)


def test_a_database_at_an_older_revision_names_both_revisions(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "+1")  # the first migration only
    env = {"MODELYARD_DATABASE_URL": database_url}
    said = one_sentence(cli("catalog", "show", "phi-2", env=env))
    assert f"is at revision 0001, this modelyard needs {head_revision()}" in said
    assert "`modelyard db upgrade`" in said


def test_nobody_listening_on_the_postgresql_url(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{free_port()}/modelyard"
    said = one_sentence(cli("catalog", "list", env={"MODELYARD_DATABASE_URL": url}))
    assert "cannot use the database postgresql+psycopg://postgres:***@127.0.0.1" in said
    assert "s3cret" not in said and "MODELYARD_DATABASE_URL" in said


def test_a_data_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    env = {"MODELYARD_DATA_DIR": str(tmp_path / "a-file" / "data")}
    said = one_sentence(cli("keys", "list", env=env))
    assert "cannot create the database sqlite:///" in said and "MODELYARD_DATA_DIR" in said
    # A folder where the SQLite file should be: SQLite cannot open it.
    (tmp_path / "modelyard.db").mkdir()
    env = {"MODELYARD_DATABASE_URL": f"sqlite:///{tmp_path / 'modelyard.db'}"}
    said = one_sentence(cli("keys", "list", env=env))
    assert "cannot use the database sqlite:///" in said and "unable to open" in said


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {"MODELYARD_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    assert "Traceback" in modelyard("--debug", "catalog", "list", env=env)
    result = runner.invoke(app, ["catalog", "list"], env={**env, "MODELYARD_LOG_LEVEL": "debug"})
    assert result.exit_code == 1 and isinstance(result.exception, OperationalError)


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    said = one_sentence(cli("keys", "list", env={"MODELYARD_PORT": "lots"}))
    assert "MODELYARD_PORT='lots'" in said
    said = one_sentence(
        cli("keys", "list", env={"MODELYARD_PROVIDER_KEYS": '{"fireworks_ai": sk-oops'})
    )
    assert "MODELYARD_PROVIDER_KEYS" in said and "sk-oops" not in said
    said = one_sentence(cli("keys", "list", env={"MODELYARD_DATABASE_URL": "mysql://x"}))
    assert "MODELYARD_DATABASE_URL" in said


def test_a_file_that_cannot_be_written_and_a_bug(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    target = tmp_path / "missing" / "bom.json"
    result = runner.invoke(
        app, ["catalog", "bom", "--out", str(target)], env={"MODELYARD_DATABASE_URL": url}
    )
    assert result.exit_code == 1
    assert f"cannot use {target} (No such file or directory)" in one_sentence(result.output)
    # Anything that is not the environment's doing is a bug: its traceback must show.
    assert explain(RuntimeError("a bug")) is None and explain(KeyError("x")) is None


# --- `modelyard serve` --------------------------------------------------------------------------


def test_serve_refuses_an_unmigrated_database_and_a_silent_redis(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    said = one_sentence(
        modelyard("serve", "--port", str(free_port()), env={"MODELYARD_DATABASE_URL": url})
    )
    assert "has no modelyard tables yet" in said
    migrate(url)
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    redis_server.stop()  # stopped: its port answers no more
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_REDIS_URL": redis_server.url}
    said = one_sentence(modelyard("serve", "--port", str(free_port()), env=env))
    assert f"Redis at {redis_server.url} does not answer" in said
    assert "MODELYARD_REDIS_URL" in said
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_QUALITY_ESTIMATOR": str(tmp_path / "q.npz")}
    said = one_sentence(modelyard("serve", "--port", str(free_port()), env=env))
    assert "MODELYARD_QUALITY_ESTIMATOR cannot be used" in said and "no such estimator" in said


@pytest.mark.postgres
def test_a_database_that_goes_away_under_a_running_server(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    name = postgres.create_database()
    url = postgres.url(name)
    prepare_database(url, tmp_path)
    # The feedback tallies are read every 0.2 s here, so both background readers (they and
    # the catalog snapshot, every second) meet the dropped database before the server stops.
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_LEARNING_POLL_SECONDS": "0.2"}
    gateway = start_gateway(tmp_path, env)
    try:
        assert httpx.get(f"{gateway.base_url}/api/models").status_code == 200
        postgres.drop_database(name)
        answer = httpx.get(f"{gateway.base_url}/api/models")
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "database_unavailable"
        assert error["message"] == "the database is unavailable; try again later"
        said = ("feedback tally refresh failed: cannot use the database",
                "catalog snapshot refresh failed: cannot use the database")  # fmt: skip
        deadline = time.monotonic() + 10
        while not all(s in gateway.log_path.read_text() for s in said):
            assert time.monotonic() < deadline, gateway.log_path.read_text()[-2000:]
            time.sleep(0.1)
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    # Each reader says a failure once while its cause stays the same, not at every read.
    failures = [line.split(" ERROR ")[1] for line in log.splitlines() if "refresh failed" in line]
    assert len(failures) == len(set(failures)), failures


# --- options that take several values -----------------------------------------------------------


def _list_options(
    command: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every option that may be given several times, with the command path that owns it."""
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for name, sub in subcommands.items():
            yield from _list_options(sub, (*path, name))
        return
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.multiple:
            yield path, param


def test_every_list_option_takes_several_values_after_one_flag() -> None:
    root = typer.main.get_command(app)
    found = list(_list_options(root))
    assert {(" ".join(path), option.opts[0]) for path, option in found} >= {
        ("router fit", "--outcomes"),
        ("router fit", "--map"),
        ("router eval", "--outcomes"),
        ("models add", "--capability"),
    }
    for path, option in found:
        flag = option.opts[0]
        args = [*path, flag, "one", "two", "three", "--help"]
        expanded = expand_list_options(root, args)
        assert expanded == [*path, flag, "one", flag, "two", flag, "three", "--help"], flag


def test_router_fit_takes_a_shell_glob(tmp_path: Path) -> None:
    folder = tmp_path / "outcomes"
    folder.mkdir()
    write_outcomes(folder / "code.csv", [outcome_row(p, "code") for p in CODE])
    write_outcomes(folder / "poems.csv", [outcome_row(p, "poems") for p in POEMS])
    files = sorted(str(p) for p in folder.glob("*.csv"))
    out = tmp_path / "q.npz"
    fitted = modelyard("router", "fit", "--outcomes", *files, "--out", str(out), env={}, code=0)
    assert "on 12 prompts" in fitted and out.is_file()
    # A pattern the shell did not expand (quoted) is expanded here.
    result = runner.invoke(
        app, ["router", "eval", "--estimator", str(out), "--outcomes", f"{folder}/*.csv", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["prompts"] == 12


def test_models_add_takes_several_values_after_each_flag(database_url: str, tmp_path: Path) -> None:
    prepare_database(database_url, tmp_path)  # migrated, and a copy of the seeded catalog
    env = {"MODELYARD_DATABASE_URL": database_url}
    added = runner.invoke(
        app,
        [
            "models", "add", "--id", "acme/llama-ft", "--license", "llama2", "--family", "llama-2",
            "--capability", "chat", "code", "--alias", "acme-ft", "llama-ft-acme",
            "--parent", "meta-llama/Llama-2-7b-hf:finetune",
        ],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = json.loads(runner.invoke(app, ["catalog", "show", "acme-ft", "--json"], env=env).output)
    assert set(shown["aliases"]) >= {"acme-ft", "llama-ft-acme"}
    assert set(shown["capabilities"]) >= {"chat", "code"}


# --- Alembic ------------------------------------------------------------------------------------


def test_alembic_upgrade_head_uses_the_settings(database_url: str, tmp_path: Path) -> None:
    alembic = str(BIN / "alembic")
    env = {**os.environ, "MODELYARD_DATABASE_URL": database_url}
    subprocess.run([alembic, "upgrade", "head"], env=env, cwd=REPO, check=True, timeout=120)
    engine = create_engine(database_url)
    assert "models" in inspect(engine).get_table_names()
    engine.dispose()
    if not database_url.startswith("sqlite"):
        return
    # No URL: the SQLite file in MODELYARD_DATA_DIR, its folder created, from any folder.
    data = tmp_path / "fresh" / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["MODELYARD_DATA_DIR"] = str(data)
    subprocess.run(
        [alembic, "-c", str(REPO / "alembic.ini"), "upgrade", "head"],
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    said = cli("catalog", "list", env={"MODELYARD_DATA_DIR": str(data)}, code=0)
    assert "0 models" in said and (data / "modelyard.db").is_file()


# --- a hosted provider without its key ----------------------------------------------------------


@pytest.mark.anyio
async def test_a_hosted_call_without_a_key_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.base import Target
    from adapters.errors import ProviderKeyMissing
    from adapters.hosted import HostedAdapter
    from adapters.schemas import ChatRequest

    for name in ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY", "FIREWORKSAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    served = "fireworks_ai/accounts/fireworks/models/phi-2-3b"
    adapter = HostedAdapter(Target(kind="hosted", served_name=served))
    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(ProviderKeyMissing) as raised:
        await adapter.chat(request)
    assert 'MODELYARD_PROVIDER_KEYS=\'{"fireworks_ai": "…"}\'' in raised.value.message
    assert "FIREWORKS_AI_API_KEY" in raised.value.message and raised.value.retryable
