"""Spend summaries from the ledger's rows: per model, day and key, and what the same tokens
would have cost on a reference model. /api/usage answers with it; the Spend page charts it."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog.snapshot import CatalogSnapshot, DeploymentView
from router.core.errors import RouteError


@dataclass
class _Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def add(self, row: Any) -> None:
        self.requests += row.requests
        self.input_tokens += row.input_tokens
        self.output_tokens += row.output_tokens
        self.cost_usd += row.cost_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": float(self.cost_usd),
        }


def _cheapest_priced(snapshot: CatalogSnapshot, reference: str) -> tuple[str, DeploymentView]:
    model = snapshot.find(reference)
    if model is None:
        raise RouteError(
            f"unknown reference model '{reference}'", "model_not_found", 404, param="reference"
        )
    priced = [
        d
        for d in model.deployments
        if d.status == "active"
        and d.input_cost_per_token is not None
        and d.output_cost_per_token is not None
    ]
    if not priced:
        raise RouteError(
            f"the reference model {model.hf_id} has no priced deployment", param="reference"
        )
    return model.hf_id, min(
        priced, key=lambda d: (d.input_cost_per_token or 0) + (d.output_cost_per_token or 0)
    )


def _at(deployment: DeploymentView, totals: _Totals) -> float:
    """What these tokens would have cost on `deployment`."""
    return totals.input_tokens * (deployment.input_cost_per_token or 0) + (
        totals.output_tokens * (deployment.output_cost_per_token or 0)
    )


def summarise_usage(
    rows: list[Any],
    snapshot: CatalogSnapshot,
    reference: str | None,
    first: dt.date,
    last: dt.date,
) -> dict[str, Any]:
    """`rows` are repository.usage_rows(): requests, tokens and cost per key, model and day."""
    total = _Totals()
    by_model: dict[str, _Totals] = defaultdict(_Totals)
    by_day: dict[str, _Totals] = defaultdict(_Totals)
    by_key: dict[str, Decimal] = defaultdict(Decimal)
    by_day_model: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_day_key: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        model = row.model_name or "(none)"
        key = row.key_name or "(deleted key)"
        for totals in (total, by_model[model], by_day[row.day]):
            totals.add(row)
        by_key[key] += row.cost_usd
        by_day_model[row.day, model] += row.cost_usd
        by_day_key[row.day, key] += row.cost_usd
    result: dict[str, Any] = {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "total_cost_usd": float(total.cost_usd),
        "requests": total.requests,
        "by_model": [
            {"model": name, **t.as_dict()}
            for name, t in sorted(by_model.items(), key=lambda item: -item[1].cost_usd)
        ],
        "by_day": [{"day": day, **t.as_dict()} for day, t in sorted(by_day.items())],
        "by_key": [
            {"key": name, "cost_usd": float(cost)}
            for name, cost in sorted(by_key.items(), key=lambda item: -item[1])
        ],
        "by_day_model": [
            {"day": day, "model": model, "cost_usd": float(cost)}
            for (day, model), cost in sorted(by_day_model.items())
        ],
        "by_day_key": [
            {"day": day, "key": key, "cost_usd": float(cost)}
            for (day, key), cost in sorted(by_day_key.items())
        ],
        "reference": None,
    }
    if reference:
        model_id, deployment = _cheapest_priced(snapshot, reference)
        would = _at(deployment, total)
        result["reference"] = {
            "model": model_id,
            "deployment": deployment.name,
            "would_cost_usd": round(would, 10),
            "saving_usd": round(would - float(total.cost_usd), 10),
            "saving_fraction": round(1 - float(total.cost_usd) / would, 4) if would else None,
            "by_day": [
                {"day": day, "would_cost_usd": round(_at(deployment, t), 10)}
                for day, t in sorted(by_day.items())
            ],
        }
    return result
