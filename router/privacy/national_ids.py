"""National identifiers of some forty countries, each validated by its python-stdnum module
(check digits, birth dates, numbering ranges).

A run of digits is tried against a scheme in two cases only: its written form is distinctive
enough by itself (an SSN's 3-2-4 dashes, a CPF's dots, a Swiss AHV number's 756 and dots, a
French NIR's 15 digits, a Chinese resident id's 18), or a word near it or its CSV column's
name says what it is ("BSN", "personnummer", "CPF", "social insurance", "national id").
A checksum alone would not do: one nine-digit number in ten or eleven passes a BSN's or a
SIN's, so order numbers and counts would be found everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from stdnum.ar import dni as ar_dni
from stdnum.at import vnr
from stdnum.au import tfn
from stdnum.be import nn
from stdnum.bg import egn
from stdnum.br import cpf
from stdnum.ca import sin
from stdnum.ch import ssn as ch_ssn
from stdnum.cl import rut
from stdnum.cn import ric
from stdnum.cz import rc
from stdnum.de import idnr
from stdnum.dk import cpr
from stdnum.ee import ik
from stdnum.es import dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.gr import amka
from stdnum.hr import oib
from stdnum.ie import pps
from stdnum.il import idnr as il_idnr
from stdnum.in_ import aadhaar
from stdnum.is_ import kennitala
from stdnum.it import codicefiscale
from stdnum.kr import rrn
from stdnum.lt import asmens
from stdnum.lv import pvn
from stdnum.nl import bsn
from stdnum.no import fodselsnummer
from stdnum.pl import pesel
from stdnum.pt import nif
from stdnum.ro import cnp
from stdnum.se import personnummer
from stdnum.si import emso
from stdnum.tr import tckimlik
from stdnum.us import itin, ssn
from stdnum.za import idnr as za_idnr

from router.privacy.context import ANY_ID, Words


@dataclass(frozen=True)
class Scheme:
    label: str
    validator: ModuleType  # a python-stdnum module: `is_valid(text) -> bool`
    lengths: frozenset[int]  # how many digits it has, separators left out
    # A written form that says what the number is without a word naming it.
    shape: re.Pattern[str] | None = None

    def valid(self, raw: str) -> bool:
        """Valid as written, or as its digits alone: some modules take the separators
        their country writes (a personnummer's "-" or "+"), others only their own."""
        try:
            if self.validator.is_valid(raw):
                return True
            digits = _digits_of(raw)
            return digits != raw and bool(self.validator.is_valid(digits))
        except Exception:  # a validator's surprise is not a finding
            return False


def _lengths(*counts: int) -> frozenset[int]:
    return frozenset(counts)


# Numbers each scheme's documentation uses as its example, and test fixtures everyone
# copies: nobody's.
_FIXTURES = frozenset({"123456789", "987654321", "078051120", "219099999"})

SCHEMES: tuple[Scheme, ...] = (
    Scheme("us_ssn", ssn, _lengths(9), re.compile(r"\d{3}-\d{2}-\d{4}")),
    Scheme("us_itin", itin, _lengths(9)),
    Scheme("ca_sin", sin, _lengths(9)),
    Scheme("nl_bsn", bsn, _lengths(8, 9)),
    Scheme("pt_nif", nif, _lengths(9)),
    Scheme("il_idnr", il_idnr, _lengths(9)),
    Scheme("au_tfn", tfn, _lengths(8, 9)),
    Scheme("cz_rc", rc, _lengths(9, 10)),
    Scheme("se_personnummer", personnummer, _lengths(10, 12)),
    Scheme("dk_cpr", cpr, _lengths(10)),
    Scheme("at_vnr", vnr, _lengths(10)),
    Scheme("bg_egn", egn, _lengths(10)),
    Scheme("is_kennitala", kennitala, _lengths(10)),
    Scheme("gb_nhs", nhs, _lengths(10)),
    Scheme("br_cpf", cpf, _lengths(11), re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")),
    Scheme("de_idnr", idnr, _lengths(11)),
    Scheme("no_fodselsnummer", fodselsnummer, _lengths(11)),
    Scheme("pl_pesel", pesel, _lengths(11)),
    Scheme("be_nn", nn, _lengths(11)),
    Scheme("tr_tckimlik", tckimlik, _lengths(11)),
    Scheme("ee_ik", ik, _lengths(11)),
    Scheme("lt_asmens", asmens, _lengths(11)),
    Scheme("lv_pk", pvn, _lengths(11)),
    Scheme("hr_oib", oib, _lengths(11)),
    Scheme("gr_amka", amka, _lengths(11)),
    Scheme("in_aadhaar", aadhaar, _lengths(12)),
    Scheme("ch_ssn", ch_ssn, _lengths(13), re.compile(r"756\.\d{4}\.\d{4}\.\d{2}")),
    Scheme("ro_cnp", cnp, _lengths(13)),
    Scheme("za_idnr", za_idnr, _lengths(13)),
    Scheme("kr_rrn", rrn, _lengths(13)),
    Scheme("si_emso", emso, _lengths(13)),
    Scheme("fr_nir", nir, _lengths(15), re.compile(r"[12](?:[ .]?\d){14}")),
    Scheme("cn_resident_id", ric, _lengths(18), re.compile(r"[\d .\-]+")),
    Scheme("ar_dni", ar_dni, _lengths(7, 8)),
    Scheme("cl_rut", rut, _lengths(8, 9)),
)
_BY_LENGTH: dict[int, tuple[Scheme, ...]] = {
    n: tuple(s for s in SCHEMES if n in s.lengths) for n in range(1, 19)
}
SHAPED: dict[int, tuple[Scheme, ...]] = {
    n: tuple(s for s in schemes if s.shape is not None) for n, schemes in _BY_LENGTH.items()
}
LENGTHS = frozenset(n for s in SCHEMES for n in s.lengths) | {17}
# Lengths at which a number may be an id by its shape alone (or its letter: DNI, NIE, the
# Chinese id's X).
_SHAPED_OR_LETTERED = frozenset(n for n, schemes in SHAPED.items() if schemes) | {7, 8, 17}

# Finnish HETU and Irish PPS end in a letter; Chinese resident ids may end in X. A HETU's
# check character is a digit one time in three (150885-4021).
_HETU_HEAD = re.compile(r"\d{6}[-+A]\d{3}")
_HETU_WHOLE = re.compile(r"\d{6}[-+A]\d{4}")

Hit = tuple[str, int, int]  # label, start, end


def national_id(text: str, start: int, end: int, count: int, words: Words) -> Hit | None:
    """The national identifier at the run of digits [start, end) (`count` digits), if any."""
    if count not in _SHAPED_OR_LETTERED and not words.names_identifiers():
        return None  # the cheap way out for most runs: nothing in the text names an id
    raw = text[start:end]
    after = text[end : end + 2]
    for scheme in SHAPED.get(count, ()):
        assert scheme.shape is not None
        if scheme.shape.fullmatch(raw) and _digits_of(raw) not in _FIXTURES and scheme.valid(raw):
            return scheme.label, start, end
    if count == 17 and after[:1] in ("X", "x") and ric.is_valid(_digits_of(raw) + "X"):
        return "cn_resident_id", start, end + 1
    if (found := _with_letter(text, start, end, count, raw, after)) is not None:
        return found
    schemes = _BY_LENGTH.get(count, ())
    hetu_form = count in (9, 10) and _HETU_HEAD.match(raw) is not None
    if not schemes and not hetu_form:
        return None
    named = words.schemes_named(start, end)
    if not named:
        return None
    if hetu_form and _HETU_HEAD.fullmatch(raw) and after[:1].isalnum():
        if hetu.is_valid(raw + after[0]):
            return "fi_hetu", start, end + 1
    elif hetu_form and _HETU_WHOLE.fullmatch(raw) and hetu.is_valid(raw):
        return "fi_hetu", start, end
    if _digits_of(raw) in _FIXTURES:
        return None
    for scheme in schemes:
        if (ANY_ID in named or scheme.label in named) and scheme.valid(raw):
            return scheme.label, start, end
    if 7 <= count <= 8 and ("ie_pps" in named or ANY_ID in named):
        letters = re.match(r"[A-Wa-w][A-IWa-iw]?\b", text[end : end + 3])
        if letters and pps.is_valid(raw + letters.group()):
            return "ie_pps", start, end + letters.end()
    return None


def _with_letter(text: str, start: int, end: int, count: int, raw: str, after: str) -> Hit | None:
    """Spanish DNI (eight digits and a letter) and NIE (X, Y or Z, seven digits, a letter)."""
    if count == 8 and raw.isdigit():
        suffix = after[1:2] if after[:1] == "-" else after[:1]
        if suffix.isalpha() and dni.is_valid(raw + suffix) and not after[1:2].isalpha():
            return "es_dni", start, end + len(after[: 2 if after[:1] == "-" else 1])
    if count == 7 and raw.isdigit() and start > 0:
        # X1234567L, or with dashes X-1234567-L
        lead = start - 2 if text[start - 1] == "-" and start > 1 else start - 1
        letter_at = end + 1 if after[:1] == "-" and lead == start - 2 else end
        letter = text[letter_at : letter_at + 1]
        if text[lead] in "XYZxyz" and letter.isalpha() and nie.is_valid(text[lead] + raw + letter):
            return "es_nie", lead, letter_at + 1
    return None


def _digits_of(raw: str) -> str:
    return "".join(c for c in raw if c.isdigit())


# --- identifiers made mostly of letters, found near the words that name them -------------------

# The literal words before an Italian codice fiscale (it holds no run of four digits).
CODICE_FISCALE_MARKERS = ("codice fiscale", "Codice fiscale", "Codice Fiscale", "CODICE FISCALE")
_CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")


def find_codici_fiscali(text: str, positions: list[int]) -> list[Hit]:
    """Codici fiscali within a line after the words "codice fiscale"."""
    found: list[Hit] = []
    for position in positions:
        for match in _CODICE_FISCALE.finditer(text, position, position + 80):
            if codicefiscale.is_valid(match.group()):
                found.append(("it_codicefiscale", match.start(), match.end()))
    return found
