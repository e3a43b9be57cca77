"""What every page handler asks of a request: its form, whether htmx sent it, where it may
send the visitor next, whether it came from our own pages, and the key it is signed in with."""

from fastapi import Request

from router.accounts import KeyCache, KeyView
from router.core import Forbidden, Unauthorized
from web.pages.queries import KEY_COOKIE, PageInputError


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


async def signed_in(request: Request, keys: KeyCache) -> KeyView | None:
    """The key the visitor signed in with (the HttpOnly cookie), or None: none given, or
    revoked since, so the page asks to sign in again."""
    secret = request.cookies.get(KEY_COOKIE)
    if not secret:
        return None
    try:
        return await keys.authenticate(f"Bearer {secret}")
    except Unauthorized:
        return None
