"""The compiled run finder (router/privacy/_runs.c) against its specification, the regex in
runs.py, and its triage against the questions it answers for Python (personal._may_hold):
a run it calls NEVER must be one `_may_hold` rules out, a NAMED one one that only a word
naming it could keep."""

from __future__ import annotations

import random

import pytest

from router.privacy import personal, runs
from router.privacy.context import Words
from tests.test_privacy_prefilter import _generated, _labelled_texts


def test_the_extension_is_built() -> None:
    """`pip install -e .` (make install) builds it; without it the scan is 1.5x slower."""
    assert runs.compiled is not None


# Characters the regex tells apart, weighted towards digits and the separators between them,
# so that dates, decimals, dotted quads and their near misses turn up in every text.
_ALPHABET = "0123456789" * 4 + "...---//   ()" + "AZXN" + "ax:,;\n+"


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(size))


def _code_point_spec(text: str) -> list[tuple[int, int]]:
    """The regex over one class per character (the extension reads characters, the regex
    bytes: they differ only for a capital two characters before a run with a non-ASCII
    character between)."""
    classes = bytes(runs.BYTE_CLASSES[ord(c)] if ord(c) < 128 else 1 for c in text)
    return [match.span() for match in runs.LONG_RUN.finditer(classes)]


@pytest.mark.parametrize("seed", range(6))
def test_runs_match_the_regex_on_generated_text(seed: int) -> None:
    rng = random.Random(seed)
    total = 0
    for _ in range(1500):
        text = _random_text(rng, rng.randint(1, 80))
        expected = runs.regex_runs(text)
        assert runs.number_runs(text) == expected, text
        total += len(expected)
    assert total > 1000  # the texts hold runs of every kind


def test_runs_match_the_regex_on_the_edges_of_each_kind() -> None:
    cases = [
        "2026-11-29",
        "2026-11-29 12:30",
        "2026-11-29 123",
        "2026-11-291",
        "29.11.2026",
        "1.11.26",
        "38211.40",
        "38211.4012",
        "123456",
        "X 123456",
        "XY123456",
        "1.2.3.4",
        "1.2.3.45.6",
        "1.2.3.4567",
        "01.2.3.4",
        "1234.5.6.7",
        "12 34 56 78 90",
        "12  34",
        "12   345678",
        "(201) 555-0123",
        "555-0123 9",
        "",
        "9",
    ]
    for case in cases:
        for text in (case, f"a{case}b", f" {case}.", f"{case}\n{case}"):
            assert runs.number_runs(text) == runs.regex_runs(text), text


def test_runs_are_counted_in_characters_beyond_ascii() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        text = _random_text(rng, 40).replace("a", "é").replace("x", "号").replace(":", "😀")
        assert runs.number_runs(text) == _code_point_spec(text), text
    # On these the byte regex and the characters agree (no capital before a non-ASCII one).
    assert runs.number_runs("号码 13812345678 é 4111 1111 1111 1111") == runs.regex_runs(
        "号码 13812345678 é 4111 1111 1111 1111"
    )


def _assert_triage_keeps_its_promises(text: str) -> int:
    words = Words(text)
    ends, blocks = words.named_word_ends(), words.named_blocks()
    promised = 0
    for start, end, triage in runs.triaged_runs(
        text, personal._SHAPED_LENGTHS, personal.SHORTEST_INTERNATIONAL
    ):
        may_hold = personal._may_hold(text, start, end, ends, blocks)
        if triage == runs.NEVER:
            assert not may_hold, (text, text[start:end])
        elif triage == runs.NAMED:
            assert may_hold == personal._named_near(start, end, ends, blocks), (
                text,
                text[start:end],
            )
        promised += triage != runs.ASK
    return promised


def test_triage_keeps_its_promises_on_the_labelled_sets() -> None:
    promised = sum(_assert_triage_keeps_its_promises(text) for text in _labelled_texts())
    assert promised > 200  # most runs of the logs are settled in C


@pytest.mark.parametrize("seed", range(4))
def test_triage_keeps_its_promises_on_generated_text(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(400):
        _assert_triage_keeps_its_promises(_generated(rng))
        _assert_triage_keeps_its_promises(_random_text(rng, 120))


def test_the_regex_alone_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extension (a source tree nobody installed) the findings are the same."""
    texts = _labelled_texts()
    compiled = [list(personal.find_numbers(text)) for text in texts]
    monkeypatch.setattr(runs, "compiled", None)
    assert [list(personal.find_numbers(text)) for text in texts] == compiled
    assert any(compiled)
