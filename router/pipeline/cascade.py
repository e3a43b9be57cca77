"""strategy "cascade": ask the cheapest candidate first, check its answer, and move to the next
candidate only when the check fails (FrugalGPT's and AutoMix's idea: most answers from a cheap
model are fine, and the ones that are not can often be told apart without a judge).

The checks need no model of their own, only the request and the answer:

- `empty`: no text and no tool call;
- `refusal`: the answer's `refusal` field, or text that opens by declining ("I'm sorry, but I
  can't…"; a heuristic on the first sentence);
- `json_schema` / `json_object`: with such a `response_format`, text that parses and validates
  against the schema;
- `tool_arguments`: a call to a function the request does not offer, or arguments that do not
  parse or validate against that tool's `parameters`;
- `tool_choice`: `required` or a named function, and no call (or a call of another one);
- `low_confidence`: where the answer carries token logprobs, their geometric-mean probability
  under the threshold (MODELYARD_CASCADE_MIN_CONFIDENCE; a plain setting for now, meant to be
  learned from feedback later).

Each answer the cascade paid for is in the ledger with its cost: the one returned under the
request's route id, each escalated one under `<route id>-<n>` with status `escalated` and the
failed check as its error (the gateway writes them). When every later candidate fails to
answer, the last rejected answer is returned after all, and its step says it failed.

A cascade does not stream (the gateway refuses `stream: true` with a 400 naming `stream`): an
answer is checked whole before anything reaches the client. It takes each candidate's own
chat path (a Responses request is not forwarded as is), so every answer it checks is a chat
completion.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from adapters import json_bytes
from adapters.errors import AdapterError
from adapters.schemas import ChatRequest, JsonSchemaFormat, NamedToolChoice
from router.pipeline.execution import Attempt, ExecutionFailed, Executor, Prepare
from router.routing.decision import Candidate, Decision

STRATEGY = "cascade"
DEFAULT_MIN_CONFIDENCE = 0.0  # 0: the confidence check is off
DEFAULT_MAX_ANSWERS = 3  # the most answers one request pays for

# An answer that declines says in its first sentence that it will not, and what it will not do.
_FIRST_SENTENCE = re.compile(r"^[^.!?\n]{0,200}")
_WILL_NOT = re.compile(
    r"\bi(?:'m| am)? ?(?:can(?:no|')t|can not|unable to|not able to|won'?t|will not|must "
    r"decline|do not feel comfortable|don'?t feel comfortable)\b",
    re.IGNORECASE,
)
_WHAT = re.compile(
    r"\b(?:help|assist|provide|comply|fulfil|fulfill|answer|do that|with that|with this|"
    r"engage|support|share)\b",
    re.IGNORECASE,
)


def declines(text: str) -> bool:
    """A heuristic: "I'm sorry, but I can't help with that" declines; "I cannot stress this
    enough" does not."""
    first = _FIRST_SENTENCE.match(text.lstrip())
    sentence = first.group(0) if first else ""
    return bool(_WILL_NOT.search(sentence) and _WHAT.search(sentence))


@dataclass(frozen=True)
class Verdict:
    """What the check made of one answer: passed, or the check it failed and why."""

    passed: bool
    check: str = ""
    detail: str = ""


PASSED = Verdict(True)


@dataclass(frozen=True)
class Step:
    """One answer of the cascade: which deployment gave it and what the check said."""

    candidate: Candidate
    answer: dict[str, Any]
    verdict: Verdict

    def label(self, last: bool) -> str:
        """`<deployment>=passed`, `=escalated:<check>`, or `=failed:<check>` for a last answer
        that failed and was returned all the same."""
        if self.verdict.passed:
            return f"{self.candidate.deployment.name}=passed"
        outcome = "failed" if last else "escalated"
        return f"{self.candidate.deployment.name}={outcome}:{self.verdict.check}"


@dataclass
class CascadeOutcome:
    candidate: Candidate
    answer: dict[str, Any]
    attempts: list[Attempt]  # every call made, failed ones included
    steps: list[Step]  # every answer, checked

    def header(self) -> str:
        """`x-modelyard-cascade`: each answer's deployment and what its check said."""
        last = len(self.steps) - 1
        return ", ".join(step.label(i == last) for i, step in enumerate(self.steps))

    def error(self) -> str | None:
        """For the returned answer's ledger record: the check it failed, if it did."""
        verdict = self.steps[-1].verdict
        return (
            None if verdict.passed else f"cascade check failed: {verdict.check}: {verdict.detail}"
        )


# --- the checks ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _validator(schema_text: str) -> Any:
    import jsonschema

    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    return cls(schema)


def _schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    error = next(iter(_validator(json_bytes.canonical(schema)).iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or 'the answer'}: {error.message}"[:300]


def _json_check(request: ChatRequest, text: str) -> Verdict:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return PASSED
    kind = fmt.type
    try:
        value = json.loads(text)
    except ValueError as exc:
        return Verdict(False, kind, f"not JSON: {exc}")
    if isinstance(fmt, JsonSchemaFormat):
        schema = fmt.json_schema.json_schema
        problem = _schema_problem(value, schema) if schema is not None else None
        return Verdict(False, kind, problem) if problem else PASSED
    if not isinstance(value, dict):
        return Verdict(False, kind, "not a JSON object")
    return PASSED


def _tool_check(request: ChatRequest, calls: list[dict[str, Any]]) -> Verdict:
    tools = {t.function.name: t.function.parameters for t in request.tools or ()}
    choice = request.tool_choice
    named = choice.function.name if isinstance(choice, NamedToolChoice) else None
    if tools and not calls and (choice == "required" or named):
        return Verdict(False, "tool_choice", f"tool_choice {named or 'required'}: no call")
    for call in calls:
        function = call.get("function") or {}
        name = function.get("name")
        if name not in tools:
            return Verdict(False, "tool_arguments", f"a call of '{name}', not among the tools")
        if named and name != named:
            return Verdict(False, "tool_choice", f"a call of '{name}', not of '{named}'")
        try:
            arguments = json.loads(function.get("arguments") or "")
        except ValueError as exc:
            return Verdict(False, "tool_arguments", f"{name}: arguments not JSON: {exc}")
        schema = tools[name]
        problem = _schema_problem(arguments, schema) if schema is not None else None
        if problem:
            return Verdict(False, "tool_arguments", f"{name}: {problem}")
    return PASSED


def _confidence(choice: dict[str, Any]) -> float | None:
    """The geometric-mean probability of the answer's tokens (None: no logprobs came back)."""
    content = (choice.get("logprobs") or {}).get("content") or []
    values = [t["logprob"] for t in content if isinstance(t.get("logprob"), int | float)]
    if not values:
        return None
    return math.exp(sum(values) / len(values))


def check(request: ChatRequest, answer: dict[str, Any], min_confidence: float) -> Verdict:
    """The first check this chat completion fails, or PASSED."""
    choices = answer.get("choices") or []
    if not choices:
        return Verdict(False, "empty", "no choice")
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    calls = message.get("tool_calls") or []
    if message.get("refusal"):
        return Verdict(False, "refusal", str(message["refusal"])[:200])
    if not text.strip() and not calls:
        return Verdict(
            False, "empty", f"no text and no tool call (finish: {choice.get('finish_reason')})"
        )
    if text and declines(text):
        return Verdict(False, "refusal", text[:200])
    if not calls:
        verdict = _json_check(request, text)
        if not verdict.passed:
            return verdict
    verdict = _tool_check(request, calls)
    if not verdict.passed:
        return verdict
    if min_confidence > 0:
        confidence = _confidence(choice)
        if confidence is not None and confidence < min_confidence:
            return Verdict(
                False, "low_confidence", f"token probability {confidence:.3f} < {min_confidence}"
            )
    return PASSED


# --- the loop ------------------------------------------------------------------------------------


def escalation_order(decision: Decision) -> list[Candidate]:
    """With a quality need, the decision keeps every candidate that may meet it (its interval
    reaches the need, router/routing/decision.py), cheapest first. The cascade starts from
    the cheapest of them; a failed check escalates first to those known to meet the need
    (the interval's lower end does), cheapest first, then to the other uncertain ones, so
    that within `max_answers` the escalation reaches a candidate known to be good enough."""
    candidates = list(decision.candidates)
    need = decision.min_quality
    if need is None or len(candidates) < 3:
        return candidates
    first, rest = candidates[0], candidates[1:]

    def proven(candidate: Candidate) -> bool:
        low = candidate.quality if candidate.quality_low is None else candidate.quality_low
        return low >= need

    return [first, *[c for c in rest if proven(c)], *[c for c in rest if not proven(c)]]


class Cascade:
    def __init__(
        self,
        executor: Executor,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        max_answers: int = DEFAULT_MAX_ANSWERS,
    ) -> None:
        self.executor = executor
        self.min_confidence = min_confidence
        self.max_answers = max_answers

    async def run(
        self, decision: Decision, request: ChatRequest, prepare: Prepare
    ) -> CascadeOutcome:
        """Candidates cheapest first (`escalation_order`). A call that fails falls back
        as any request does; an answer that fails its check escalates. The answer returned
        is the first that passes or, when none does, the last one paid for (its step says it
        failed)."""
        attempts: list[Attempt] = []
        steps: list[Step] = []
        last_error: AdapterError | None = None
        for candidate in escalation_order(decision):
            one = dataclasses.replace(decision, candidates=[candidate])
            try:
                _, answer, tried = await self.executor.complete(one, request, prepare)
            except ExecutionFailed as exc:
                attempts.extend(exc.attempts)
                last_error = exc.last
                if exc.last is not None and not exc.last.retryable:
                    break
                continue
            attempts.extend(tried)
            verdict = check(request, answer, self.min_confidence)
            steps.append(Step(candidate, answer, verdict))
            if verdict.passed or len(steps) >= self.max_answers:
                break
        if not steps:
            raise ExecutionFailed(attempts, last_error)
        final = steps[-1]
        return CascadeOutcome(final.candidate, final.answer, attempts, steps)
