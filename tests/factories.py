"""Small builders for test data: valid by default, overridden where a test cares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from router.accounts.ledger import UsageEntry


def model_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hf_id": "acme/llama-2-13b-support",
        "name": "Acme Support 13B",
        "family": "llama-2",
        "parameters": "13B",
        "context_window": "4K",
        "release_date": "2024-03",
        "capabilities": ["chat"],
        "licenses": [{"license": "llama2"}],
        "parents": [{"model": "meta-llama/Llama-2-13b-hf", "relation": "finetune"}],
    }
    body.update(overrides)
    return body


def local_deployment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "phi-2",
        "kind": "local",
        "base_url": "http://127.0.0.1:8081/v1",
        "served_name": "phi-2-q4",
        "cost_per_hour": 0.9,
        "tokens_per_second": 50,
    }
    body.update(overrides)
    return body


def usage_entry(route_id: str, **overrides: Any) -> UsageEntry:
    """A ledger record of one answered request."""
    fields: dict[str, Any] = {
        "route_id": route_id,
        "api_key_id": None,
        "model_id": None,
        "model_name": "m",
        "deployment_id": None,
        "deployment_name": "d",
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": Decimal("0"),
        "quality": 0.5,
        "license_basis": "allowed: mit",
        "attempts": 1,
        "stream": False,
        "latency_ms": 3,
        "status": "ok",
        "created_at": dt.datetime.now(dt.UTC),
    }
    fields.update(overrides)
    return UsageEntry(**fields)
