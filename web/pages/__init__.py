"""The web catalog: server-rendered pages (Jinja2 + htmx) over the same services as the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from catalog.snapshot import SnapshotCache
from router.accounts import KeyCache
from router.pipeline import Gateway
from web.pages import admin_pages, catalog_pages, quality_pages, router_pages
from web.pages.rendering import STATIC, render

API_PREFIXES = ("/api/", "/v1/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi.json")


def mount(
    app: FastAPI,
    session_dependency: Callable[..., Any],
    snapshots: SnapshotCache,
    gateway: Gateway,
    keys: KeyCache,
) -> None:
    app.include_router(catalog_pages.make_router(session_dependency, snapshots))
    app.include_router(router_pages.make_router(gateway, keys, session_dependency))
    app.include_router(admin_pages.make_router(keys, session_dependency))
    app.include_router(quality_pages.make_router(gateway, keys, session_dependency))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def wants_html(request: Request) -> bool:
    """A browser asking for a page (or htmx for a piece of one) gets its error as a page;
    API clients and scripts keep the JSON envelope."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    if request.headers.get("HX-Request") == "true":
        return True
    return "text/html" in request.headers.get("accept", "")


def as_html_error(request: Request, response: JSONResponse) -> Response:
    """The JSON envelope's status and message, shown as a page: never a stack trace."""
    if not wants_html(request):
        return response
    try:
        message = json.loads(bytes(response.body))["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = "Something went wrong."
    template = "_error.html" if request.headers.get("HX-Request") == "true" else "error.html"
    context = {"status": response.status_code, "message": message}
    return render(request, template, context, response.status_code)
