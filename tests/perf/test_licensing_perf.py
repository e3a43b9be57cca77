"""How fast the licence engine answers for the whole seeded catalog: cold (every licence
evaluated), warm (per-model answers cached on the snapshot), against the same evaluation with
every cache bypassed as the reference. Run with `make bench`; prints figures, asserts none."""

from __future__ import annotations

import statistics
import time

import pytest

from catalog import licensing
from catalog.schemas import UsageProfile
from catalog.snapshot import CatalogSnapshot


def _median_us(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


@pytest.mark.slow
def test_whole_catalog_check_speed(snapshot: CatalogSnapshot) -> None:
    profile = UsageProfile(commercial=True, monthly_active_users=5_000_000)
    models = sorted(snapshot.models.values(), key=lambda m: m.hf_id)
    day = licensing.today()

    def uncached() -> None:
        licensing.evaluate_terms.cache_clear()
        for model in models:
            licensing._check(snapshot, model, profile, day)

    def cold() -> None:
        snapshot.compliance_cache.clear()
        licensing.check(snapshot, profile)

    def warm() -> None:
        licensing.check(snapshot, profile)

    reference = _median_us(uncached, 50)
    cold_us = _median_us(cold, 50)
    warm_us = _median_us(warm, 500)
    print(
        f"\nlicence check, {len(models)} models: no caches {reference:.0f} µs, "
        f"licence cache only {cold_us:.0f} µs, warm {warm_us:.0f} µs "
        f"({reference / warm_us:.0f}x faster than no caches)"
    )
