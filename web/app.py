"""The app factory: wires settings, the database and each domain's endpoints together."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from catalog import endpoints as catalog_endpoints
from catalog.db import make_engine, make_session_factory
from catalog.repository import track_catalog_changes
from catalog.snapshot import SnapshotCache
from router import keys
from router.orm import ApiKey
from web import errors
from web.settings import Settings


def session_factory_for(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    track_catalog_changes(factory)
    return engine, factory


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine, factory = session_factory_for(settings)

    def request_session() -> Iterator[Session]:
        # One session per request: commit on success, roll back on any error.
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def admin_key(
        session: Annotated[Session, Depends(request_session, scope="function")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> ApiKey:
        return keys.require_admin(session, authorization)

    app = FastAPI(
        title="modelyard",
        version="0.1.0",
        description="Catalog of open models with licence terms, and a cost-aware router.",
    )
    app.state.settings = settings
    app.state.engine = engine
    errors.install(app)
    snapshots = SnapshotCache()
    app.state.snapshots = snapshots
    app.include_router(catalog_endpoints.make_router(request_session, admin_key, snapshots))

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(request: Request) -> dict[str, str]:
        with factory() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ready", "database": engine.url.get_backend_name()}

    return app
