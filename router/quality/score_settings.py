"""What a published score's setting says, for the ability model: the reasoning mode it was
taken in (a subject of the fit), the benchmark version or variant it ran (an item of the fit)
and how its answers were sampled (a fixed effect of the fit)."""

from __future__ import annotations

import re
from collections.abc import Iterable

EFFORTS = ("low", "medium", "high")

# "thinking mode not stated by the card" names no mode, though it names thinking.
_MODE_UNSTATED = re.compile(r"\bmode (is )?not stated\b", re.I)
_NON_THINKING = re.compile(
    r"\b(thinking\s*(off|disabled)|non[- ]?thinking|no[- ]thinking|without (long )?thinking)\b",
    re.I,
)
_THINKING = re.compile(r"\bthinking(\s*(on|enabled|mode))?\b", re.I)
# A model that always reasons before answering (DeepSeek-R1 and its distills): its scores are
# thinking ones. Not a "non-reasoning" baseline, nor a "hybrid" one whose mode is not given.
_REASONING_MODEL = re.compile(r"(?<!non-)(?<!hybrid )\breasoning model\b", re.I)
# "5-shot; base model": a base model's few-shot evaluation; not "RL on the base model".
_BASE = re.compile(r"(?:^|[;,(]\s*)base model\b", re.I)
_EFFORT = re.compile(r"\breasoning(?:[_ ]effort)?[:= ]\s*(low|medium|high)\b", re.I)


def mode_of(setting: str) -> str:
    """The reasoning mode a score's setting names: "thinking", "non-thinking",
    "reasoning-low|medium|high", "base" (a base model's few-shot score filed under the
    released model), or "" when it names none (or says the mode is not stated)."""
    if _BASE.search(setting):
        return "base"
    effort = _EFFORT.search(setting)
    if effort:
        return f"reasoning-{effort.group(1).lower()}"
    if _NON_THINKING.search(setting):
        return "non-thinking"
    if _MODE_UNSTATED.search(setting):
        return ""
    if _THINKING.search(setting) or _REASONING_MODEL.search(setting):
        return "thinking"
    return ""


def mode_for_effort(modes: Iterable[str], effort: str | None) -> str | None:
    """The subject a request's `reasoning_effort` reaches among a model's scored modes:
    low/medium/high → that effort (or thinking); none/minimal → non-thinking; no effort given
    → the unmarked mode, else non-thinking, else the lowest effort (the cautious reading);
    else any mode the model was scored in. None only for a model without scores."""
    known = set(modes)
    if effort in EFFORTS:
        order = [f"reasoning-{effort}", "thinking", "", "reasoning-medium", "non-thinking"]
    elif effort in ("none", "minimal"):
        order = ["non-thinking", "", "reasoning-low"]
    else:
        order = ["", "non-thinking", "reasoning-low", "reasoning-medium", "thinking"]
    # A mode the order does not name is still the model's own, better than none at all.
    return next((m for m in [*order, *sorted(known)] if m in known), None)


# "BFCL v3", "Arena-Hard v2"; not a model's name such as "DeepSeek-V3" in the setting's text.
_VERSION = re.compile(r"(?<![\w-])v(\d+)(?:\.\d+)?\b", re.I)
# Benchmarks whose settings name a variant that is scored apart (τ²-bench is TAU-bench's
# second version; its airline and retail domains differ by about 18 points for one model).
_VARIANTS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "TAU-bench": (
        ("v2", re.compile(r"\btau[- ]?2\b|τ²|\btau-?bench v2\b", re.I)),
        ("airline", re.compile(r"\bairline\b", re.I)),
        ("retail", re.compile(r"\bretail\b", re.I)),
    ),
}


def item_of(benchmark: str, setting: str) -> str:
    """The fit's item for a score: the benchmark, with the version or variant its setting
    names ("Arena-Hard v2", "TAU-bench airline"), else the benchmark alone."""
    for variant, pattern in _VARIANTS.get(benchmark, ()):
        if pattern.search(setting):
            return f"{benchmark} {variant}"
    version = _VERSION.search(setting)
    return f"{benchmark} v{version.group(1)}" if version else benchmark


def benchmark_of(item: str) -> str:
    """The benchmark an item of the fit belongs to ("Arena-Hard v2" → "Arena-Hard")."""
    for benchmark in _VARIANTS:
        if item.startswith(f"{benchmark} "):
            return benchmark
    return re.sub(r" v\d+$", "", item)


# Majority voting over k > 1 samples ("cons@64", "maj@8", "majority vote") scores well above
# a single sample of the same model; "maj@1" and "em_maj1@1" are one sample.
_VOTE = re.compile(r"\b(?:cons|maj)@(\d+)\b|\bmajority[- ]vot", re.I)


def is_vote(setting: str) -> bool:
    """Whether a score's setting takes a majority vote over several samples."""
    return any(m.group(1) is None or int(m.group(1)) > 1 for m in _VOTE.finditer(setting))
