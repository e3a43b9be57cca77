"""Jinja2 for the pages: autoescaping on for every template, so catalog text (a model card
can say anything) always renders as text, never as markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from web.pages.plain_terms import distinct_reasons
from web.pages.queries import KEY_COOKIE

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

# Pages run no inline script or style: what runs is the vendored libraries and app.js.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def human_count(value: int | None) -> str:
    """7241748480 → 7.2B: how people say parameter counts."""
    if value is None:
        return "—"
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            scaled = value / size
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def human_tokens(value: int | None) -> str:
    """32768 → 32k, the way context windows are quoted."""
    if value is None:
        return "—"
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}k"
    return f"{value:,}"


def usd(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "free"
    sign, amount = ("-" if value < 0 else ""), abs(value)
    if amount < 0.01:
        return f"{sign}${amount:.6f}".rstrip("0")
    return f"{sign}${amount:,.{digits}f}"


def html_json(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' survive as such,
    so no catalog text can close the tag."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name in a template fails the test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        count=human_count,
        tokens=human_tokens,
        usd=usd,
        json_data=html_json,
        distinct_reasons=distinct_reasons,
    )
    return env


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    page = ENVIRONMENT.get_template(template).render(
        path=request.url.path,
        signed_in=request.cookies.get(KEY_COOKIE) is not None,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
