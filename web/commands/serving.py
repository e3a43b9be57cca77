"""How `modelyard serve` runs the app: one process, or several worker processes sharing one
port, under uvicorn or Granian (a Rust HTTP server).

Workers are replicas on one machine: each is a whole app with its own snapshot, pools and
ledger writer, and what they must agree on (limits, budgets, health, the response cache, the
ledger) goes through Redis exactly as between replicas (docs/operations/replicas.md). Without
Redis each process would keep its own limits, so more than one worker needs
MODELYARD_REDIS_URL; the default is one worker per core with Redis, one without it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any, Literal

from starlette.types import ASGIApp

from web.settings import Settings

Server = Literal["uvicorn", "granian"]
SERVERS: tuple[Server, ...] = ("uvicorn", "granian")
# The factory each worker process imports and calls (settings from its environment, which
# it inherits from `modelyard serve`).
FACTORY = "web.commands.serving:worker_app"


class WorkersNeedRedis(Exception):
    """More than one worker asked for without shared state."""


def worker_app() -> ASGIApp:
    from web.app import create_app

    die_with_supervisor()
    return create_app(Settings(), own_process=True)


def die_with_supervisor() -> None:
    """A worker whose supervisor was killed outright (SIGKILL, the OOM killer) would go on
    serving on the shared port with nobody left to stop it; on Linux the kernel sends it
    SIGTERM instead (prctl PR_SET_PDEATHSIG), and uvicorn's worker shuts down on that."""
    if not sys.platform.startswith("linux"):
        return
    supervisor = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the worker lives as before
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(asked: int | None, settings: Settings) -> int:
    """`--workers` (or MODELYARD_WORKERS), else one per core with Redis and one without."""
    wanted = asked if asked is not None else settings.workers
    if wanted is None:
        return cores() if settings.redis_url else 1
    if wanted > 1 and not settings.redis_url:
        raise WorkersNeedRedis(
            f"--workers {wanted} needs MODELYARD_REDIS_URL: worker processes share rate limits, "
            "budgets, health and the ledger through Redis, as replicas do; without it, serve "
            "with --workers 1"
        )
    return wanted


def run(settings: Settings, host: str, port: int, workers: int, log: dict[str, Any]) -> None:
    if settings.server == "granian":
        _granian(settings, host, port, workers, log)
        return
    import uvicorn

    if workers == 1:  # the app built here, in this process: no supervisor in between
        from web.app import create_app

        app: Any = create_app(settings, own_process=True)
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level, log_config=log)
        return
    uvicorn.run(
        FACTORY,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=log,
    )


def _granian(settings: Settings, host: str, port: int, workers: int, log: dict[str, Any]) -> None:
    """Granian is a development dependency: measured slower than uvicorn for this app
    (docs/operations/performance.md), it is kept to compare the two in one run."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server as Granian

    Granian(
        FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=log,
    ).serve()
