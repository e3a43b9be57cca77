"""Every error leaves in one envelope. Under /v1 it is OpenAI's,
{"error": {"message", "type", "param", "code"}}, so SDKs raise their usual exceptions, except
under /v1/messages (the Anthropic Messages API), where it is Anthropic's,
{"type": "error", "error": {"type", "message"}}; under /api it is
{"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from adapters.errors import AdapterError
from catalog import errors as catalog_errors
from router.core import errors as router_errors
from router.pipeline import ExecutionFailed
from web.pages.queries import PageInputError
from web.problems import explain

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
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


# The Anthropic Messages API's error types by status (its clients raise by these).
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def envelope(
    path: str,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    param: str | None = None,
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if path.startswith("/v1/messages"):
        kind = ANTHROPIC_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        error: dict[str, Any] = {"type": kind, "message": message, **(details or {})}
        return JSONResponse({"type": "error", "error": error}, status_code=status, headers=headers)
    if path.startswith("/v1"):
        if status == 401:
            code = "invalid_api_key"
        kind = OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        body: dict[str, Any] = {"message": message, "type": kind, "param": param, "code": code}
        body.update(details or {})
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _domain_error(path: str, exc: Exception) -> JSONResponse:
    if isinstance(exc, router_errors.RouteError):
        response = envelope(path, exc.status, exc.code, exc.message, exc.details, exc.param)
        response.headers.update(exc.headers)
        return response
    assert isinstance(exc, catalog_errors.CatalogError | router_errors.RouterError)
    return envelope(path, _status_of(exc), exc.code, exc.message, exc.details)


def _execution_failed(path: str, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ExecutionFailed)
    last = exc.last
    status = last.status if last else 503
    details = {"attempts": [a.as_dict() for a in exc.attempts]}
    param = getattr(last, "param", None)  # an UnsupportedParameter names it
    code = last.code if last else "no_candidate"
    response = envelope(path, status, code, str(exc), details, param)
    if last is not None and getattr(last, "retry_after", None):
        response.headers["Retry-After"] = str(int(last.retry_after))  # type: ignore[attr-defined]
    return response


def _adapter_error(path: str, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AdapterError)
    return envelope(path, exc.status, exc.code, exc.message, None, getattr(exc, "param", None))


def _field_path(loc: Sequence[str]) -> list[str]:
    """A location without pydantic's union branch labels (`str`, `list[...]`,
    `function-after[...]`) and without a tagged union's tag repeated before its field."""
    path: list[str] = []
    for part in loc:
        if "[" in part or part in ("str", "int", "float", "bool", "dict", "list", "none"):
            continue
        path.append(part)
    return [p for i, p in enumerate(path) if i == 0 or not (p == path[i - 1] and i >= 2)]


def _validation_error(path: str, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "message": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    for problem in problems:
        problem["loc"] = _field_path(problem["loc"])
    # A value that fits no branch of a union fails every branch: the deepest error is the one
    # that says what is wrong (a bad image URL, not "content is not a string").
    problems.sort(key=lambda p: -len(p["loc"]))
    summary = "; ".join(f"{'.'.join(p['loc'])}: {p['message']}" for p in problems)
    first = problems[0]["loc"] if problems else []
    param = ".".join(first[1:]) if len(first) > 1 else None
    if path.startswith("/v1"):
        return envelope(path, 400, "invalid_request", summary or "invalid request", None, param)
    return envelope(
        path, 422, "invalid_request", summary or "invalid request", {"errors": problems}
    )


def _http_error(path: str, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return envelope(path, exc.status_code, code, str(exc.detail))


def _page_input(path: str, exc: Exception) -> JSONResponse:
    return envelope(path, 400, "invalid_input", str(exc))


def _unexpected(path: str, exc: Exception) -> JSONResponse:
    problem = explain(exc)
    if problem is not None:  # the database went away, say: one line, the trace at debug level
        log.error("%s: %s", path, problem.sentence(), exc_info=log.isEnabledFor(logging.DEBUG))
        return envelope(path, 503, problem.code, f"{problem.public}; try again later")
    # Log the trace for operators; the caller gets no internals.
    log.exception("unhandled error on %s", path, exc_info=exc)
    return envelope(path, 500, "internal_error", "internal server error")


Handler = Callable[[str, Exception], JSONResponse]
HANDLERS: dict[type[Exception], Handler] = {
    catalog_errors.CatalogError: _domain_error,
    router_errors.RouterError: _domain_error,
    ExecutionFailed: _execution_failed,
    AdapterError: _adapter_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    PageInputError: _page_input,
    # Its own entry: Starlette re-raises what the catch-all `Exception` handler answered, and
    # the server would log that traceback too.
    SQLAlchemyError: _unexpected,
    Exception: _unexpected,
}


def response_for(path: str, exc: Exception) -> JSONResponse:
    """The envelope for any exception, chosen by its nearest class, as FastAPI would."""
    handler = next(HANDLERS[cls] for cls in type(exc).__mro__ if cls in HANDLERS)
    return handler(path, exc)


def install(app: FastAPI, pages: Callable[[Request, JSONResponse], Response] | None = None) -> None:
    """`pages` may turn the envelope into an HTML page for a browser (see web/pages)."""
    for cls, handler in HANDLERS.items():

        def handle(request: Request, exc: Exception, handler: Handler = handler) -> Response:
            response = handler(request.url.path, exc)
            return pages(request, response) if pages is not None else response

        app.add_exception_handler(cls, handle)
