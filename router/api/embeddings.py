"""POST /v1/embeddings through the same decision, admission, fallback, ledger and metrics as
chat (router/pipeline/gateway.py); only the request's shape and the call differ.

`model: "auto"` stays on one model per key, because vectors of different models cannot be
compared: the key policy's `embedding_model` when it names one, else the router's first
choice for the key, pinned before the first call (router/accounts/embedding_pins.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from adapters.embedders import make_embedder
from adapters.embeddings import Embedded, Embedder, EmbeddingCall, EmbeddingsIn, answer_json
from router.accounts.embedding_pins import EmbeddingPins
from router.accounts.keys import KeyView
from router.core.errors import RouteError
from router.core.requests import RouteControls
from router.core.tokens import estimate_tokens
from router.pipeline.execution import DeploymentPool, ExecutionFailed
from router.pipeline.gateway import Gateway
from router.pipeline.routed import Routed
from router.privacy.check import SCANNING_RULES
from router.privacy.check import check as privacy_check
from router.routing.decision import EMBEDDINGS, Candidate, Decision, RouteRequest

# Predicted answer quality means nothing for a vector: asked for in a request, these are
# refused; set in a key's policy (for its chat), they are left out.
ANSWER_QUALITY = ("min_quality", "quality_as")
QUALITY_HEADERS = {"x-route-min-quality": "min_quality", "x-route-quality-as": "quality_as"}


class EmbedderPool(DeploymentPool[Embedder]):
    """One embedding adapter per deployment as the current snapshot describes it."""

    def __init__(self, provider_keys: Mapping[str, str] | None = None) -> None:
        super().__init__(make_embedder, provider_keys)


@dataclass(frozen=True)
class EmbeddingsRoute:
    """An embeddings request as the decision sees it: `model` is the one routed to (the pinned
    model in place of `auto` once there is a pin)."""

    body: EmbeddingsIn
    route: RouteControls | None
    model: str

    @property
    def requested_model(self) -> str:
        return self.body.model  # not the pin: a key's own pin is no request to widen anything

    def route_request(self, controls: RouteControls, budget_usd: float | None) -> RouteRequest:
        texts = self.body.texts
        if texts is not None:
            prompt = "\n".join(texts)
            exact = None
            longest = max(estimate_tokens(t, 0) for t in texts)
        else:
            arrays = self.body.token_arrays or []
            prompt, exact, longest = "", sum(map(len, arrays)), max(map(len, arrays))
        return RouteRequest(
            model=self.model,
            prompt=prompt,
            messages=0,
            max_tokens=None,
            needs=frozenset({EMBEDDINGS}),
            controls=controls,
            budget_usd=budget_usd,
            dimensions=self.body.dimensions,
            prompt_tokens=exact,
            longest_input=longest,
            # An input with personal data or secrets stays local under auto and redact alike:
            # a placeholder would change the vector, so embeddings are never redacted.
            privacy=(
                privacy_check("auto", texts)
                if texts and controls.privacy in SCANNING_RULES
                else None
            ),
        )


@dataclass(frozen=True)
class Pin:
    model: str  # the catalog id or alias the key's `auto` embeddings come from
    by: str  # "policy" (the key's embedding_model) or "pin" (the first choice, kept)

    def header(self) -> str:
        return f"{self.model}; {self.by}"


def _route_controls(body: EmbeddingsIn, headers: Mapping[str, str]) -> RouteControls | None:
    for header in QUALITY_HEADERS:
        if header in headers:
            raise RouteError(
                f"{header} does not apply to embeddings: there is no answer to predict the "
                "quality of (strategy 'best' ranks embedding models by their MTEB scores)",
                param=header,
            )
    if body.route is None:
        return None
    try:
        route = RouteControls.model_validate(body.route)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("route", *first["loc"]))
        raise RouteError(f"{where}: {first['msg']}", param=where) from exc
    for name in ANSWER_QUALITY:
        if getattr(route, name) is not None:
            raise RouteError(
                f"route.{name} does not apply to embeddings: there is no answer to predict the "
                "quality of (strategy 'best' ranks embedding models by their MTEB scores)",
                param=f"route.{name}",
            )
    return route


class EmbeddingsService:
    def __init__(self, gateway: Gateway, pins: EmbeddingPins, embedders: EmbedderPool) -> None:
        self.gateway = gateway
        self.pins = pins
        self.embedders = embedders

    async def pin_for(self, body: EmbeddingsIn, key: KeyView) -> Pin | None:
        """The model `auto` means for this key, if it is settled yet."""
        if body.model.lower() != "auto":
            return None
        if key.policy.embedding_model:
            return Pin(key.policy.embedding_model, "policy")
        pinned = await self.pins.get(key.id)
        return Pin(pinned, "pin") if pinned else None

    def _check_dimensions(self, routed: EmbeddingsRoute, pin: Pin | None) -> None:
        """A size the named (or pinned) model was not trained for is refused by name; for
        `auto`, the decision excludes such models itself."""
        wanted = routed.body.dimensions
        if wanted is None or routed.model.lower() == "auto":
            return
        model = self.gateway.snapshot().find(routed.model)
        if model is None or EMBEDDINGS not in model.capabilities:
            return  # the decision names what is wrong
        if wanted not in model.embedding_dimensions:
            sizes = ", ".join(map(str, model.embedding_dimensions)) or "no declared"
            raise _explained(
                RouteError(
                    f"{model.hf_id} returns {sizes} dimensions, not {wanted}: a vector cut to "
                    "a size the model was not trained for would compare badly",
                    "unsupported_dimensions",
                    param="dimensions",
                ),
                pin,
            )

    def _controls(
        self, routed: EmbeddingsRoute, headers: Mapping[str, str], key: KeyView
    ) -> RouteControls:
        controls = self.gateway.controls(routed, headers, key)
        if controls.min_quality is None and controls.quality_as is None:
            return controls
        return controls.model_copy(update=dict.fromkeys(ANSWER_QUALITY))  # from the policy

    async def plan(
        self, body: EmbeddingsIn, headers: Mapping[str, str], key: KeyView
    ) -> dict[str, Any]:
        """The dry run: the decision as it would be made now, without pinning anything."""
        route = _route_controls(body, headers)
        pin = await self.pin_for(body, key)
        routed = EmbeddingsRoute(body, route, pin.model if pin else body.model)
        self._check_dimensions(routed, pin)
        decision = await self._plan(routed, headers, key, pin)
        out = decision.as_dict()
        out["policy"] = self.gateway.policy_view(routed, headers, key)
        would_pin = (
            decision.candidates[0].model.hf_id
            if body.model.lower() == "auto" and pin is None and decision.candidates
            else None
        )
        out["embedding_model"] = {
            "model": pin.model if pin else None,
            "pinned_by": pin.by if pin else None,
            "would_pin": would_pin,
        }
        return out

    async def _plan(
        self, routed: EmbeddingsRoute, headers: Mapping[str, str], key: KeyView, pin: Pin | None
    ) -> Decision:
        try:
            return await self.gateway.plan(routed, self._controls(routed, headers, key), key)
        except RouteError as exc:
            raise _explained(exc, pin) from exc

    async def embed(
        self, body: EmbeddingsIn, headers: Mapping[str, str], key: KeyView
    ) -> tuple[bytes, dict[str, str]]:
        """OpenAI's answer as JSON bytes, and the x-modelyard-* headers."""
        started = time.perf_counter()
        gateway = self.gateway
        route = _route_controls(body, headers)
        pin = await self.pin_for(body, key)
        routed = EmbeddingsRoute(body, route, pin.model if pin else body.model)
        controls = self._controls(routed, headers, key)
        if body.model.lower() == "auto" and pin is None:
            # The key's first `auto` embeddings: pin the first choice before calling it, so
            # that concurrent first requests (here or on another replica) agree on one model.
            first = await self._plan(routed, headers, key, None)
            if not first.candidates:
                raise gateway.no_candidate(first)
            held = await self.pins.claim(key.id, first.candidates[0].model.hf_id, first.route_id)
            pin = Pin(held, "pin")
            routed = EmbeddingsRoute(body, route, held)
        self._check_dimensions(routed, pin)
        try:
            admission = await gateway.admit(routed, controls, key)
        except RouteError as exc:
            raise _explained(exc, pin) from exc
        decision = admission.decision
        call = EmbeddingCall.of(body)

        async def embed_with(candidate: Candidate) -> Embedded:
            return await self.embedders(candidate.deployment).embed(call)

        try:
            candidate, embedded, attempts = await gateway.executor.first_answer(
                decision, embed_with
            )
        except ExecutionFailed as exc:
            await gateway.failed(key, admission, exc, started, stream=False)
            raise
        usage = {"prompt_tokens": embedded.prompt_tokens, "completion_tokens": 0}
        cost = await gateway._record(
            key, decision, candidate, attempts, usage, started, stream=False, status="ok"
        )
        await gateway.settle(key, admission, cost, usage)
        out = answer_json(
            embedded.vectors, candidate.model.hf_id, embedded.prompt_tokens, body.encoding_format
        )
        extra = {**Routed(decision, candidate, attempts).headers(cost), **admission.headers}
        if pin is not None:
            extra["x-modelyard-embedding-model"] = pin.header()
        return out, extra


def _explained(exc: RouteError, pin: Pin | None) -> RouteError:
    """A refusal of a pinned key says why the router would not simply use another model."""
    if pin is None or exc.code not in ("no_candidate", "model_not_found", "unsupported_dimensions"):
        return exc
    source = (
        "the key policy's embedding_model"
        if pin.by == "policy"
        else "the key's pinned embedding model (its first choice)"
    )
    exc.message = (
        f"{exc.message}; this key's `auto` embeddings come from {pin.model}, {source}, because "
        "vectors of different models cannot be compared"
    )
    exc.details = {**exc.details, "embedding_model": pin.model, "pinned_by": pin.by}
    return exc
