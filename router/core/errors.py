"""The router's exceptions; `web` translates them into HTTP answers."""

from __future__ import annotations

from typing import Any


class RouterError(Exception):
    code = "router_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Unauthorized(RouterError):
    code = "unauthorized"


class Forbidden(RouterError):
    code = "forbidden"


class KeyNotFound(RouterError):
    code = "not_found"


class KeyExists(RouterError):
    code = "conflict"


class RouteError(RouterError):
    """A request the router cannot route; `status` and `code` go to OpenAI's envelope."""

    def __init__(
        self,
        message: str,
        code: str = "invalid_request_error",
        status: int = 400,
        details: dict[str, Any] | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.code = code
        self.status = status
        self.param = param
        self.headers = headers or {}


class KeyStateConflict(KeyExists):
    """The key's state forbids the action: revoked, or expired."""


class TeamNotFound(KeyNotFound):
    pass


class PolicyRefused(RouteError):
    """A request that tried to widen a limit of its key's or team's policy (403, code
    `policy`). `level` is "key" or "team", `owner` that key's or team's name."""

    def __init__(
        self, message: str, *, field: str, level: str, owner: str, param: str, asked: Any
    ) -> None:
        details = {
            "policy": {"field": field, "level": level, "name": owner, "asked": asked},
        }
        super().__init__(message, "policy", 403, details, param)
        self.field = field
        self.level = level
        self.owner = owner
        self.asked = asked
