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
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from catalog.snapshot import CatalogSnapshot
from router.quality.estimators import QualityEstimator
from router.routing.decision import Candidate, Decision, RouteRequest, decide
from router.routing.speed import SpeedBook

DEFAULT_AUTO_NEED = "as_good_as:meta-llama/Llama-2-70b-chat-hf"
FALLBACK_RULE = "the best-available rule (the server's default need is advisory)"


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
        providers: frozenset[str] | None = None,
        measured: SpeedBook | None = None,
    ) -> Decision:
        """The decision under this need when the request states none of its own.
        `providers` and `measured` pass through to decide()."""
        if not self.applies(request):
            return decide(request, snapshot, estimator, cooling, providers, measured)
        if self.reference is not None and snapshot.find(self.reference) is None:
            decision = decide(request, snapshot, estimator, cooling, providers, measured)
            return decision  # the reference is not in this catalog: no need to meet
        update = (
            {"quality_as": self.reference}
            if self.reference is not None
            else {"min_quality": self.min_quality}
        )
        needed = dataclasses.replace(request, controls=request.controls.model_copy(update=update))
        decision = decide(needed, snapshot, estimator, cooling, providers, measured)
        level = decision.min_quality
        if level is None or not any(e.reason == "quality" for e in decision.excluded):
            decision.need = f"{self.describe()} ({level or 0:.2f})"
            return decision  # every deployment meets it, or others' rules refused them all
        # The deployments below the need stay behind those that meet it, best first: the
        # need is advisory, so an install whose deployments all fall short (or whose
        # qualifying ones all fail) still answers, and the header says so.
        relaxed = dataclasses.replace(
            request, controls=request.controls.model_copy(update={"strategy": "best"})
        )
        below = decide(relaxed, snapshot, estimator, cooling, providers, measured)
        decision.candidates = Fallbacks(decision.candidates, below.candidates, level)
        decision.need = f"{self.describe()} ({level:.2f})"
        return decision


def lower_bound(candidate: Candidate) -> float:
    """What a need is compared with: the estimate's lower end, or its point without one."""
    return candidate.quality if candidate.quality_low is None else candidate.quality_low


class Fallbacks(Sequence[Candidate]):
    """The candidates that meet the need, then those below it; the second list is read only
    as far as someone asks (the executor usually takes the first)."""

    def __init__(self, meeting: Sequence[Candidate], ranked: Sequence[Candidate], level: float):
        self._meeting = meeting
        self._ranked = ranked
        self._level = level
        self._below: list[Candidate] = []
        self._read = 0  # how far into `ranked` we have looked

    def _fill(self, count: int) -> None:
        while len(self._below) < count and self._read < len(self._ranked):
            candidate = self._ranked[self._read]
            self._read += 1
            if lower_bound(candidate) < self._level:
                self._below.append(candidate)

    def __len__(self) -> int:
        self._fill(len(self._ranked))
        return len(self._meeting) + len(self._below)

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> list[Candidate]: ...
    def __getitem__(self, i: int | slice) -> Candidate | list[Candidate]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if 0 <= i < len(self._meeting):
            return self._meeting[i]
        self._fill(i - len(self._meeting) + 1)
        j = i - len(self._meeting)
        if not 0 <= j < len(self._below):
            raise IndexError(i)
        return self._below[j]

    def __iter__(self) -> Iterator[Candidate]:
        yield from self._meeting
        k = 0
        while True:
            self._fill(k + 1)
            if k >= len(self._below):
                return
            yield self._below[k]
            k += 1

    def __bool__(self) -> bool:
        if self._meeting:
            return True
        self._fill(1)
        return bool(self._below)


def need_headers(decision: Decision, candidate: Candidate) -> dict[str, str]:
    """`x-modelyard-need`: the server's default need, whether the answering deployment met
    it, and if not, the rule that let the request through."""
    if decision.need is None:
        return {}
    level = decision.min_quality
    if level is None or lower_bound(candidate) >= level:
        return {"x-modelyard-need": f"met: {decision.need}"}
    return {
        "x-modelyard-need": f"unmet: no deployment is predicted {decision.need}; "
        f"let through by {FALLBACK_RULE}"
    }
