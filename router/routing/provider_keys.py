"""Credentials-aware routing: a hosted deployment whose provider has no key configured here is
never a candidate, so a fresh install does not try providers it cannot call.

Which providers have keys is decided once at start-up (settings and the environment, read by
the composition root) and passed in as a frozenset; the positions it rules out are computed
once per (snapshot table, provider set) and then indexed like the table's other fixed checks.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from catalog.snapshot import CatalogSnapshot
from catalog.terms import DeploymentKind
from router.routing.deployment_table import DeploymentTable, Ints

_cache: weakref.WeakKeyDictionary[DeploymentTable, dict[frozenset[str], Ints]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def needs_key(kind: DeploymentKind) -> bool:
    """Only hosted providers need a key of ours; local servers and the embedded model do not."""
    return kind is DeploymentKind.HOSTED


def uncredentialed(table: DeploymentTable, providers: frozenset[str]) -> Ints:
    """Positions in `table` of hosted deployments whose provider is not in `providers`."""
    known = _cache.get(table)
    if known is not None:
        found = known.get(providers)
        if found is not None:
            return found
    positions = np.array(
        [
            i
            for i, d in enumerate(table.deployments)
            if needs_key(d.kind) and d.provider not in providers
        ],
        dtype=np.int64,
    )
    with _lock:
        per_table = _cache.setdefault(table, {})
        if len(per_table) > 64:  # provider sets change only with settings; stay bounded anyway
            per_table.clear()
        per_table[providers] = positions
    return positions


def provider_status(snapshot: CatalogSnapshot, providers: frozenset[str]) -> dict[str, list[str]]:
    """The catalog's hosted providers split into those with and without a key (for /readyz)."""
    hosted = {
        d.provider for m in snapshot.models.values() for d in m.deployments if needs_key(d.kind)
    }
    return {
        "configured": sorted(providers),
        "missing": sorted(hosted - providers),
    }
