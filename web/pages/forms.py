"""What every page handler asks of a request: its form, whether htmx sent it, where it may
send the visitor next, and whether it came from our own pages."""

from fastapi import Request

from router.core import Forbidden
from web.pages.queries import PageInputError


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def form_text(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise PageInputError("the form was not valid UTF-8") from None


def local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this site: a form's `next` never sends the visitor elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def same_origin(request: Request) -> None:
    """Defence in depth beside SameSite cookies: a form posted from another site is refused."""
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise Forbidden("this form can only be sent from modelyard's own pages")
