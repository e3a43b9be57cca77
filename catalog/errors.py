"""The catalog's exceptions. Endpoints and the CLI translate them; nothing below them does."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class CatalogError(Exception):
    """Base of every error the catalog raises on purpose."""

    code = "catalog_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(CatalogError):
    code = "not_found"


class Conflict(CatalogError):
    code = "conflict"


class InvalidInput(CatalogError):
    code = "invalid_input"


class SeedError(CatalogError):
    """A seed file is malformed; the message names the file, the entry and the field."""

    code = "invalid_seed"


class PriceUnknown(InvalidInput):
    code = "price_unknown"


def validation_problems(exc: ValidationError) -> str:
    """A seed or score entry's validation errors on one line: `field.path: message; …`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(entry)'}: {err['msg']}" for err in exc.errors()
    )
