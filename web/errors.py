"""Every error leaves the API in one envelope: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from catalog import errors as catalog_errors
from router import errors as router_errors

log = logging.getLogger("modelyard")

STATUS = {
    catalog_errors.NotFound: 404,
    catalog_errors.Conflict: 409,
    catalog_errors.InvalidInput: 422,
    catalog_errors.SeedError: 422,
    router_errors.Unauthorized: 401,
    router_errors.Forbidden: 403,
    router_errors.KeyNotFound: 404,
    router_errors.KeyExists: 409,
}


def envelope(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, catalog_errors.CatalogError | router_errors.RouterError)
    return envelope(_status_of(exc), exc.code, exc.message, exc.details)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "message": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(p['loc'])}: {p['message']}" for p in problems)
    return envelope(422, "invalid_request", summary or "invalid request", {"errors": problems})


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return envelope(exc.status_code, code, str(exc.detail))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Log the trace for operators; the caller gets no internals.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope(500, "internal_error", "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(catalog_errors.CatalogError, _domain_error)
    app.add_exception_handler(router_errors.RouterError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
