"""Pages over the catalog and the licence engine: browse, one model, compare, check."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from catalog import licensing, service
from catalog.errors import CatalogError
from catalog.schemas import (
    PROFILE_FIELDS,
    ComplianceCheckIn,
    ModelDetail,
    ModelFilters,
    UsageProfile,
)
from catalog.snapshot import CatalogSnapshot, SnapshotCache
from web.pages import charts
from web.pages.forms import form_text, is_htmx, local_path, same_origin
from web.pages.plain_terms import plain_terms
from web.pages.queries import (
    PROFILE_COOKIE,
    PROFILE_COOKIE_SECONDS,
    PageInputError,
    describe_profile,
    given,
    profile_fields,
    profile_query,
    query_string,
    saved_profile,
    validate,
)
from web.pages.rendering import render

MAX_COMPARED = 4
SORTS = {
    "name": "Name",
    "-params": "Most parameters",
    "params": "Fewest parameters",
    "-context": "Longest context",
    "-release": "Newest",
    "price": "Cheapest",
    "-score": "Best score (pick a benchmark)",
}


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def make_router(session_dependency: Callable[..., Any], snapshots: SnapshotCache) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]

    def current_snapshot(session: SessionDep) -> CatalogSnapshot:
        return snapshots.get(session)

    SnapshotDep = Annotated[CatalogSnapshot, Depends(current_snapshot)]
    pages = APIRouter(include_in_schema=False)

    def facets(session: Session, snapshot: CatalogSnapshot) -> dict[str, Any]:
        return {
            "families": sorted({m.family for m in snapshot.models.values()}, key=str.lower),
            "licenses": service.list_licenses(session),
            "benchmarks": charts.benchmarks_by_coverage(snapshot),
            "sorts": SORTS,
        }

    @pages.get("/")
    def catalog(request: Request, session: SessionDep, snapshot: SnapshotDep) -> Response:
        values = given(request.query_params.multi_items())
        profile = saved_profile(request.cookies)
        if values.pop("use", None) == "mine":
            # Expand "allowed for my use" into the profile's own fields, so the URL alone
            # shows the same list to whoever it is shared with.
            mine = profile_query(profile) if profile else {}
            return RedirectResponse("/?" + urlencode({**values, **mine}), status_code=303)
        error = None
        try:
            filters = validate(ModelFilters, values)
            page = service.list_models(session, filters, snapshot, _today())
        except PageInputError as exc:
            error, filters, page = str(exc), None, None
        applied = filters.usage_profile() if filters else None
        canonical = "/?" + query_string(filters) if filters else request.url.path
        context = {
            "values": values,
            "error": error,
            "page": page,
            "filters": filters,
            "profile": profile,
            "applied_profile": describe_profile(applied) if applied else None,
            "without_profile": "/?"
            + urlencode({k: v for k, v in values.items() if k not in PROFILE_FIELDS}),
            "page_link": lambda n: "/?" + urlencode({**values, "page": n}),
            **facets(session, snapshot),
        }
        status = 400 if error else 200
        if is_htmx(request):
            headers = {"HX-Push-Url": canonical.rstrip("?") or "/"}
            return render(request, "_catalog_results.html", context, status, headers)
        return render(request, "catalog.html", context, status)

    @pages.get("/models/{ref:path}")
    def model_page(
        ref: str, request: Request, session: SessionDep, snapshot: SnapshotDep
    ) -> Response:
        detail = service.model_detail(service.get_model(session, ref), snapshot, _today())
        saved = saved_profile(request.cookies)
        profile = saved or UsageProfile(commercial=True)  # the question most visitors have
        compliance = licensing.check_model(snapshot, snapshot.models[detail.id], profile)
        licences = {
            lic.license: service.get_license(session, lic.license) for lic in compliance.licenses
        }
        base = str(request.base_url).rstrip("/") + "/v1"
        context = {
            "model": detail,
            "compliance": compliance,
            "profile_words": describe_profile(profile),
            "profile_saved": saved is not None,
            "terms": {lid: plain_terms(lic) for lid, lic in licences.items()},
            "licence_names": {lid: lic.name for lid, lic in licences.items()},
            "snippet": _snippet(base, detail),
            # Hosted providers with a key here: the router only calls those.
            "providers": getattr(request.app.state, "providers", None),
        }
        return render(request, "model.html", context)

    @pages.get("/compare")
    def compare(request: Request, session: SessionDep, snapshot: SnapshotDep) -> Response:
        refs = [r for r in request.query_params.getlist("m") if r.strip()]
        benchmarks = charts.benchmarks_by_coverage(snapshot)
        benchmark = request.query_params.get("benchmark") or charts.default_benchmark(benchmarks)
        error = None
        models: list[ModelDetail] = []
        if len(refs) > MAX_COMPARED:
            error = f"Compare at most {MAX_COMPARED} models at once; {len(refs)} were given."
        else:
            try:
                found = service.resolve_models(snapshot, refs)
                today = _today()
                models = [
                    service.model_detail(service.get_model(session, m.hf_id), snapshot, today)
                    for m in found
                ]
            except CatalogError as exc:
                error = exc.message
        if len(benchmark) > 64 or benchmark.lower() not in {b.lower() for b, _n in benchmarks}:
            error = error or f"No model reports the benchmark '{benchmark}'."
            benchmark = benchmarks[0][0] if benchmarks else ""
        score_names = sorted({s.benchmark for m in models for s in m.scores}, key=str.lower)
        points = charts.cost_quality(snapshot, benchmark) if benchmark else []
        context = {
            "models": models,
            "refs": refs,
            "error": error,
            "all_models": sorted(snapshot.models.values(), key=lambda m: m.name.lower()),
            "score_names": score_names,
            "best_scores": {
                m.id: {
                    name: max(s.score for s in m.scores if s.benchmark == name)
                    for name in {s.benchmark for s in m.scores}
                }
                for m in models
            },
            "benchmark": benchmark,
            "benchmarks": benchmarks,
            "points": charts.points_as_data(points),
            "frontier": [p for p in points if p.on_frontier],
            "max_compared": MAX_COMPARED,
        }
        return render(request, "compare.html", context, 400 if error else 200)

    @pages.get("/check")
    def check(request: Request, snapshot: SnapshotDep) -> Response:
        values = given(request.query_params.multi_items())
        asked = bool(profile_fields(values)) or values.get("run") == "1"
        saved = saved_profile(request.cookies)
        error, report, profile = None, None, saved or UsageProfile()
        if asked:
            try:
                profile = validate(UsageProfile, profile_fields(values))
                report = service.check_compliance(snapshot, ComplianceCheckIn(use=profile))
            except PageInputError as exc:
                error = str(exc)
        context = {
            "values": values if asked else dict(parse_qsl(query_string(profile))),
            "error": error,
            "report": report,
            "profile_words": describe_profile(profile),
            "saved_words": describe_profile(saved) if saved else None,
            "catalog_link": "/?" + urlencode(profile_query(profile)) if report else None,
            "query": query_string(profile),
        }
        return render(request, "check.html", context, 400 if error else 200)

    @pages.post("/profile", dependencies=[Depends(same_origin)])
    async def save_profile(request: Request) -> Response:
        """Keep the usage profile in a cookie: the catalog's "allowed for my use" and the
        model pages' verdicts use it."""
        values = given(parse_qsl(await form_text(request)))
        if values.get("action") == "clear":
            response = RedirectResponse(local_path(values.get("next"), "/check"), 303)
            response.delete_cookie(PROFILE_COOKIE, path="/")
            return response
        profile = validate(UsageProfile, profile_fields(values))
        # Back to the checker showing the saved profile's verdicts, unless told otherwise.
        shown = "/check?" + urlencode([*parse_qsl(query_string(profile)), ("run", "1")])
        response = RedirectResponse(local_path(values.get("next"), shown), status_code=303)
        response.set_cookie(
            PROFILE_COOKIE,
            query_string(profile),
            max_age=PROFILE_COOKIE_SECONDS,
            path="/",
            samesite="lax",
            httponly=True,
        )
        return response

    return pages


def _snippet(base_url: str, model: ModelDetail) -> str:
    return (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key="YOUR_MODELYARD_KEY")\n'
        "answer = client.chat.completions.create(\n"
        f'    model="{model.id}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(answer.choices[0].message.content)\n"
    )
