"""The catalog's HTTP API under /api. `web` supplies the session and the admin check."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.orm import Session

from catalog import repository as repo
from catalog import service
from catalog.bom import ml_bom
from catalog.hub_import import CardSource, import_from_hub
from catalog.schemas import (
    ComplianceCheckIn,
    ComplianceReport,
    DeploymentIn,
    DeploymentOut,
    DeploymentPatch,
    HubImportIn,
    LicenseOut,
    ModelDetail,
    ModelFilters,
    ModelIn,
    ModelSummary,
    Page,
)
from catalog.snapshot import CatalogSnapshot, SnapshotCache


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def make_router(
    session_dependency: Callable[..., Any],
    admin_dependency: Callable[..., Any],
    snapshots: SnapshotCache,
    hub: Callable[[], CardSource],
) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]

    def current_snapshot(session: SessionDep) -> CatalogSnapshot:
        return snapshots.get(session)

    SnapshotDep = Annotated[CatalogSnapshot, Depends(current_snapshot)]
    admin_only = [Depends(admin_dependency)]
    api = APIRouter(prefix="/api", tags=["catalog"])

    @api.get("/models", response_model=Page[ModelSummary])
    def list_models(
        session: SessionDep, snapshot: SnapshotDep, filters: Annotated[ModelFilters, Query()]
    ) -> Page[ModelSummary]:
        """Models with filters, sorting (`-` prefix for descending) and pagination. Usage-profile
        fields (`commercial`, `monthly_active_users`, `fine_tune`, …) keep only the models the
        licence engine allows for that use."""
        return service.list_models(session, filters, snapshot, _today())

    @api.get(
        "/models/{ref:path}/bom",
        response_class=Response,
        responses={200: {"content": {"application/vnd.cyclonedx+json": {}}}},
    )
    def model_bom(ref: str, session: SessionDep, snapshot: SnapshotDep) -> Response:
        """A CycloneDX 1.6 ML-BOM of the model and its ancestors, with licences and lineage."""
        model = snapshot.find(service.get_model(session, ref).hf_id)
        assert model is not None  # the snapshot was read in this same session
        return Response(
            ml_bom(snapshot, [model], _today()),
            media_type="application/vnd.cyclonedx+json; version=1.6",
        )

    @api.get("/models/{ref:path}", response_model=ModelDetail)
    def get_model(ref: str, session: SessionDep, snapshot: SnapshotDep) -> ModelDetail:
        """One model by Hugging Face id or alias, with licence history, lineage, scores and
        deployments."""
        return service.model_detail(service.get_model(session, ref), snapshot, _today())

    @api.post(
        "/models",
        response_model=ModelDetail,
        status_code=status.HTTP_201_CREATED,
        dependencies=admin_only,
    )
    def add_model(spec: ModelIn, session: SessionDep) -> ModelDetail:
        model = service.add_model(session, spec)
        snapshot = snapshots.get(session)
        return service.model_detail(service.get_model(session, model.hf_id), snapshot, _today())

    @api.post("/catalog/import", dependencies=admin_only)
    def import_models(body: HubImportIn, session: SessionDep) -> dict[str, Any]:
        """Add or refresh models from their Hugging Face Hub cards, with their base models up
        to `depth` generations. Each repo's failure (not found, gated, rate-limited, malformed
        card) is reported in the answer; the rest are still imported."""
        return import_from_hub(session, hub(), body.repos, body.depth).as_dict()

    @api.post("/compliance/check", response_model=ComplianceReport, tags=["compliance"])
    def compliance_check(body: ComplianceCheckIn, snapshot: SnapshotDep) -> ComplianceReport:
        """Which models may I use for this? One verdict per model (every model when none is
        named), with the licences in force on the date, obligations, and the reasons, each
        citing the licence term and clause that decided it."""
        return service.check_compliance(snapshot, body)

    @api.get("/licenses", response_model=list[LicenseOut])
    def list_licenses(session: SessionDep) -> list[LicenseOut]:
        return service.list_licenses(session)

    @api.get("/licenses/{license_id}", response_model=LicenseOut)
    def get_license(license_id: str, session: SessionDep) -> LicenseOut:
        return service.get_license(session, license_id)

    @api.get("/deployments", response_model=list[DeploymentOut])
    def list_deployments(
        session: SessionDep, model: Annotated[str | None, Query(max_length=200)] = None
    ) -> list[DeploymentOut]:
        model_id = service.get_model(session, model).id if model else None
        return [service.deployment_view(d) for d in repo.list_deployments(session, model_id)]

    @api.post(
        "/deployments",
        response_model=DeploymentOut,
        status_code=status.HTTP_201_CREATED,
        dependencies=admin_only,
    )
    def add_deployment(spec: DeploymentIn, session: SessionDep) -> DeploymentOut:
        return service.deployment_view(service.add_deployment(session, spec))

    @api.patch("/deployments/{ref:path}", response_model=DeploymentOut, dependencies=admin_only)
    def update_deployment(ref: str, patch: DeploymentPatch, session: SessionDep) -> DeploymentOut:
        return service.deployment_view(service.update_deployment(session, ref, patch))

    @api.delete(
        "/deployments/{ref:path}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=admin_only,
    )
    def remove_deployment(ref: str, session: SessionDep) -> Response:
        service.remove_deployment(session, ref)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/catalog/version")
    def catalog_version(session: SessionDep) -> dict[str, int]:
        """Rises on every catalog change; router replicas compare it to rebuild snapshots."""
        return {"version": repo.catalog_version(session)}

    return api
