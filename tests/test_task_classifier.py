"""The task classifier (router/quality/estimators.classify) skips a task's pattern when none
of the words every match of it needs is in the prompt. Skipping must change no answer: it
is compared with running every pattern (classify_by_patterns) on the bundled outcome
prompts and on generated ones built from the patterns' own words and phrases."""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path

import pytest

from router.quality import estimators
from router.quality.estimators import classify, classify_by_patterns

ROUTING = Path(estimators.__file__).parent / "data" / "routing"


def _bundled_prompts() -> list[str]:
    prompts: list[str] = []
    for path in sorted(ROUTING.glob("*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            prompts.extend(row["prompt"] for row in csv.DictReader(handle))
    return prompts


def test_the_same_task_on_the_bundled_prompts() -> None:
    prompts = _bundled_prompts()
    assert len(prompts) > 1000
    differ = [p for p in prompts if classify(p) != classify_by_patterns(p)]
    assert not differ, differ[:3]


# The patterns' phrases and words, their near misses, and what can stand around them.
_PIECES = [
    "call the function",
    "call a tool",
    "use the search tool",
    "use the tool",
    "function calling",
    "tool call",
    "invoke the",
    "```",
    "``",
    "def",
    "class",
    "python3",
    "stack trace",
    "stacktrace",
    "stack",
    "sum of",
    "how many",
    "how much",
    "how",
    "3 + 4",
    "3+",
    "x = 2",
    "\u0661 + \u0662",  # Arabic-Indic digits: \\d matches them too
    "prove",
    "proofs",
    "in exactly 3 words",
    "in at most 2 sentences",
    "in no more than 5 bullet",
    "in under 10 paragraphs",
    "all uppercase",
    "capital letters",
    "bullet point",
    "do not use the word",
    "do not use any",
    "wrap your entire answer",
    "respond only in json",
    "end your response with",
    "title in double",
    "which option",
    "most likely",
    "why",
    "WHY",
    "Explain",
    "because",
    "who",
    "Which",
    "capital",
    "history",
    "fact",
    "hello",
    "the",
    "a",
    "İnvoke",
    "código",
    "call_the_function",
    "stack-trace",
]
_GLUE = [" ", " ", " ", ", ", ". ", "\n", "_", "-", "(", ")", "?", ""]


@pytest.mark.parametrize("seed", range(4))
def test_the_same_task_on_generated_prompts(seed: int) -> None:
    rng = random.Random(seed)
    tasks = set()
    for _ in range(5000):
        parts = [rng.choice(_PIECES) for _ in range(rng.randint(1, 6))]
        prompt = "".join(p + rng.choice(_GLUE) for p in parts)
        if rng.random() < 0.3:
            prompt = prompt.upper() if rng.random() < 0.5 else prompt.title()
        expected = classify_by_patterns(prompt)
        assert classify(prompt) == expected, prompt
        tasks.add(expected)
    assert tasks == {"tool_use", "code", "math", "instruction", "reasoning", "knowledge", "chat"}


def test_tools_in_the_request_make_it_tool_use() -> None:
    assert classify("Who wrote Hamlet?", frozenset({"tools"})) == "tool_use"
