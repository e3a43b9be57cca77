"""The cheap questions that rule runs of digits out before the validators read them
(personal._may_hold) and the faster stand-ins for library checks must change no finding:
each is compared with the straightforward reading of every run (personal.number_at), or
with the library it stands in for."""

from __future__ import annotations

import random
from pathlib import Path

import phonenumbers
import pytest
import yaml
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from router.privacy import personal, runs
from router.privacy.context import ID_WORDS, PHONE_WORDS, Words, markers
from tests.perf.test_privacy_perf import TYPICAL, _digit_dense_text, _issue28_logs_and_csv

DATA = Path(__file__).parent / "data" / "privacy"


def _labelled_texts() -> list[str]:
    texts = [
        case["text"]
        for name in ("labelled.yaml", "issue28_sensitive.yaml", "issue28_clean.yaml")
        for case in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    ]
    return [*texts, _digit_dense_text(), _issue28_logs_and_csv(), TYPICAL]


# Pieces the generated texts are made of: numbers in the forms the detectors know (and near
# misses), the words that name them, capitals, pluses and brackets before them, CSV lines.
_NAMING = [*PHONE_WORDS[:20], "order", "ticket", "ID", "#", *(w[0] for w in ID_WORDS.values())]
_PIECES = [
    "\n",
    "\n\n",
    ", ",
    ";",
    " ",
    "+",
    "(",
    ")",
    "-",
    ".",
    "X",
    "Y",
    "x",
    "A",
    "DE",
    "GB",
    "AB",
    "INC",
    "version ",
    "host ",
    "from ",
    "IBAN ",
]


# Found without a word naming them: a card, an IBAN, international numbers written with 00,
# a Spanish DNI and NIE (their letter after the digits).
_TRUE_ONES = [
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "0044 20 7123 4567",
    "0033 1 42 68 53 00",
    "0049 89 63648018",
    "006834002",  # Niue: seven digits after 00
    "0029022222",
    "12345678Z",
    "12345678-Z",
    "x1234567L",
]


def _number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 19)))
    if rng.random() < 0.3:
        digits = rng.choice(["0", "00", "1", "4", "5", "756", "13", "44", "49"]) + digits
    out, i = [], 0
    while i < len(digits):
        step = rng.randint(1, 5)
        out.append(digits[i : i + step])
        i += step
    return rng.choice(["", " ", "-", ".", "/"]).join(out) if rng.random() < 0.5 else digits


def _generated(rng: random.Random) -> str:
    parts: list[str] = []
    if rng.random() < 0.3:  # a CSV block, sometimes under a header naming a column
        header = [rng.choice(["name", "phone", "Telefon", "bsn", "sku", "id", "cpf", "qty"])]
        header += [rng.choice(["amount", "ssn", "note", "mobile"]) for _ in range(2)]
        parts.append(",".join(header) + "\n")
        for _ in range(rng.randint(1, 4)):
            parts.append(",".join(_number(rng) for _ in header) + "\n")
    for _ in range(rng.randint(3, 14)):
        roll = rng.random()
        if roll < 0.4:
            parts.append(_number(rng))
        elif roll < 0.6:
            parts.append(rng.choice(_NAMING) + rng.choice([" ", ": ", " number ", "\n", ""]))
        elif roll < 0.75:
            # A valid card or IBAN now and then, so that the cheap checks meet true ones.
            parts.append(rng.choice(_TRUE_ONES))
        else:
            parts.append(rng.choice(_PIECES))
    return "".join(parts)


def _assert_prefilter_keeps_findings(text: str) -> None:
    words = Words(text)
    ends, blocks = words.named_word_ends(), words.named_blocks()
    for start, end in runs.number_runs(text):
        found = personal.number_at(text, start, end, words)
        if found is not None:
            assert personal._may_hold(text, start, end, ends, blocks), (text, start, end, found)
    assert list(personal.find_numbers(text)) == list(
        personal.find_numbers(text, prefilter=False)
    ), text


def test_prefilter_keeps_every_finding_of_the_labelled_sets() -> None:
    texts = _labelled_texts()
    assert sum(1 for t in texts if list(personal.find_numbers(t))) > 50  # they hold numbers
    for text in texts:
        _assert_prefilter_keeps_findings(text)


@pytest.mark.parametrize("seed", range(4))
def test_prefilter_keeps_every_finding_of_generated_texts(seed: int) -> None:
    rng = random.Random(seed)
    found = 0
    for _ in range(400):
        text = _generated(rng)
        _assert_prefilter_keeps_findings(text)
        found += bool(list(personal.find_numbers(text, prefilter=False)))
    assert found > 40  # the texts hold findings for the prefilter to keep


def test_prefilter_rules_out_most_runs_of_a_log() -> None:
    """What it is for: most runs of digit-dense logs and CSV are not read in full."""
    text = _digit_dense_text()
    words = Words(text)
    ends, blocks = words.named_word_ends(), words.named_blocks()
    found = runs.number_runs(text)
    kept = [r for r in found if personal._may_hold(text, *r, ends, blocks)]
    assert len(kept) < len(found) / 2


def test_shortest_international_number_matches_the_numbering_plans() -> None:
    shortest = min(
        len(str(code))
        + min(
            (
                PhoneMetadata.metadata_for_nongeo_region(code)
                if region == REGION_CODE_FOR_NON_GEO_ENTITY
                else PhoneMetadata.metadata_for_region(region)
            ).general_desc.possible_length
        )
        for code, regions in COUNTRY_CODE_TO_REGION_CODE.items()
        for region in regions
    )
    assert shortest == personal.SHORTEST_INTERNATIONAL
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+12044"))


def test_luhn_matches_stdnum() -> None:
    rng = random.Random(7)
    numbers = [
        "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))) for _ in range(20000)
    ]
    numbers += ["4111111111111111", "4111111111111112", "0", "18"]
    assert [personal.luhn_valid(n) for n in numbers] == [luhn.is_valid(n) for n in numbers]


def test_iban_check_digits_match_stdnum() -> None:
    rng = random.Random(3)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefxyz"
    for _ in range(3000):
        chars = "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 34)))
        checks = personal._mod97(chars)
        for length in range(5, len(chars) + 1):
            rearranged = chars[4:length] + chars[:4]
            assert checks[length - 1] == mod_97_10.checksum(rearranged.upper()), chars
    assert personal._mod97("DE89370400440532013000")[-1] == 1


def test_each_context_word_spelling_has_one_bound() -> None:
    """Words._index reads a spelling's bound (inside words, starting one, whole) off its
    first role: the roles a spelling plays must agree on it."""
    for spelling, roles in markers().items():
        assert len({role[2] for role in roles}) == 1, spelling
