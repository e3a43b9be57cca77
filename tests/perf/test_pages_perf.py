"""Catalog pages with 5,000 deployments, printed for the closing note (`make bench`); nothing
here asserts a time. The reference is the JSON API answering the same query in the same run:
the page's own cost is what rendering adds to it."""

import statistics
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from catalog.orm import Deployment, Model
from catalog.terms import DeploymentKind, DeploymentStatus, PriceSource, Privacy
from tests.conftest import migrate, seed
from web.app import create_app, session_factory_for
from web.settings import Settings

pytestmark = pytest.mark.slow
DEPLOYMENTS = 5000


def _median_ms(client: TestClient, path: str, headers: dict[str, str], repeat: int = 30) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:500]
    return statistics.median(samples)


def test_catalog_pages_with_5000_deployments(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", data_dir=tmp_path)
    migrate(settings.database_url)
    engine, factory = session_factory_for(settings)
    seed(factory)
    with factory() as session:
        model_ids = list(session.scalars(select(Model.id).order_by(Model.id)))
        rows = [
            {
                "name": f"bench/{i}",
                "model_id": model_ids[i % len(model_ids)],
                "kind": DeploymentKind.HOSTED,
                "provider": "bench",
                "served_name": f"bench-{i}",
                "input_cost_per_token": 1e-7 * (1 + i % 50),
                "output_cost_per_token": 2e-7 * (1 + i % 50),
                "price_source": PriceSource.MANUAL,
                "privacy": Privacy.EXTERNAL,
                "status": DeploymentStatus.ACTIVE,
            }
            for i in range(DEPLOYMENTS)
        ]
        session.execute(insert(Deployment), rows)
        session.commit()
        total = session.query(Deployment).count()
    engine.dispose()
    html = {"accept": "text/html"}
    cases = {
        "catalog, first page": ("/?sort=price", "/api/models?sort=price"),
        "catalog, llama-2 with a usage profile": (
            "/?family=llama-2&commercial=true&monthly_active_users=1000",
            "/api/models?family=llama-2&commercial=true&monthly_active_users=1000",
        ),
        "model page vs model detail": ("/models/phi-2", "/api/models/phi-2"),
    }
    with TestClient(create_app(settings)) as client:
        print(f"\npages with {total} deployments (median of 30, in-process client):")
        for label, (page, api) in cases.items():
            page_ms = _median_ms(client, page, html)
            api_ms = _median_ms(client, api, {})
            print(f"  {label}: page {page_ms:.1f} ms, JSON API {api_ms:.1f} ms")
        compare = _median_ms(client, "/compare?m=phi-2&m=mistral-7b&benchmark=MMLU", html)
        print(f"  compare with the Pareto chart: page {compare:.1f} ms")
