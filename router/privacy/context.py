"""Words that say what a number is ("Tel.", "Telefon", "电话"; "BSN", "personnummer", "CPF";
"order", "Rechnung"), found once per text with one Aho-Corasick automaton and only when a
number needs them: a text whose numbers are all dates and amounts never pays for them.

A word counts in the few characters before a number (and, for identifiers, just after it:
"123456782 (BSN)"), or in the header of the CSV column the number stands in, so that every
row of an export is read with its column's name.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import product
from typing import ClassVar

from ahocorasick_rs import AhoCorasick, Implementation

# Within a few words before a number (English, German, French, Spanish, Dutch, Swedish,
# Portuguese, Italian, Chinese).
PHONE_WORDS = (
    "tel",
    "tél",
    "phone",
    "mobile",
    "cell",
    "call",
    "fax",
    "whatsapp",
    "sms",
    "handy",
    "telefon",
    "rufnummer",
    "nummer",
    "festnetz",
    "téléphone",
    "portable",
    "appel",
    "appeler",
    "joindre",
    "teléfono",
    "telefono",
    "telefone",
    "celular",
    "móvil",
    "movil",
    "llamar",
    "llame",
    "número",
    "numero",
    "number",
    "contact",
    "kontakt",
    "reach",
    "ring",
    "bel",
    "mobiel",
    "mobil",
    "cellulare",
    "chiamare",
    "ph",
    "mob",
    "电话",
    "手机",
    "联系",
    "致电",
    "拨打",
)
# Labels of numbers that are not phone numbers nor anyone's identifier: nearer to the
# number than a phone or identifier word, they win ("Telephone hours 9-17, ticket 20261129").
OTHER_LABELS = (
    "ticket",
    "order",
    "invoice",
    "ref",
    "build",
    "version",
    "serial",
    "sku",
    "account",
    "tracking",
    "offset",
    "bestell",
    "rechnung",
    "auftrag",
    "kunden",
    "artikel",
    "commande",
    "facture",
    "dossier",
    "pedido",
    "factura",
    "factuur",
    "bestelling",
    "订单",
    "编号",
    "发票",
)
# Labels that say a number is not a phone number, but may stand before anyone's identifier
# ("ID number", "Kimlik No").
WEAK_LABELS = ("id", "no.", "#")

# Words that name an identifier, by the scheme they name (national_ids.SCHEMES); ANY_ID
# words name none in particular, and every scheme of the number's length is tried.
ANY_ID = "*"
ID_WORDS: dict[str, tuple[str, ...]] = {
    "us_ssn": ("ssn", "social security"),
    "us_itin": ("itin",),
    "ca_sin": ("SIN", "social insurance", "NAS", "assurance sociale"),
    "nl_bsn": ("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"),
    "se_personnummer": ("personnummer", "personnr", "person-nr", "samordningsnummer"),
    "no_fodselsnummer": ("fødselsnummer", "fodselsnummer", "personnummer"),
    "dk_cpr": ("cpr", "personnummer"),
    "fi_hetu": ("hetu", "henkilötunnus", "henkilotunnus", "personal identity code"),
    "de_idnr": ("steuer", "idnr", "identifikationsnummer", "tax id", "TIN", "taxpayer"),
    "at_vnr": ("versicherungsnummer", "svnr", "sozialversicherungsnummer"),
    "ch_ssn": ("ahv", "AVS", "sozialversicherungsnummer"),
    "pl_pesel": ("pesel",),
    "be_nn": ("rijksregisternummer", "rijksregister", "registre national", "insz", "niss"),
    "br_cpf": ("cpf",),
    "pt_nif": ("nif", "contribuinte"),
    "tr_tckimlik": ("kimlik", "tckn"),
    "in_aadhaar": ("aadhaar", "aadhar", "uidai"),
    "ro_cnp": ("cnp", "cod numeric personal"),
    "za_idnr": ("south african id", "rsa id"),
    "kr_rrn": ("resident registration", "rrn", "주민등록번호"),
    "au_tfn": ("tfn", "tax file number"),
    "il_idnr": ("teudat zehut", "israeli id", "תעודת זהות"),
    "bg_egn": ("egn", "егн"),
    "cz_rc": ("rodné číslo", "rodne cislo", "birth number"),
    "ee_ik": ("isikukood",),
    "lt_asmens": ("asmens kodas",),
    "lv_pk": ("personas kods",),
    "hr_oib": ("oib",),
    "si_emso": ("emšo", "emso"),
    "gr_amka": ("amka", "αμκα"),
    "is_kennitala": ("kennitala",),
    "gb_nhs": ("nhs",),
    "ie_pps": ("PPS", "ppsn", "personal public service"),
    "it_codicefiscale": ("codice fiscale", "C.F."),
    "ar_dni": ("dni", "documento nacional de identidad"),
    "cl_rut": ("RUT", "R.U.T.", "rol único tributario"),
    ANY_ID: (
        "national id",
        "national identity",
        "national identification",
        "national number",
        "identity number",
        "identity card",
        "id number",
        "id no",
        "id-nr",
        "personal number",
        "personal id",
        "personal code",
        "personal identification",
        "identification number",
        "citizen id",
        "ausweisnummer",
        "personalausweis",
        "numéro d'identité",
        "numéro d'identification",
        "numéro national",
        "número de identificación",
        "número de identidad",
        "documento de identidad",
        "identiteitsnummer",
        "persoonsnummer",
        "identitetsnummer",
        "numero identificativo",
        "身份证",
        "证件号",
    ),
}
# Acronyms written in capitals only: in lower case they are words of a language we read
# ("sin" in Spanish, "nas" in Portuguese).
_CAPITALS_ONLY = frozenset({"SIN", "NAS", "AVS", "TIN", "PPS", "C.F.", "RUT", "R.U.T."})

PHONE, OTHER, WEAK, ID = "phone", "other", "weak", "id"
# Words matched anywhere (inside longer words too); the other ASCII words must start a word,
# and short ones end it too.
_INSIDE_WORDS = frozenset({"phone", "telefon", "bestell", "rechnung", "auftrag", "kunden", "#"})
_WHOLE_UP_TO = 4  # words this short must be whole words ("tel", "bsn", not "hotel", "bsnx")


def _variants(word: str) -> set[str]:
    """The word as it may be written: each part in lower case, capitalised or in capitals
    ("ID number", "Social Security Number"), and a phrase joined as column names join it
    (national_id, social-security)."""
    if word in _CAPITALS_ONLY:
        return {word}
    parts = word.split(" ")
    spellings = {
        " ".join(combo)
        for combo in product(*((part, part.capitalize(), part.upper()) for part in parts))
    }
    if len(parts) > 1:
        spellings |= {v.replace(" ", sep) for v in set(spellings) for sep in ("_", "-", "")}
    return spellings


Role = tuple[str, str, int]  # category, scheme (for ID words), how it must sit: see _bound
_ANYWHERE, _STARTS, _WHOLE = 0, 1, 2


def _bound(word: str) -> int:
    if word in _INSIDE_WORDS or not word.isascii():
        return _ANYWHERE
    return _WHOLE if len(word) <= _WHOLE_UP_TO or word == "number" else _STARTS


def markers() -> dict[str, list[Role]]:
    """Each marker (in its spellings) → the roles it plays."""
    found: dict[str, list[Role]] = {}
    groups: list[tuple[str, str, Iterable[str]]] = [
        (PHONE, "", PHONE_WORDS),
        (OTHER, "", OTHER_LABELS),
        (WEAK, "", WEAK_LABELS),
    ]
    groups.extend((ID, scheme, words) for scheme, words in ID_WORDS.items())
    for category, scheme, words in groups:
        for word in words:
            for variant in _variants(word):
                found.setdefault(variant, []).append((category, scheme, _bound(word)))
    return found


_DELIMITERS = (",", ";", "\t", "|")
# Lines holding one of the delimiters, one after the other.
_DELIMITED_LINES = re.compile(r"(?:[^\n,;\t|]*[,;\t|][^\n]*(?:\n|\Z))*")
_Line = tuple[str, list[tuple[int, int]], set[tuple[int, int]]]


class _Automaton:
    """Built on first use (a few thousand spellings, ~0.1 s), so importing costs nothing."""

    roles: ClassVar[list[list[Role]]] = []
    automaton: ClassVar[AhoCorasick | None] = None

    @classmethod
    def get(cls) -> tuple[AhoCorasick, list[list[Role]]]:
        if cls.automaton is None:
            found = markers()
            words = sorted(found)
            cls.roles = [found[w] for w in words]
            cls.automaton = AhoCorasick(words, implementation=Implementation.DFA)
        return cls.automaton, cls.roles


class Words:
    """The context words of one text, found on first use; then each question is a bisection."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._ends: list[int] | None = None
        self._starts: list[int] = []
        self._roles: list[Role] = []
        self._categories: set[str] = set()
        self._phone_ends: list[int] = []
        self._named_ends: list[int] = []  # where the phone and identifier words end
        self._named_blocks: list[int] | None = None
        # A delimited line's start → its delimiter, its header's fields (start, end) and
        # those of them that name a phone number.
        self._lines: dict[int, _Line | None] = {}
        self._headers: dict[int, int] = {}  # a delimited line's start → its header's start
        self._header_fields: dict[tuple[int, str], _Line] = {}

    def _index(self) -> list[int]:
        if self._ends is None:
            text = self.text
            automaton, roles = _Automaton.get()
            entries: list[tuple[int, int, Role]] = []
            last = len(text)
            # _sits inlined: a digit-dense log has a few hundred matches ("id", "ref",
            # "tel" inside "hotel"), and this loop is a tenth of its scan.
            for index, start, end in automaton.find_matches_as_indexes(text, overlapping=True):
                word_roles = roles[index]
                bound = word_roles[0][2]  # a spelling's roles share its word's bound
                if bound and (
                    (start and text[start - 1].isalnum())
                    or (bound == _WHOLE and end < last and text[end].isalnum())
                ):
                    continue
                entries.extend((end, start, role) for role in word_roles)
            entries.sort(key=lambda e: e[0])
            self._ends = [e[0] for e in entries]
            self._starts = [e[1] for e in entries]
            self._roles = [e[2] for e in entries]
            self._categories = {e[2][0] for e in entries}
            self._phone_ends = [e[0] for e in entries if e[2][0] == PHONE]
            self._named_ends = [e[0] for e in entries if e[2][0] in (PHONE, ID)]
        return self._ends

    def _between(self, start: int, end: int) -> range:
        """The words ending inside [start, end], as positions in the index."""
        ends = self._index()
        return range(bisect_left(ends, start), bisect_right(ends, end))

    def called_phone(self, position: int, end: int, reach: int = 40) -> bool:
        """A phone word ends within `reach` characters before the number at [position, end)
        (or names its CSV column), and no other label stands between it and the number
        ("order number" is an order's)."""
        ends = self._index()
        phone_ends = self._phone_ends
        if not phone_ends:
            return False
        near = bisect_right(phone_ends, position)
        if not near or phone_ends[near - 1] < position - reach:
            return self._phone_column(position, end)
        nearest = iter(reversed(self._between(position - reach, position)))
        for i in nearest:
            category = self._roles[i][0]
            if category == PHONE:
                label = next(nearest, None)
                return label is None or not (
                    self._roles[label][0] in (OTHER, WEAK) and self._starts[i] - ends[label] <= 2
                )
            if category in (OTHER, WEAK):
                return False
        return self._phone_column(position, end)

    def _phone_column(self, start: int, end: int) -> bool:
        line = self._line(start)
        if line is None or not line[2]:
            return False  # not a delimited line, or no column named for phones
        header = self.header_field(start, end)
        return header is not None and header in line[2]

    def named_word_ends(self) -> list[int]:
        """Where the words naming a phone number or an identifier end, in order."""
        self._index()
        return self._named_ends

    def named_blocks(self) -> list[int]:
        """Each block of delimited lines from a line holding a phone or identifier word down,
        as [start, end, start, end, …]: a CSV column under a header naming a phone number or
        an identifier is inside one."""
        if self._named_blocks is None:
            self._named_blocks = self._blocks_named()
        return self._named_blocks

    def _blocks_named(self) -> list[int]:
        self._index()
        text = self.text
        blocks: list[int] = []
        for word_end in self._named_ends:
            line_start = text.rfind("\n", 0, word_end - 1) + 1
            if blocks and line_start <= blocks[-1]:
                continue  # in the block of a word above it
            end = _DELIMITED_LINES.match(text, line_start).end()  # type: ignore[union-attr]
            if end > line_start:
                blocks.extend((line_start, end))
        return blocks

    def names_identifiers(self) -> bool:
        """Whether any word in the text names an identifier."""
        self._index()
        return ID in self._categories

    def schemes_named(self, start: int, end: int, reach: int = 60, after: int = 16) -> set[str]:
        """The identifier schemes named just before the number at [start, end) (nearest
        first; a label such as "order" in between cuts the search short), just after it,
        or by its CSV column."""
        self._index()
        if ID not in self._categories:
            return set()
        named: set[str] = set()
        for i in reversed(self._between(start - reach, start)):
            category, scheme, _ = self._roles[i]
            if category == ID:
                named.add(scheme)
            elif category == OTHER:
                break
        for i in self._between(end, end + after):
            if self._roles[i][0] == ID and self._starts[i] >= end:
                named.add(self._roles[i][1])
        if not named and (header := self.header_field(start, end)) is not None:
            named.update(
                self._roles[i][1] for i in self._between(*header) if self._roles[i][0] == ID
            )
        return named

    def header_field(self, start: int, end: int) -> tuple[int, int] | None:
        """Where the header of the CSV column holding [start, end) is, when the value is a
        whole field of a delimited line under a header line."""
        text = self.text
        line = self._line(start)
        if line is None:
            return None
        line_start = text.rfind("\n", 0, start) + 1
        delimiter, fields, _ = line
        line_end = _line_end(text, end)
        field_start = text.rfind(delimiter, line_start, start) + 1 or line_start
        field_end = text.find(delimiter, end, line_end)
        field_end = line_end if field_end == -1 else field_end
        if text[field_start:start].strip(" \"'") or text[end:field_end].strip(" \"'\r"):
            return None
        column = text.count(delimiter, line_start, start)
        return fields[column] if column < len(fields) else None

    def _line(self, position: int) -> _Line | None:
        line_start = self.text.rfind("\n", 0, position) + 1
        if line_start not in self._lines:
            self._lines[line_start] = self._header_of(line_start)
        return self._lines[line_start]

    def _header_of(self, line_start: int) -> _Line | None:
        text = self.text
        line_end = _line_end(text, line_start)
        delimiter = next((d for d in _DELIMITERS if d in text[line_start:line_end]), None)
        if delimiter is None:
            return None
        header = self._header_line(line_start, delimiter)
        if header < 0:
            return None
        if (header, delimiter) not in self._header_fields:
            fields: list[tuple[int, int]] = []
            offset = header
            for field in text[header : _line_end(text, header)].split(delimiter):
                fields.append((offset, offset + len(field)))
                offset += len(field) + 1
            self._index()
            phones = {
                f for f in fields if any(self._roles[i][0] == PHONE for i in self._between(*f))
            }
            self._header_fields[header, delimiter] = (delimiter, fields, phones)
        return self._header_fields[header, delimiter]

    def _header_line(self, line_start: int, delimiter: str) -> int:
        """The start of the nearest line above with as many delimiters and no field that
        starts with a digit, in the same block of delimited lines; -1 if none. Remembered
        for every line walked."""
        text = self.text
        count = text.count(delimiter, line_start, _line_end(text, line_start))
        walked: list[int] = []
        found = -1
        position = line_start
        while position > 0:
            if position in self._headers:
                found = self._headers[position]
                break
            walked.append(position)
            above = text.rfind("\n", 0, position - 1) + 1
            line = text[above : position - 1]
            if line.count(delimiter) != count:
                break
            if not any(f.strip(" \"'")[:1].isdigit() for f in line.split(delimiter)):
                found = above
                break
            position = above
        for walked_start in walked:
            self._headers[walked_start] = found
        return found


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end == -1 else end


def _sits(text: str, start: int, end: int, whole: bool) -> bool:
    """Whether the word at [start, end) starts a word (and, if `whole`, ends it too)."""
    if start > 0 and text[start - 1].isalnum():
        return False
    return not whole or end == len(text) or not text[end].isalnum()


def whole_word(text: str, start: int, end: int) -> bool:
    return _sits(text, start, end, whole=True)
