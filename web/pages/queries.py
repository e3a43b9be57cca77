"""Reading what a visitor asked for from the URL, a form or a cookie, and writing it back as
a URL that shows the same view when shared."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ValidationError

from catalog.schemas import PROFILE_FIELDS, UsageProfile

PROFILE_COOKIE = "modelyard_profile"
KEY_COOKIE = "modelyard_key"
ModelT = TypeVar("ModelT", bound=BaseModel)
# A year: the profile is a preference, set once.
PROFILE_COOKIE_SECONDS = 365 * 24 * 3600


class PageInputError(Exception):
    """A page's input did not validate; the message says what to fix, field by field."""


def given(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Fields with a value: an empty form field means 'no filter', not an empty string.
    A repeated field keeps its last value, as a form's own controls would."""
    return {name: value for name, value in pairs if value.strip() != ""}


def describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        message = str(problem.get("msg", "invalid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def validate(model: type[ModelT], values: Mapping[str, Any]) -> ModelT:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise PageInputError(describe(exc)) from None


def query_string(model: BaseModel) -> str:
    """The fields that differ from their defaults, as a query string (booleans as
    true/false): the shortest URL that shows the same view."""
    values = model.model_dump(mode="json", exclude_defaults=True)
    pairs = [
        (name, "true" if value is True else "false" if value is False else str(value))
        for name, value in values.items()
        if value is not None
    ]
    return urlencode(pairs)


def profile_query(profile: UsageProfile) -> dict[str, str]:
    """A profile as URL fields that apply it: `commercial` is always said, so even the
    default (non-commercial) profile filters by licence."""
    return {
        "commercial": "true" if profile.commercial else "false",
        **dict(parse_qsl(query_string(profile))),
    }


def profile_fields(values: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in values.items() if name in PROFILE_FIELDS}


def saved_profile(cookies: Mapping[str, str]) -> UsageProfile | None:
    """The usage profile the visitor saved; a cookie that no longer validates is ignored."""
    raw = cookies.get(PROFILE_COOKIE)
    if not raw:
        return None
    try:
        return UsageProfile.model_validate(profile_fields(given(parse_qsl(raw))))
    except ValidationError:
        return None


def describe_profile(profile: UsageProfile) -> list[str]:
    """The profile in a few words, for the chip that shows it is applied."""
    words = ["commercial use" if profile.commercial else "non-commercial use"]
    if profile.monthly_active_users is not None:
        words.append(f"{profile.monthly_active_users:,} monthly users")
    if profile.monthly_active_users_at_release is not None:
        words.append(f"{profile.monthly_active_users_at_release:,} users at licence release")
    if profile.affiliates_monthly_active_users_at_release is not None:
        words.append(
            f"{profile.affiliates_monthly_active_users_at_release:,} affiliates' users at release"
        )
    if profile.monthly_revenue_usd is not None:
        words.append(f"US${profile.monthly_revenue_usd:,} monthly revenue")
    if profile.licensee_region is not None:
        words.append(f"licensee in {profile.licensee_region}")
    labels = {
        "end_user_of_product": "as an end user of another company's product",
        "imitate_source_model": "to perform like the source model",
        "hosted_service": "served to others",
        "fine_tune": "fine-tuning",
        "redistribute_weights": "redistributing weights",
        "train_on_outputs": "training on outputs",
        "outputs_target_same_family": "for a model of the same family",
    }
    words += [label for field, label in labels.items() if getattr(profile, field)]
    if profile.derivative_name:
        words.append(f"derivative named {profile.derivative_name}")
    if profile.date is not None:
        words.append(f"on {profile.date.isoformat()}")
    return words
