"""Small builders for test data: valid by default, overridden where a test cares."""

from __future__ import annotations

from typing import Any


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
