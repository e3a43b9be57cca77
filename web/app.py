"""The app factory: wires settings, the database, the catalog snapshot, the router and each
domain's endpoints together."""

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from adapters.openai_compat import close_upstream_pool, warm_upstream_pool
from adapters.schemas import warm_schema_checks
from catalog import endpoints as catalog_endpoints
from catalog.db import make_engine, make_session_factory
from catalog.hub_import import CardSource
from catalog.repository import track_catalog_changes
from catalog.snapshot import SnapshotCache
from router.accounts import (
    ApiKey,
    EmbeddingPins,
    KeyCache,
    Ledger,
    SharedLedger,
    admin,
    admin_http,
    audit,
    keys,
    usage_http,
)
from router.api import (
    ApiHandlers,
    EmbedderPool,
    EmbeddingsService,
    ResponseStore,
    chat_http,
    embeddings_http,
    feedback_http,
    responses_messages_http,
)
from router.pipeline import (
    AdapterPool,
    Cascade,
    Executor,
    ExplorationSettings,
    Gateway,
    RouterMetrics,
    Telemetry,
    TrafficLearning,
)
from router.quality import (
    CatalogQualityEstimator,
    LearnedQuality,
    LearnedQualityEstimator,
    Learning,
    OutcomeRecorder,
    load_or_fit,
)
from router.routing import SharedSpeeds, SpeedBook, Spreader, provider_status
from router.state import (
    Health,
    InProcessCache,
    InProcessHealth,
    InProcessLimits,
    Limits,
    RedisCache,
    RedisLimits,
    ResponseCache,
    SharedHealth,
)
from web import errors, pages
from web.fastpath import ChatCompletionsFastPath
from web.overhead import Overhead
from web.problems import explain
from web.settings import Settings
from web.tracing import traced

log = logging.getLogger("modelyard")
SNAPSHOT_POLL_SECONDS = 1.0  # how soon a catalog change made elsewhere reaches this process


def session_factory_for(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    track_catalog_changes(factory)
    return engine, factory


async def _keep_fresh(refresh: Callable[[], None], seconds: float, what: str) -> None:
    """Run `refresh` (it reads the database) on a thread every `seconds`, off the request
    path. A database hiccup keeps what was read last and is said once per outage, in one
    sentence; anything else is logged with its traceback."""
    said = ""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(refresh)
            said = ""
        except Exception as exc:
            problem = explain(exc)
            if problem is None:
                log.exception("%s refresh failed", what)
            elif problem.sentence() != said:  # once per outage, not every time
                said = problem.sentence()
                log.error("%s refresh failed: %s", what, said)


def _tune_garbage_collector() -> None:
    """What start-up built (modules, the catalog snapshot) lives as long as the process:
    frozen, the collector stops re-walking it, and a larger first-generation threshold runs
    the collector less often under load. Measured on the gateway benchmark: about 15% more
    requests per second."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


class ModelyardApp(FastAPI):
    """FastAPI with the chat-completions fast path ahead of everything, even FastAPI's own
    per-request telemetry check and error middleware, whose work the fast path does itself
    (see web/fastpath.py)."""

    fast_path: ChatCompletionsFastPath | None = None
    telemetry: Telemetry | None = None
    overhead: Overhead | None = None  # x-modelyard-overhead-ms on the model APIs' answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        overhead = self.overhead
        if overhead is not None and overhead.measures(scope):
            await overhead(self._served, scope, receive, send)  # tracing's cost counted too
            return
        await self._served(scope, receive, send)

    async def _served(self, scope: Scope, receive: Receive, send: Send) -> None:
        telemetry = self.telemetry
        if telemetry is not None and scope["type"] == "http" and scope["method"] == "POST":
            await traced(telemetry, self._dispatch, scope, receive, send)
            return
        await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and fast.handles(scope):
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def quality_estimator(settings: Settings) -> CatalogQualityEstimator | LearnedQualityEstimator:
    """The learned estimator (by default the bundled one; models it does not cover get
    theirs from benchmark scores), or benchmark scores alone. A bad file stops start-up."""
    catalog_based = CatalogQualityEstimator()
    choice = settings.quality_estimator
    if choice == "catalog":
        return catalog_based
    if choice == "bundled":
        learned = load_or_fit(settings.data_dir)
        return LearnedQualityEstimator(learned, catalog_based, label="learned:bundled")
    path = Path(choice)
    return LearnedQualityEstimator(
        LearnedQuality.load(path), catalog_based, label=f"learned:{path.name}"
    )


@dataclass
class SharedState:
    """What replicas must agree on: in Redis when one is configured, else in this process."""

    limits: Limits
    health: Health
    cache: ResponseCache
    redis: Any = None

    def unavailable_events(self, ledger: Ledger) -> dict[str, int]:
        """How often each part found Redis away (each was also logged)."""
        parts: dict[str, object] = {
            "limits": self.limits,
            "health": self.health,
            "cache": self.cache,
            "ledger": ledger,
        }
        return {name: int(getattr(part, "unavailable", 0)) for name, part in parts.items()}


async def _answers(client: Any) -> bool:
    try:
        return bool(await client.ping())
    except Exception:  # any failure to answer means not answering
        return False


def shared_state(settings: Settings) -> SharedState:
    """Creating the Redis client does not connect: Redis is first reached by a request."""
    if not settings.redis_url:
        return SharedState(InProcessLimits(), InProcessHealth(), InProcessCache())
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return SharedState(
        RedisLimits(client, settings.limits_failure_policy),
        SharedHealth(client),
        RedisCache(client),
        client,
    )


def create_app(settings: Settings | None = None, *, own_process: bool = False) -> FastAPI:
    """`own_process`: the app is the process (`modelyard serve`), so it may tune process-wide
    state such as the garbage collector; embedded in another (tests), it leaves it alone."""
    settings = settings or Settings()
    engine, factory = session_factory_for(settings)
    estimator = quality_estimator(settings)
    # Each new catalog snapshot gets its ability fit before the router can read it.
    snapshots = SnapshotCache(prepare=estimator.prepare)
    state = shared_state(settings)
    health = state.health
    ledger = (
        SharedLedger(factory, state.redis, interval=settings.ledger_flush_seconds)
        if state.redis is not None
        else Ledger(factory, interval=settings.ledger_flush_seconds)
    )
    metrics = RouterMetrics()
    providers = settings.configured_providers()
    gateway = Gateway(
        snapshots,
        estimator,
        Executor(AdapterPool(settings.provider_key_values()), health, metrics),
        ledger,
        state.limits,
        settings.team_budgets,
        state.cache,
        providers,
    )
    gateway.need = settings.default_need()
    refusals = audit.PolicyRefusals(factory)  # widening attempts, to the audit log
    gateway.policy_audit = refusals
    gateway.cascade = Cascade(
        gateway.executor, settings.cascade_min_confidence, settings.cascade_max_answers
    )
    learning = Learning(
        settings.learning_prior_strength, settings.learning_confidence, settings.learning_scope
    )
    recorder = OutcomeRecorder(
        factory, settings.outcome_retention_days, interval=settings.ledger_flush_seconds
    )
    gateway.learning = TrafficLearning(
        learning,
        recorder,
        ExplorationSettings(settings.exploration_share, settings.exploration_budget_usd_per_day),
    )

    telemetry = (
        Telemetry(settings.otel_endpoint, settings.otel_service_name)
        if settings.otel_endpoint
        else None
    )
    gateway.telemetry = telemetry
    # Measured speeds (shared through Redis when configured) and load spreading.
    speeds = SharedSpeeds(state.redis) if state.redis is not None else SpeedBook()
    spreader = Spreader(speeds, settings.spread_tolerance)
    gateway.spreader = gateway.executor.load = spreader

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with factory() as session:
            snapshots.get(session)
        if settings.team_budgets:
            with factory.begin() as session:
                audit.attach(session, audit.AuditContext("settings:MODELYARD_TEAM_BUDGETS"))
                admin.seed_teams(session, settings.team_budgets)
        ledger.start()
        recorder.start()
        learning.refresh(factory)  # the tallies now; then kept fresh like the snapshot

        def snapshot() -> None:
            with factory() as session:
                snapshots.get(session)

        learner = asyncio.create_task(
            _keep_fresh(
                lambda: learning.refresh(factory), settings.learning_poll_seconds, "feedback tally"
            ),
            name="feedback-tallies",
        )
        poller = asyncio.create_task(
            _keep_fresh(snapshot, SNAPSHOT_POLL_SECONDS, "catalog snapshot"), name="snapshot-poll"
        )
        mirror = (
            asyncio.create_task(health.run(), name="health-mirror")
            if isinstance(health, SharedHealth)
            else None
        )
        speed_mirror = (
            asyncio.create_task(speeds.run(), name="speed-mirror")
            if isinstance(speeds, SharedSpeeds)
            else None
        )
        if own_process:
            _tune_garbage_collector()
            threading.Thread(target=warm_schema_checks, name="warm-schemas", daemon=True).start()
            warm_estimator = getattr(estimator, "warm", None)
            if callable(warm_estimator):  # the prompt embedder, before the first `auto`
                threading.Thread(target=warm_estimator, name="warm-estimator", daemon=True).start()
            warm_upstream_pool()  # its TLS context now, not on a first request
        try:
            yield
        finally:
            poller.cancel()
            learner.cancel()
            await recorder.aclose()  # outcomes still buffered are written
            if mirror is not None:
                mirror.cancel()
            if speed_mirror is not None:
                speed_mirror.cancel()
            await ledger.aclose()  # nothing buffered is lost on a clean shutdown
            await refusals.drain()
            await close_upstream_pool()
            if telemetry is not None:
                await asyncio.to_thread(telemetry.shutdown)  # send the spans still buffered
            if state.redis is not None:
                await state.redis.aclose()

    keys_cache = KeyCache(factory)

    def request_session() -> Iterator[Session]:
        # One session per request: commit on success, roll back on any error.
        session = factory()
        try:
            yield session
            session.commit()
            if session.info.pop(admin.KEYS_CHANGED, False):
                keys_cache.forget()  # this replica sees key and team changes at once
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def admin_key(
        request: Request,
        response: Response,
        session: Annotated[Session, Depends(request_session, scope="function")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> ApiKey:
        key = keys.require_admin(session, authorization)
        # Whatever this request changes is recorded as this key's doing, under one id.
        request_id = audit.new_request_id(request.headers.get("x-request-id"))
        audit.attach(session, audit.AuditContext(key.name, key.id, request_id))
        response.headers["x-request-id"] = request_id
        return key

    app = ModelyardApp(
        title="modelyard",
        version="0.1.0",
        description="Catalog of open models with licence terms, and a cost-aware router.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.snapshots = snapshots
    app.state.gateway = gateway
    app.state.providers = providers
    errors.install(app, pages.as_html_error)

    def hub() -> CardSource:
        from catalog.hub import HubClient

        return HubClient(settings.hf_endpoint, settings.hf_token_value())

    app.include_router(catalog_endpoints.make_router(request_session, admin_key, snapshots, hub))
    app.include_router(chat_http.make_router(gateway, keys_cache))
    app.include_router(usage_http.make_router(gateway.snapshot, keys_cache, request_session))
    api_handlers = ApiHandlers(gateway, keys_cache, ResponseStore(factory))
    app.include_router(responses_messages_http.make_router(api_handlers))
    app.include_router(admin_http.make_router(request_session, admin_key))
    app.include_router(feedback_http.make_router(gateway, keys_cache, factory, recorder))
    embeddings = EmbeddingsService(
        gateway, EmbeddingPins(factory), EmbedderPool(settings.provider_key_values())
    )
    embeddings_handler = embeddings_http.EmbeddingsHandler(embeddings, keys_cache)
    app.include_router(embeddings_http.make_router(embeddings_handler))
    fast_routes = {**api_handlers.fast_routes(), **embeddings_handler.fast_routes()}
    app.fast_path = ChatCompletionsFastPath(gateway, keys_cache, fast_routes)
    app.telemetry = telemetry
    app.overhead = Overhead(metrics.overhead)
    pages.mount(app, request_session, snapshots, gateway, keys_cache)

    metrics.watch(lambda: len(health.cooling()), lambda: state.unavailable_events(ledger))

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Prometheus text format: requests, latency, tokens and cost by model and deployment,
        fallbacks, cool-downs, refusals, cache hits, Redis outages."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Ready when the database answers and the catalog snapshot is loaded. With Redis
        configured it says whether Redis answers and how often replicas' shared state found
        it away; with the fail-closed policy, Redis away means not ready."""

        def database() -> None:
            with factory() as session:
                session.execute(text("SELECT 1"))

        await asyncio.to_thread(database)
        snapshot = snapshots.current
        ready = snapshot is not None
        body: dict[str, Any] = {
            "status": "ready" if snapshot else "starting",
            "database": engine.url.get_backend_name(),
            "catalog_version": snapshot.version if snapshot else None,
            "redis": "not configured",
            "providers": provider_status(snapshot, providers) if snapshot else None,
        }
        if state.redis is not None:
            body["redis"] = "ok" if await _answers(state.redis) else "unavailable"
            body["redis_unavailable_events"] = state.unavailable_events(ledger)
            if body["redis"] != "ok" and settings.limits_failure_policy == "closed":
                ready = False
                body["status"] = "redis unavailable"
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
