"""The spend summary behind /api/usage and the Spend page, from ledger rows."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from catalog.snapshot import CatalogSnapshot
from router.accounts.usage import summarise_usage
from router.core.errors import RouteError
from web.pages.charts import spend_series

FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 30)


def row(key: str | None, model: str, day: str, cost: str, tokens: int = 1000) -> SimpleNamespace:
    return SimpleNamespace(
        key_name=key,
        model_name=model,
        day=day,
        requests=2,
        input_tokens=tokens,
        output_tokens=tokens // 10,
        cost_usd=Decimal(cost),
    )


ROWS = [
    row("alpha", "m1", "2026-11-02", "0.010"),
    row("beta", "m1", "2026-11-02", "0.020"),
    row("alpha", "m2", "2026-11-03", "0.005"),
    row(None, "m2", "2026-11-03", "0.001"),
]


def test_spend_adds_up_every_way(snapshot: CatalogSnapshot) -> None:
    usage = summarise_usage(ROWS, snapshot, None, FIRST, LAST)
    assert usage["total_cost_usd"] == pytest.approx(0.036) and usage["requests"] == 8
    assert [m["model"] for m in usage["by_model"]] == ["m1", "m2"]  # the dearest first
    assert usage["by_key"][0] == {"key": "beta", "cost_usd": pytest.approx(0.02)}
    assert "(deleted key)" in {k["key"] for k in usage["by_key"]}
    for breakdown in ("by_day", "by_day_model", "by_day_key", "by_key", "by_model"):
        assert sum(r["cost_usd"] for r in usage[breakdown]) == pytest.approx(0.036), breakdown
    assert usage["by_day"][0]["input_tokens"] == 2000


def test_the_reference_prices_each_days_tokens(snapshot: CatalogSnapshot) -> None:
    usage = summarise_usage(ROWS, snapshot, "llama-2-70b-chat", FIRST, LAST)
    ref = usage["reference"]
    assert ref["model"] == "meta-llama/Llama-2-70b-chat-hf"
    assert sum(d["would_cost_usd"] for d in ref["by_day"]) == pytest.approx(ref["would_cost_usd"])
    assert ref["saving_usd"] == pytest.approx(ref["would_cost_usd"] - 0.036)
    series = spend_series(usage)
    assert len(series["days"]) == 30  # every day of the period, spent on or not
    assert series["spent"][:4] == pytest.approx([0, 0.03, 0.036, 0.036])
    assert series["reference"]["data"][-1] == pytest.approx(ref["would_cost_usd"])
    assert [s["label"] for s in series["by_key"]] == ["beta", "alpha", "(deleted key)"]
    assert series["by_model"][0]["data"][:3] == pytest.approx([0, 0.03, 0.0])


def test_an_unknown_or_unpriced_reference_is_a_clear_error(snapshot: CatalogSnapshot) -> None:
    with pytest.raises(RouteError, match="unknown reference model"):
        summarise_usage(ROWS, snapshot, "no-such-model", FIRST, LAST)
    with pytest.raises(RouteError, match="no priced deployment"):
        summarise_usage(ROWS, snapshot, "microsoft/Orca-2-13b", FIRST, LAST)
