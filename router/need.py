"""The need `model: "auto"` meets when the caller states none.

A request, its headers or its key's policy may state a need (`min_quality` or `quality_as`);
when none does, the server's default need applies: by default "as good as
meta-llama/Llama-2-70b-chat-hf would be on this prompt" (MODELYARD_AUTO_NEED). When no
deployment meets the default need — a fresh install serving only the embedded SmolLM2 — the
request is not refused: the best deployment that passes every other check answers, and the
decision says so (the `x-modelyard-need` header and the dry run's `need`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from catalog.snapshot import CatalogSnapshot
from router.decision import Decision, RouteRequest, decide
from router.quality import QualityEstimator

DEFAULT_AUTO_NEED = "as_good_as:meta-llama/Llama-2-70b-chat-hf"
FALLBACK_RULE = "best-available (the server's default need is advisory)"


@dataclass(frozen=True)
class DefaultNeed:
    """`as_good_as:<model>` (the reference's predicted quality on each prompt),
    `min_quality:<0-1>`, or `none`."""

    reference: str | None = None
    min_quality: float | None = None

    @classmethod
    def parse(cls, text: str) -> DefaultNeed | None:
        kind, _, value = text.strip().partition(":")
        kind, value = kind.strip().lower(), value.strip()
        if kind == "none" and not value:
            return None
        if kind == "as_good_as" and value:
            return cls(reference=value)
        if kind == "min_quality" and value:
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if 0.0 <= number <= 1.0:
                return cls(min_quality=number)
        raise ValueError(
            f"auto need {text!r}: give 'as_good_as:<catalog model>', 'min_quality:<0-1>' or 'none'"
        )

    def describe(self) -> str:
        if self.reference is not None:
            return f"as good as {self.reference}"
        return f"min_quality {self.min_quality}"

    def applies(self, request: RouteRequest) -> bool:
        controls = request.controls
        return (
            request.model.lower() == "auto"
            and controls.min_quality is None
            and controls.quality_as is None
        )

    def decide(
        self,
        request: RouteRequest,
        snapshot: CatalogSnapshot,
        estimator: QualityEstimator,
        cooling: Collection[int] = frozenset(),
    ) -> Decision:
        """The decision under this need when the request states none of its own."""
        if not self.applies(request):
            return decide(request, snapshot, estimator, cooling)
        if self.reference is not None and snapshot.find(self.reference) is None:
            decision = decide(request, snapshot, estimator, cooling)
            decision.need = f"none: the reference {self.reference} is not in the catalog"
            return decision
        update = (
            {"quality_as": self.reference}
            if self.reference is not None
            else {"min_quality": self.min_quality}
        )
        needed = dataclasses.replace(request, controls=request.controls.model_copy(update=update))
        decision = decide(needed, snapshot, estimator, cooling)
        level = f"{decision.min_quality:.2f}" if decision.min_quality is not None else "?"
        if decision.candidates:
            decision.need = f"met: {self.describe()} ({level})"
            return decision
        if not any(e.reason == "quality" for e in decision.excluded):
            return decision  # refused for other reasons: the need changes nothing
        relaxed = dataclasses.replace(
            request, controls=request.controls.model_copy(update={"strategy": "best"})
        )
        fallback = decide(relaxed, snapshot, estimator, cooling)
        fallback.need = (
            f"unmet: no deployment is predicted {self.describe()} ({level}); "
            f"let through by {FALLBACK_RULE}"
        )
        return fallback
