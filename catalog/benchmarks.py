"""The benchmarks the catalog knows by name, and the task each measures.

Scores files must spell a known benchmark exactly as here (a near miss such as "GPQA Diamond"
is refused with the right spelling); other benchmarks are kept as published and shown, but
no task uses them. Tasks are what the router's classifier tells apart."""

from __future__ import annotations

import re

TASKS = ("code", "math", "reasoning", "knowledge", "instruction", "tool_use", "chat")

BENCHMARK_TASKS: dict[str, str] = {
    # code
    "LiveCodeBench": "code",
    "HumanEval": "code",
    "HumanEval+": "code",
    "MBPP": "code",
    "MBPP+": "code",
    # maths
    "AIME-2024": "math",
    "AIME-2025": "math",
    "MATH-500": "math",
    "MATH": "math",
    "GSM8K": "math",
    # reasoning
    "GPQA-Diamond": "reasoning",
    "ARC-Challenge": "reasoning",
    "HellaSwag": "reasoning",
    "Winogrande": "reasoning",
    "PIQA": "reasoning",
    "LiveBench": "reasoning",
    # knowledge
    "MMLU-Pro": "knowledge",
    "MMLU-Redux": "knowledge",
    "MMLU": "knowledge",
    "SimpleQA": "knowledge",
    "TruthfulQA": "knowledge",
    # instruction following
    "IFEval": "instruction",
    # tool use
    "BFCL": "tool_use",
    "TAU-bench": "tool_use",
    # chat
    "Arena-Hard": "chat",
    "MT-Bench": "chat",
}
# The benchmarks 2025-26 models are published on (the compare page's default chart).
CURRENT = (
    "MMLU-Pro",
    "GPQA-Diamond",
    "LiveCodeBench",
    "MATH-500",
    "AIME-2024",
    "AIME-2025",
    "IFEval",
    "BFCL",
    "Arena-Hard",
)
# Multiple-choice benchmarks: the score (%) of a uniform guess among the options.
CHANCE = {
    "MMLU": 25.0,
    "MMLU-Redux": 25.0,
    "MMLU-Pro": 10.0,
    "GPQA-Diamond": 25.0,
    "ARC-Challenge": 25.0,
    "HellaSwag": 25.0,
    "Winogrande": 50.0,
    "PIQA": 50.0,
}
# Benchmarks not published as a percentage: the divisor that makes them a share.
SCALE = {"MT-Bench": 10.0}


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", name.lower())


_BY_FOLDED = {_folded(name): name for name in BENCHMARK_TASKS}


def near_miss(name: str) -> str | None:
    """The canonical spelling of a benchmark written another way ("GPQA Diamond",
    "mmlu_pro"), or None when `name` is canonical or not a known benchmark at all."""
    canonical = _BY_FOLDED.get(_folded(name))
    return canonical if canonical is not None and canonical != name else None
