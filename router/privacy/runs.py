"""The runs of digits the number detectors read (personal.find_numbers), found by a small C
extension (_runs.c, built on install) or, where it was not built, by the regular expression
below, which is also its specification: tests/test_privacy_runs.py checks the two agree.

In a digit-dense log the regex costs ~0.4 ms for 20 KB (each digit is a place a match may
start) and asking Python's questions of every run another ~0.5 ms; issue 28 gives the whole
scan 2 ms. The extension finds the runs in ~20 µs and sorts each into NEVER (nothing can be
found there), NAMED (something can only if a word naming it stands near) and ASK (Python
asks every question), so most runs of a log never reach Python.
"""

from __future__ import annotations

import re
from types import ModuleType

NEVER, NAMED, ASK = 0, 1, 2

Run = tuple[int, int, int]  # start, end (characters), triage


def _load() -> ModuleType | None:
    try:
        from router.privacy import _runs
    except ImportError:  # a source tree nobody ran `pip install -e .` in
        return None
    return _runs


compiled = _load()


# The specification, and the fallback. Runs of digits are found on a translated copy of the
# text's bytes: digits become 0x00, dots 0x03, dashes and slashes 0x02, spaces and brackets
# 0x04, capitals 0x05, everything else 0x01. A regex starting with a literal byte lets the
# engine skip to the next digit with a tight loop, and the runs no detector can use never
# leave C: numbers under six digits (a year, an amount, a count), dates, prices and six
# digits without capitals before them (which only a UK National Insurance number may have).
# Only dotted quads (IPv4) and the other runs of six digits or more come out.
BYTE_CLASSES = bytes(
    0
    if chr(i).isdigit() and i < 128
    else 3
    if chr(i) == "."
    else 2
    if chr(i) in "-/"
    else 4
    if chr(i) in " ()"
    else 5
    if "A" <= chr(i) <= "Z"
    else 1
    for i in range(256)
)
_CONTINUATION = bytes(1 if 0x80 <= i <= 0xBF else 0 for i in range(256))
_RUN_ENDS = rb"(?![\x02-\x04]{0,2}\x00)"
_ANY = rb"[\x00-\xff]"
# The first digit is a literal, so the engine's prefix scan finds it; the lookbehind then
# makes sure it starts its run; the alternatives read on from the second digit.
LONG_RUN = re.compile(
    rb"\x00(?<![\x00\x03]\x00)(?=(?:[\x02-\x04]{0,2}\x00){3})(?:"  # four digits at least
    rb"\x00{0,2}(?:\x03\x00{1,3}){3}(?![\x00\x03]\x00)"  # a dotted quad
    rb"|(?!"
    rb"\x00{3}([\x02\x03])\x00{1,2}\1\x00{1,2}(?:\x04\x00{1,2})?" + _RUN_ENDS + rb"|"  # 2026-11-29
    rb"\x00?([\x02\x03])\x00{1,2}\2\x00{2,4}(?:\x04\x00{1,2})?" + _RUN_ENDS + rb"|"  # 29.11.2026
    rb"\x00*\x03\x00{1,3}" + _RUN_ENDS + rb"|"  # 38211.40
    rb"(?<!\x05" + _ANY + rb")(?<!\x05" + _ANY + _ANY + rb")"  # six digits, no capitals
    rb"(?:[\x02-\x04]{0,2}\x00){5}" + _RUN_ENDS + rb")"
    rb"(?:[\x02-\x04]{0,2}\x00){5,})"
)


def regex_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every run LONG_RUN matches, in characters."""
    encoded = text.encode("utf-8", "surrogatepass")
    classes = encoded.translate(BYTE_CLASSES)
    if text.isascii():
        return [match.span() for match in LONG_RUN.finditer(classes)]
    # Byte offsets to character offsets: a character is every byte but UTF-8's continuation
    # bytes (0x80-0xBF), counted in C on a copy that marks them, as the matches move forward.
    # (A capital two characters before a run, with a non-ASCII one between, is three bytes
    # back here and two characters back for the extension: the one place the two differ.)
    continuations = encoded.translate(_CONTINUATION)
    found, byte_at, char_at = [], 0, 0
    for match in LONG_RUN.finditer(classes):
        start, end = match.span()
        char_at += start - byte_at - continuations.count(1, byte_at, start)
        byte_at = start
        found.append((char_at, char_at + (end - start)))  # digits and separators: one byte
    return found


def triaged_runs(text: str, shaped: int, shortest_international: int) -> list[Run]:
    """Every run with its triage; without the extension every run is ASK. `shaped` has bit
    n set when a national id of n digits has a written form of its own."""
    if compiled is not None:
        return compiled.runs(text, shaped, shortest_international)  # type: ignore[no-any-return]
    return [(start, end, ASK) for start, end in regex_runs(text)]


def number_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every dotted quad and every run of at least six digits, with
    separators between them."""
    if compiled is not None:
        return [(start, end) for start, end, _ in compiled.runs(text, 0, 0)]
    return regex_runs(text)
