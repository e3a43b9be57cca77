"""The catalog snapshot's deployments as columns (numpy arrays), built once per snapshot.

The decision tests every deployment against the request: with thousands of deployments a
Python loop costs about a microsecond each, vector operations on these columns a few
nanoseconds. Only models with at least one deployment are routable, so only they appear.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from adapters.schemas import CAPABILITIES
from catalog.snapshot import CatalogSnapshot, DeploymentView, ModelView
from catalog.terms import DeploymentKind, DeploymentStatus, Privacy

# Assumed speeds where a deployment has no measured tokens/s (only used to rank "fastest").
DEFAULT_TOKENS_PER_SECOND = {
    DeploymentKind.EMBEDDED: 100.0,
    DeploymentKind.LOCAL: 50.0,
    DeploymentKind.HOSTED: 60.0,
}

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class DeploymentTable:
    models: tuple[ModelView, ...]  # the routable models, in the snapshot's order
    index: dict[str, int]  # hf_id → position in `models`
    deployments: tuple[DeploymentView, ...]  # grouped by model, in the model's order
    owner: Ints  # position in `models` of each deployment's model
    ids: Ints
    input_cost: Floats  # USD per token; 0 where unpriced
    output_cost: Floats
    window: Floats  # tokens the deployment accepts (prompt + answer); inf where unknown
    speed: Floats  # tokens per second, measured or assumed
    # Positions of deployments that fail a check whatever the request: indexing with these
    # is one numpy call, where a boolean mask would need a negation first.
    unpriced: Ints
    disabled: Ints
    external: Ints  # prompts leave our machines
    # Per capability (tools, json_schema, …), the positions of deployments WITHOUT it: a
    # request's needs exclude their union.
    lacking: dict[str, Ints]
    # Unions already taken, by the set of needs: requests repeat a handful of sets, and
    # np.unique per request cost a tools request more than the rest of its decision.
    lacking_unions: dict[frozenset[str], Ints] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.deployments)

    def lacking_any(self, needs: frozenset[str]) -> Ints:
        """Positions of deployments missing at least one of `needs`."""
        if len(needs) == 1:
            return self.lacking.get(next(iter(needs)), _everyone(len(self)))
        union = self.lacking_unions.get(needs)
        if union is None:
            parts = [self.lacking.get(need, _everyone(len(self))) for need in needs]
            union = np.unique(np.concatenate(parts)) if parts else _positions(())
            self.lacking_unions[needs] = union
        return union


def _everyone(size: int) -> Ints:
    # A capability no deployment declares (an unknown name can only come from code).
    return np.arange(size, dtype=np.int64)


def _window(deployment: DeploymentView, model: ModelView) -> float:
    # The smaller of the deployment's and the model's windows, where either is known.
    known = [w for w in (deployment.max_context, model.context_window) if w]
    return float(min(known)) if known else math.inf


def _positions(flags: Iterable[bool]) -> Ints:
    return np.array([i for i, flag in enumerate(flags) if flag], dtype=np.int64)


def build_table(snapshot: CatalogSnapshot, only: ModelView | None = None) -> DeploymentTable:
    """The table of the snapshot's routable models, or of `only` that one."""
    candidates = snapshot.models.values() if only is None else (only,)
    models = tuple(m for m in candidates if m.deployments)
    rows = [(i, d, m) for i, m in enumerate(models) for d in m.deployments]
    priced = [
        d.input_cost_per_token is not None and d.output_cost_per_token is not None
        for _, d, _ in rows
    ]
    return DeploymentTable(
        models=models,
        index={m.hf_id: i for i, m in enumerate(models)},
        deployments=tuple(d for _, d, _ in rows),
        owner=np.array([i for i, _, _ in rows], dtype=np.int64),
        ids=np.array([d.id for _, d, _ in rows], dtype=np.int64),
        input_cost=np.array([d.input_cost_per_token or 0.0 for _, d, _ in rows]),
        output_cost=np.array([d.output_cost_per_token or 0.0 for _, d, _ in rows]),
        window=np.array([_window(d, m) for _, d, m in rows]),
        speed=np.array(
            [d.tokens_per_second or DEFAULT_TOKENS_PER_SECOND[d.kind] for _, d, _ in rows]
        ),
        unpriced=_positions(not p for p in priced),
        disabled=_positions(d.status is not DeploymentStatus.ACTIVE for _, d, _ in rows),
        external=_positions(d.privacy is not Privacy.LOCAL for _, d, _ in rows),
        lacking={
            capability: _positions(capability not in d.capabilities for _, d, _ in rows)
            for capability in CAPABILITIES
        },
    )


_tables: weakref.WeakKeyDictionary[CatalogSnapshot, DeploymentTable] = weakref.WeakKeyDictionary()
_model_tables: weakref.WeakKeyDictionary[CatalogSnapshot, dict[str, DeploymentTable]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def table_for(snapshot: CatalogSnapshot) -> DeploymentTable:
    """The snapshot's table, built on first use and dropped with the snapshot."""
    table = _tables.get(snapshot)
    if table is None:
        with _lock:
            table = _tables.get(snapshot)
            if table is None:
                table = _tables[snapshot] = build_table(snapshot)
    return table


def model_table(snapshot: CatalogSnapshot, model: ModelView) -> DeploymentTable:
    """The table of one model's deployments: a request that names its model is decided on
    it, and every vector operation of the decision then runs over a handful of rows instead
    of the whole catalog's (a named request's decision took half the time)."""
    tables = _model_tables.get(snapshot)
    if tables is None:
        with _lock:
            tables = _model_tables.setdefault(snapshot, {})
    table = tables.get(model.hf_id)
    if table is None:
        table = tables[model.hf_id] = build_table(snapshot, model)
    return table
