"""Postal addresses: a street with a house number, next to a postal code, a person's name or
a word that says an address follows ("address", "Anschrift", "dirección", "adres", "地址").

A street alone ("42 roads", "Baker Street") is not an address; a street and a number with
nothing personal around it ("the café at 5 Market Square") is not reported either. The
street patterns run only around the street words the one marker pass found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from router.privacy.findings import POSTAL_ADDRESS

Hit = tuple[str, str, int, int]  # kind, label, start, end

# Street words by where the house number stands. English and French: before the street
# ("27 Whitfield Road", "8 avenue Jean Jaurès").
_NUMBER_FIRST = (
    "street",
    "avenue",
    "road",
    "boulevard",
    "lane",
    "drive",
    "court",
    "place",
    "square",
    "terrace",
    "crescent",
    "gardens",
    "parkway",
    "highway",
    "way",
    "blvd",
    " st ",
    " st.",
    " ave",
    " rd",
    "rue ",
    "chemin",
    "allée",
    "impasse",
    "quai ",
    "route ",
    "cours ",
)
# German, Dutch, Scandinavian: after a street name that ends in the word ("Lindenstraße 14",
# "Keizersgracht 412", "Drottninggatan 58") or after the word itself ("Berliner Straße 12").
_SUFFIXES = (
    "straße",
    "strasse",
    "str.",
    "weg ",
    "allee",
    "platz",
    "gasse",
    "ring ",
    "damm",
    "ufer",
    "chaussee",
    "straat",
    "laan",
    "gracht",
    "plein",
    "kade",
    "dijk",
    "singel",
    "steeg",
    "gatan",
    "vägen",
    "väg ",
    "gränd",
    "torget",
    "gade",
    "vej ",
    "gata ",
    "gate ",
    "veien",
    "vei ",
)
# Spanish, Portuguese, Italian, Catalan: the street word first, the number after the name
# ("Calle de Alcalá 145", "Rua Augusta 45", "Via Garibaldi 21").
_LEADING = (
    "calle",
    "c/",
    "avenida",
    "avda",
    "plaza",
    "paseo",
    "camino",
    "carrer",
    "rua ",
    "travessa",
    "largo ",
    "via ",
    "viale",
    "piazza",
    "corso",
    "vicolo",
    "strada",
    "ul. ",  # Polish: ulica ("ul. Piotrkowska 104"); aleja is left out, "al." is et al.'s
    "ulica",
    "aleja ",
)


def _cases(words: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for word in words:
        for variant in (word, word.capitalize(), word.title(), word.upper()):
            found.setdefault(variant, word)
    return found


_FAMILY: dict[str, tuple[str, str]] = {
    **{k: ("number_first", w) for k, w in _cases(_NUMBER_FIRST).items()},
    **{k: ("suffix", w) for k, w in _cases(_SUFFIXES).items()},
    **{k: ("leading", w) for k, w in _cases(_LEADING).items()},
}
# Words that name a street: where one is, the street patterns run at it.
STREET_MARKERS = frozenset(_FAMILY)

_NUMBER_BEFORE = re.compile(
    r"(?<![\w.])\d{1,5}[a-z]?(?:\s?(?:bis|ter))?,?\s+(?:[\w'\u2019.-]+\s+){0,3}$"
)
_NUMBER_AFTER = re.compile(r"\s*\d{1,4}(?:\s?[a-z])?\b")
_NAME_THEN_NUMBER = re.compile(r"\s+[\w'\u2019. -]{2,40}?,?\s+(?:n[º°o]\.?\s*)?\d{1,4}\b")
_WORD_CHAR = re.compile(r"[\w'\u2019.-]")


def _street_at(text: str, position: int, marker: str) -> tuple[int, int] | None:
    """The street (with its house number) around the street word `marker` at `position`."""
    family, word = _FAMILY[marker]
    end = position + len(marker)
    if family == "number_first":
        if text[end : end + 1].isalnum() and not word.endswith(" "):
            return None  # "Streets", "placeholder"
        number = _NUMBER_BEFORE.search(text, max(0, position - 48), position + (word[0] == " "))
        return (number.start(), end - word.endswith(" ")) if number else None
    if family == "suffix":
        start = position
        while start > 0 and _WORD_CHAR.match(text, start - 1):
            start -= 1
        if not (text[start].isupper() and text[start].isalpha()):
            return None  # "during 3", "the way 5"
        number = _NUMBER_AFTER.match(text, end - word.endswith(" "))
        return (start, number.end()) if number else None
    if position > 0 and text[position - 1].isalnum():
        return None
    name = _NAME_THEN_NUMBER.match(text, end - word.endswith(" "))
    return (position, name.end()) if name else None


CN_ADDRESS_MARKER = "号"
_CN_ADDRESS = re.compile(r"[\u4e00-\u9fff]{2,12}(?:路|街|道|巷|大道)\d{1,5}号$")

# Postal codes of the countries whose streets are read: US ZIP (+4), five digits (de, fr, es,
# it), NL 1234 AB, SE 123 45, PT 1234-567, BR 12345-678, CA K1A 0B1, UK, four digits and a
# town (ch, at, be, dk, no).
_POSTCODE = re.compile(
    r"\b(?:\d{5}(?:-\d{3,4})?|\d{4} ?[A-Z]{2}(?= [A-ZÀ-Þ][a-zà-ÿ])|\d{3} \d{2}|\d{4}-\d{3}|"
    r"[A-Z]\d[A-Z] ?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4}(?= [A-ZÀ-Þ][a-zà-ÿ]))\b"
)
# Words that say an address follows, within a line before the street.
_CUE = re.compile(
    r"(?i)(?:address|\baddr\b|adresse|anschrift|wohnhaft|\bwohn|dirección|direccion|domicilio|"
    r"\badres|adress|endereço|endereco|morada|indirizzo|residenza|residente|lives at|"
    r"living at|live at|ship(?:ping)? to|deliver(?:y)? to|send (?:it|this|them) to|"
    r"mail(?:ing)? to|habite|domicilié|vive en|woont|\bbor på|abita|destinat|地址|住址)"
)
# A person's name right before the street: two to four capitalised words (particles such as
# "van", "de", "da" between them), then a comma, a line break or the end of an HTML element.
_NAME_BEFORE = re.compile(
    r"(?:^|[\s>:(])(?:[A-ZÀ-ÖØ-Þ][\w'\u2019.-]*\s+(?:(?:van|von|de|der|den|da|dos|das|di|del|la|le|"
    r"du|ten|af)\s+)*){1,3}[A-ZÀ-ÖØ-Þ][\w'\u2019-]+\s*(?:,|\n|<br\s*/?>|</[a-z]+>(?:\s*<br\s*/?>)?)"
    r"\s*$"
)


def find_addresses(text: str, present: Mapping[str, list[int]]) -> Iterator[Hit]:
    """Addresses at the street words in `present` (marker → where it starts)."""
    seen: set[int] = set()
    for marker in STREET_MARKERS.intersection(present):
        for position in present[marker]:
            street = _street_at(text, position, marker)
            if street is None or street[0] in seen:
                continue
            start, end = street
            seen.add(start)
            postcode = _POSTCODE.search(text, end, min(len(text), end + 48))
            if postcode is not None and "\n\n" not in text[end : postcode.start()]:
                yield POSTAL_ADDRESS, "street_and_postcode", start, postcode.end()
                continue
            before = text[max(0, start - 80) : start]
            line_before = before[before.rfind("\n", 0, len(before) - 1) + 1 :]
            if _CUE.search(before) is not None:
                yield POSTAL_ADDRESS, "street_after_cue", start, end
            elif _NAME_BEFORE.search(line_before if line_before.strip() else before):
                yield POSTAL_ADDRESS, "street_after_name", start, end
    for position in present.get(CN_ADDRESS_MARKER, ()):
        match = _CN_ADDRESS.search(text, max(0, position - 24), position + 1)
        if match is not None:
            yield POSTAL_ADDRESS, "cn_street", match.start(), match.end()
