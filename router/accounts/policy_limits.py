"""Key and team policies as limits: a request (its `route` object, `X-Route-*` headers, an
explicit `model`) may narrow what its key's and its team's policies allow, never widen it.

Every policy field is one of four kinds (FIELD_KINDS): a limit binds every request and every
layer below it (team → key → request; each may only narrow); a default is the value used when
the request does not set one (request → key → team); `team` is membership; `allow_redact` and
`relax` are grants an admin gives a key explicitly (the key.update audit entry records them).

A widening attempt raises PolicyRefused (403, code `policy`) naming the field and the key or
team whose policy set the limit. Nothing here reads the catalog: model names are resolved by
the caller's `resolve` (the snapshot's aliases)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from catalog.schemas import UsageProfile
from router.accounts.policy import KeyPolicy, TeamPolicy
from router.core.errors import PolicyRefused, RouteError
from router.core.requests import RouteControls

Kind = Literal["limit", "default", "membership", "grant"]
Resolve = Callable[[str], str | None]  # a model reference → its catalog id (None: unknown)

# Every field of a key's policy (a team's policy has the route controls among them).
FIELD_KINDS: dict[str, Kind] = {
    "models": "limit",
    "exclude": "limit",
    "privacy": "limit",
    "use": "limit",
    "max_cost_usd": "limit",
    # Not route controls: no request can set them, and a key's and its team's both apply.
    "requests_per_minute": "limit",
    "tokens_per_minute": "limit",
    "budget_usd_per_day": "limit",
    "budget_usd_per_month": "limit",
    "min_quality": "default",
    "quality_as": "default",
    "strategy": "default",
    "quality_value_usd": "default",
    "cache_ttl_seconds": "default",
    "reference_model": "default",
    "embedding_model": "default",
    "team": "membership",
    "allow_redact": "grant",
    "relax": "grant",
    # Learning from traffic (docs/feedback.md): set on the key only, never by a request. An
    # opt-out of exploration and its budget bind the key's requests; keeping prompt text is a
    # permission the admin gives.
    "explore": "limit",
    "exploration_budget_usd_per_day": "limit",
    "store_prompts": "grant",
}
LIMITS = ("models", "exclude", "privacy", "use", "max_cost_usd")
LIMIT_SET = frozenset(LIMITS)
CONTROLS = tuple(RouteControls.model_fields)
BLANK = RouteControls()  # what the effective controls are copied from (cheaper than built)
DEFAULTS = tuple(name for name in CONTROLS if name not in LIMITS)
QUALITY_NEED = ("min_quality", "quality_as")  # one default: whoever sets either sets both

# Stricter is higher: auto keeps what it finds local, redact sends placeholders instead.
PRIVACY_RANK = {"any": 0, "redact": 1, "auto": 2, "local_only": 3}

# How a request's licence profile may differ from the policy's, field by field. Declaring
# more activities, more users or more revenue can only bring more licence terms to bear.
UseRule = Literal["on", "off", "raise", "raise_declared", "declare", "fixed"]
USE_RULES: dict[str, UseRule] = {
    # Activities: a request may declare one the policy does not; never undeclare one.
    "commercial": "on",
    "hosted_service": "on",
    "fine_tune": "on",
    "redistribute_weights": "on",
    "train_on_outputs": "on",
    "outputs_target_same_family": "on",
    "imitate_source_model": "on",
    # An exemption (Llama's end-user test): a request may give it up, never claim it.
    "end_user_of_product": "off",
    # Figures whose unknown counts as within the threshold: raise, or declare if unknown.
    "monthly_active_users": "raise",
    "monthly_revenue_usd": "raise",
    # Figures at release: unknown may leave a model for review that a low figure would lift,
    # so a request may only raise one the policy declares.
    "monthly_active_users_at_release": "raise_declared",
    "affiliates_monthly_active_users_at_release": "raise_declared",
    # Facts whose unknown adds only an obligation: declare if unknown, never change.
    "licensee_region": "declare",
    "derivative_name": "declare",
    # The date picks the licence version in force: never moved (today is today).
    "date": "fixed",
}
RULE_WORDS: dict[UseRule, str] = {
    "on": "a request may declare this activity, never undeclare it",
    "off": "a request may give up this exemption, never claim it",
    "raise": "a request may raise this figure, never lower or remove it",
    "raise_declared": "a request may raise this figure, never lower, remove or add it",
    "declare": "a request may give it when the policy does not, never change it",
    "fixed": "a request may not move the date of use",
}


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _use_widens(name: str, floor: Any, asked: Any) -> bool:
    """Whether `asked` for this profile field is looser than the policy's `floor`."""
    if asked == floor:
        return False
    rule = USE_RULES[name]
    if rule == "on":
        return not asked
    if rule == "off":
        return bool(asked)
    if rule == "raise":
        return floor is not None and (asked is None or asked < floor)
    if rule == "raise_declared":
        return floor is None or asked is None or asked < floor
    if rule == "declare":
        return floor is not None
    return not (floor is None and asked == _today())  # "fixed"


def narrow_use(floor: UsageProfile, asked: UsageProfile) -> tuple[dict[str, Any] | None, list[str]]:
    """The profile `asked` makes of `floor` (the fields it sets, over the floor's; None when
    it changes nothing), and the fields where it would have widened the floor (left at the
    floor's value)."""
    values = vars(floor)
    changed: dict[str, Any] | None = None
    wide = []
    for name in sorted(asked.model_fields_set):
        value = getattr(asked, name)
        if value == values[name]:
            continue
        if _use_widens(name, values[name], value):
            wide.append(name)
        else:
            changed = changed if changed is not None else dict(values)
            changed[name] = value
    return changed, wide


@dataclass(frozen=True)
class Layer:
    """One source of controls. `binding`: the limits it imposes on the layers after it
    (a request binds nothing; a key binds all but those an admin let it relax)."""

    level: Literal["team", "key", "request"]
    name: str  # the team or key; for the request, "route" or "headers"
    controls: RouteControls
    binding: frozenset[str] = frozenset()

    # Set once on creation: the route controls this layer sets (a key policy's other fields
    # are not controls), and how a message names the layer.
    given: dict[str, Any] = field(init=False, repr=False, compare=False)
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = vars(self.controls)
        given = {name: values[name] for name in CONTROLS if values[name] is not None}
        object.__setattr__(self, "given", given)
        if self.level == "request":
            label = "request (route)" if self.name == "route" else "request (X-Route-* headers)"
        else:
            label = f"{self.level} '{self.name}'"
        object.__setattr__(self, "label", label)

    def param(self, name: str) -> str:
        if self.name == "headers":
            return "x-route-" + name.split(".")[0].replace("_", "-")
        return f"route.{name}"

    def value(self, name: str) -> Any:
        return self.given.get(name)


@dataclass(frozen=True)
class Effective:
    """The controls a request routes with, and which layers set each field."""

    controls: RouteControls
    set_by: dict[str, list[str]]

    def view(self, grants: dict[str, Any], extra: dict[str, tuple[Any, str]]) -> dict[str, Any]:
        """For the dry run: every limit and default, its value and where it came from."""
        limits: dict[str, Any] = {}
        for name in LIMITS:
            value = self.controls.model_dump(mode="json")[name]
            limits[name] = {"value": value, "set_by": self.set_by.get(name, [])}
        for name, (value, source) in extra.items():
            limits[name] = {"value": value, "set_by": [source] if value is not None else []}
        defaults = {
            name: {
                "value": self.controls.model_dump(mode="json")[name],
                "set_by": self.set_by.get(name, []),
            }
            for name in DEFAULTS
        }
        return {"limits": limits, "defaults": defaults, "grants": grants}


def _resolved(refs: Sequence[str], resolve: Resolve, keep_unknown: bool) -> list[str]:
    out: list[str] = []
    for ref in refs:
        found = resolve(ref)
        if found is None and keep_unknown:
            found = ref  # the decision names an unknown model (404), as it always has
        if found is not None and found not in out:
            out.append(found)
    return out


def _refuse(
    policy: Layer, asker: Layer | None, name: str, asked: Any, limit: Any, why: str
) -> PolicyRefused:
    """`asker` None: the request's explicit model. A model named in route.models or `model`
    is reported on the field it came in, whichever of the policy's lists refused it."""
    naming = name in ("models", "exclude")
    if asker is None:
        who, param = f"the request's model {asked!r}", "model"
    else:
        param = asker.param("models" if naming else name)
        who = f"{asker.label}: {'model' if naming else name} {asked!r}"
    kind = "team" if policy.level == "team" else "key"
    return PolicyRefused(
        f"{who} is refused by the policy of {policy.label}: {why} ({name}: {limit!r}). "
        f"A request may narrow its {kind}'s limits, never widen them.",
        field=name,
        level=kind,
        owner=policy.name,
        param=param,
        asked=asked,
    )


def _check_models(
    policy: Layer, asker: Layer | None, refs: Sequence[str], resolve: Resolve
) -> None:
    """Models a request names (route.models, or its explicit model) must be in every binding
    allowlist and in no binding denylist."""
    for ref in refs:
        found = resolve(ref)
        if found is None:
            continue  # unknown: the decision says so (404)
        allowed = policy.value("models") if "models" in policy.binding else None
        if allowed is not None and found not in _resolved(allowed, resolve, False):
            raise _refuse(policy, asker, "models", ref, allowed, "not in the allowlist")
        denied = policy.value("exclude") if "exclude" in policy.binding else None
        if denied and found in _resolved(denied, resolve, False):
            raise _refuse(policy, asker, "exclude", ref, denied, "named in the denylist")


def _check(policy: Layer, asker: Layer, resolve: Resolve) -> None:
    """Refuse what `asker` sets looser than `policy` binds it to."""
    bound = policy.binding
    asked_models = asker.value("models")
    if asked_models is not None:
        _check_models(policy, asker, asked_models, resolve)
    privacy, limit = asker.value("privacy"), policy.value("privacy")
    looser = privacy is not None and limit is not None and privacy != limit
    if "privacy" in bound and looser and PRIVACY_RANK[privacy] < PRIVACY_RANK[limit]:
        raise _refuse(policy, asker, "privacy", privacy, limit, "looser than the policy's")
    cost, ceiling = asker.value("max_cost_usd"), policy.value("max_cost_usd")
    if "max_cost_usd" in bound and cost is not None and ceiling is not None and cost > ceiling:
        raise _refuse(policy, asker, "max_cost_usd", cost, ceiling, "higher than the policy's")
    use, floor = asker.value("use"), policy.value("use")
    if "use" in bound and use is not None and floor is not None:
        _, wide = narrow_use(floor, use)
        if wide:
            name = wide[0]
            raise _refuse(
                policy,
                asker,
                f"use.{name}",
                getattr(use, name),
                getattr(floor, name),
                RULE_WORDS[USE_RULES[name]],
            )


@functools.lru_cache(maxsize=1024)
def _narrowed(held: UsageProfile, value: UsageProfile, _given: frozenset[str]) -> UsageProfile:
    """`held` narrowed by `value` (what would widen it left out), validated once per pair:
    an app sends the same profile again and again. (`_given` is part of the cache key: two
    equal profiles may set different fields.)"""
    narrowed, _ = narrow_use(held, value)
    return held if narrowed is None else UsageProfile.model_validate(narrowed)


Folded = tuple[dict[str, Any], dict[str, list[str]]]  # values, and the layers that set each


def _fold_limits(layers: Sequence[Layer], resolve: Resolve) -> Folded:
    values: dict[str, Any] = {}
    set_by: dict[str, list[str]] = {}
    for layer in layers:
        keep = layer.level == "request"
        for name, value in layer.given.items():
            if name not in LIMIT_SET:
                continue
            set_by.setdefault(name, []).append(layer.label)
            held = values.get(name)
            if name == "models":
                mine = _resolved(value, resolve, keep)
                values[name] = mine if held is None else [m for m in mine if m in held]
            elif name == "exclude":
                mine = _resolved(value, resolve, keep)
                values[name] = (held or []) + [m for m in mine if m not in (held or [])]
            elif name == "privacy":
                stricter = held is None or PRIVACY_RANK[value] >= PRIVACY_RANK[held]
                values[name] = value if stricter else held
            elif name == "max_cost_usd":
                values[name] = value if held is None else min(held, value)
            elif held is None:
                values[name] = value
            else:  # use: a key narrows its team's (what would widen it is left out)
                try:
                    values[name] = _narrowed(held, value, frozenset(value.model_fields_set))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise RouteError(
                        f"{layer.param('use')}: {first['msg']} (over the policy's profile)",
                        param=layer.param("use"),
                    ) from exc
    return values, set_by


def _fold_defaults(layers: Sequence[Layer]) -> Folded:
    values: dict[str, Any] = {}
    set_by: dict[str, list[str]] = {}
    for layer in reversed(layers):  # the request's first, the team's last
        for name, value in layer.given.items():
            if name in LIMIT_SET or name in values:
                continue
            if name in QUALITY_NEED and ("min_quality" in values or "quality_as" in values):
                continue
            values[name] = value
            set_by[name] = [layer.label]
    return values, set_by


def _may_redact(key: KeyPolicy, policies: Sequence[Layer], resolve: Resolve) -> bool:
    return bool(key.allow_redact) or _fold_limits(policies, resolve)[0].get("privacy") == "redact"


def policy_layers(
    key_name: str,
    key: KeyPolicy,
    team: tuple[str, TeamPolicy] | None,
    asked: Sequence[Layer],
    explicit: bool = False,
) -> list[Layer]:
    """The team's and the key's layers; a key's field the admin let it relax binds nothing,
    and gives way entirely when the request sets that field."""
    layers = []
    if team is not None:
        layers.append(Layer("team", team[0], team[1], frozenset(LIMITS)))
    relaxed: set[str] = set(key.relax or ())
    if key.allow_redact and any(a.value("privacy") == "redact" for a in asked):
        relaxed.add("privacy")
    touched = {name for a in asked for name in LIMITS if a.value(name) is not None}
    if explicit or "models" in touched:
        touched |= {"models", "exclude"}  # naming a model asks past both lists
    drop: dict[str, Any] = dict.fromkeys(relaxed & touched)
    controls = key.model_copy(update=drop) if drop else key
    layers.append(Layer("key", key_name, controls, frozenset(LIMITS) - relaxed))
    return layers


def effective(
    key_name: str,
    key: KeyPolicy,
    team: tuple[str, TeamPolicy] | None,
    asked: Sequence[Layer],
    model: str | None,
    resolve: Resolve,
) -> Effective:
    """The controls for a request whose own layers (headers, then route) are `asked` and
    whose explicit model is `model` (None or "auto": the router chooses). Raises
    PolicyRefused on the first widening, naming the innermost policy it breaks."""
    explicit = model is not None and model.lower() != "auto"
    policies = policy_layers(key_name, key, team, asked, explicit)
    innermost_first = list(reversed(policies))
    for asker in asked:
        for policy in innermost_first:
            _check(policy, asker, resolve)
    if explicit and model is not None:
        for policy in innermost_first:
            _check_models(policy, None, [model], resolve)
    # Placeholders sent to hosted deployments are the admin's call: a grant, or a policy
    # whose own rule is redact.
    redacting = next((a for a in asked if a.value("privacy") == "redact"), None)
    if redacting is not None and not _may_redact(key, policies, resolve):
        raise PolicyRefused(
            f"{redacting.label} asks for privacy 'redact', which key '{key_name}' may not "
            "ask for: its policy needs allow_redact: true (or privacy: redact)",
            field="privacy",
            level="key",
            owner=key_name,
            param=redacting.param("privacy"),
            asked="redact",
        )
    layers = [*policies, *asked]
    limits, limit_sources = _fold_limits(layers, resolve)
    defaults, default_sources = _fold_defaults(layers)
    # Every value was validated in its own layer and the folds keep the rules (one quality
    # need, lists of catalog ids, a coherent profile): no second validation on the hot path.
    controls = BLANK.model_copy(update={**limits, **defaults})
    return Effective(controls, {**limit_sources, **default_sources})
