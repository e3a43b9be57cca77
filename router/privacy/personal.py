"""Personal data: e-mail addresses, phone numbers, payment cards, IBANs, national ids, IP
addresses and postal addresses.

One cheap pass finds the candidates (every `@`, every run of digits); only candidates go to
the validators (phonenumbers, python-stdnum, ipaddress), which decide with checksums and
numbering plans. A number is a finding only when its checksum, numbering plan or context
says what it is: order numbers, versions, ISBNs, UUIDs and hashes fail those tests.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import isbn, luhn
from stdnum.cn import ric
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.us import ssn

from router.privacy.context import Context
from router.privacy.findings import (
    EMAIL,
    IBAN,
    IP_ADDRESS,
    NATIONAL_ID,
    PAYMENT_CARD,
    PHONE,
    POSTAL_ADDRESS,
)

Hit = tuple[str, str, int, int]  # kind, label, start, end

# --- e-mail --------------------------------------------------------------------------------

_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-"
)
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b")
# Reserved for documentation and tests (RFC 2606, RFC 6761): never anyone's address.
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_TLDS = (".example", ".test", ".invalid", ".localhost", ".local")
_SERVICE_ADDRESSES = frozenset({"git@github.com", "git@gitlab.com", "git@bitbucket.org"})


def find_emails(text: str) -> Iterator[Hit]:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and text[start - 1] in _LOCAL_CHARS and at - start < 64:
            start -= 1
        while start < at and text[start] in ".-":
            start += 1
        domain = _DOMAIN.match(text, at + 1)
        if start < at and domain is not None:
            address = text[start : domain.end()]
            host = domain.group().lower()
            # user:password@host in a URL is a connection string, not an address.
            word = text[max(0, start - 200) : start].rsplit(None, 1)[-1:]
            in_url = text[start - 1 : start] == ":" or bool(word and "://" in word[0])
            if not (
                host in _RESERVED_DOMAINS
                or host.endswith(tuple("." + d for d in _RESERVED_DOMAINS))
                or host.endswith(_RESERVED_TLDS)
                or address.lower() in _SERVICE_ADDRESSES
                or in_url
            ):
                yield EMAIL, "address", start, domain.end()
        at = text.find("@", at + 1)


# --- numbers ---------------------------------------------------------------------------------

# A run of digits with the separators people write numbers with. Starting with \d lets the
# regex engine skip every other character without trying the pattern.
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_CARD_SHAPE = re.compile(r"\d{4}(?:[ \-]?\d{2,7}){2,4}|\d{13,19}")
# Dates (2026-11-29, 29.11.2026, 11/29/26): none of the kinds looks like one.
_DATE = re.compile(r"\d{4}([./\-])\d{1,2}\1\d{1,2}|\d{1,2}([./\-])\d{1,2}\2\d{2,4}")
_DATE_SHAPE = re.compile(r"\d{1,4}([./\-])\d{1,2}\1\d{2,4}")
_US_PHONE_SHAPE = re.compile(r"(?:\(\d{3}\) ?|\d{3}[\-. ])\d{3}[\-. ]\d{4}")

# Words that say what a number is, within a few words before it (English, German, French,
# Spanish, Chinese).
_IP_WORDS = re.compile(
    r"(?i)(?:\bip\b|\bips\b|ip-adresse|adresse ip|dirección ip|ip地址|\baddr|\bhost|\bclient|"
    r"\bremote|\bsrc\b|\bdst\b|\bsource\b|\bfrom\b|\bvon\b|\bde\b|\bdesde\b|\bpeer|"
    r"\bserver|\bconnect|\blogin|\bsigned in|\bx-forwarded|\bforwarded|来自|\bnginx|\bsshd)"
)
_TAX_ID_WORDS = re.compile(
    r"(?i)(?:steuer|idnr|identifikationsnummer|\btin\b|tax id|taxpayer|\bst-?id)"
)
_SSN_WORDS = re.compile(r"(?i)(?:\bssn\b|social security|sozialversicherung)")
_VERSION_WORDS = re.compile(r"(?i)(?:\bv|version|release|\bver\.?|build)\s*$")
_IMEI_WORDS = re.compile(r"(?i)\bimei\b")
_ISBN_WORDS = re.compile(r"(?i)isbn[\s:-]*(?:1[03])?[\s:-]*$")

# Card numbers: 13 to 19 digits whose first digits belong to a card network.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9][1-9]|[3-6]\d\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|22)|35(?:2[89]|[3-8])|62|50|5[6-9]|6[37]"
)

# UK National Insurance numbers: two letters (HMRC's rules), six digits, A-D.
_NINO = re.compile(
    r"(?<![A-Za-z])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)

# National numbers are tried in the numbering plans of the languages the detector reads;
# a plan that cannot start a number that way is not tried (parsing costs ~50 µs a plan).
_TRUNK_ZERO_REGIONS = ("GB", "DE", "FR", "CN", "IT", "NL", "CH", "AT", "BE")
_NO_ZERO_REGIONS = ("US", "ES", "CN", "IT")


def _phone_regions(digits: str) -> tuple[str, ...]:
    return _TRUNK_ZERO_REGIONS if digits.startswith("0") else _NO_ZERO_REGIONS


def _before(text: str, start: int, span: int = 40) -> str:
    return text[max(0, start - span) : start]


_SEPARATORS_OUT = str.maketrans("", "", " -./()")


def _digits(raw: str) -> str:
    """The digits of a run (runs hold only digits and these separators)."""
    return raw.translate(_SEPARATORS_OUT)


_UK_DRAMA = ("7700900", "2079460", "1134960", "1632960")


def _fictional_phone(number: phonenumbers.PhoneNumber) -> bool:
    """Numbers set aside for films and documentation: 555-0100 to 555-0199 in North America,
    Ofcom's drama ranges in the UK."""
    national = str(number.national_number)
    if national[-7:-4] == "555" and national[-4:-2] == "01":  # (201) 555-0123 and 555-0142
        return True
    return number.country_code == 44 and national.startswith(_UK_DRAMA)


def _phone(text: str, start: int, end: int, context: Context) -> tuple[int, int] | None:
    """The phone number at this run of digits, if it is one."""
    lead = start
    if start > 0 and text[start - 1] == "+":
        lead = start - 1
    elif start > 0 and text[start - 1] == "(" and start > 1 and text[start - 2] == "+":
        lead = start - 2
    raw = text[lead:end]
    digits = _digits(raw)
    if not 7 <= len(digits) <= 15:
        return None
    if lead < start or digits.startswith("00"):
        try:
            number = phonenumbers.parse(raw if lead < start else "+" + digits[2:], None)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(number) and not _fictional_phone(number):
            return lead, end
        return None
    # A national number: the numbering plan must accept it, and its shape or the words
    # before it must say it is a phone number (an eight-digit order number is not).
    if text[start - 1 : start] == "(":
        lead = start - 1
        raw = text[lead:end]
    if _DATE_SHAPE.fullmatch(raw):
        return None
    shaped = _US_PHONE_SHAPE.fullmatch(raw) is not None or (
        digits.startswith("0") and len(digits) >= 9 and any(not c.isdigit() for c in raw)
    )
    # A Chinese mobile number (1[3-9] and nine digits) is recognisable by itself.
    chinese_mobile = len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"
    if not shaped and not chinese_mobile and not context.called_phone(lead):
        return None
    for region in _phone_regions(digits):
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if _fictional_phone(number):
            return None  # reserved for drama in one plan: not someone's in another
        if phonenumbers.is_valid_number(number):
            return lead, end
    return None


def _card(raw: str) -> bool:
    digits = _digits(raw)
    return (
        13 <= len(digits) <= 19
        and _CARD_SHAPE.fullmatch(raw) is not None
        and _CARD_PREFIX.match(digits) is not None
        and len(set(digits)) > 1  # 0000 0000 0000 0000 passes Luhn
        and luhn.is_valid(digits)
    )


_CAPITAL_BEFORE = re.compile(r"[A-Z]")
# Digits in the national ids: SSN 9, NIE 7, DNI 8, Steuer-ID 11, NIR 15, Chinese id 17/18.
_NATIONAL_ID_LENGTHS = frozenset({7, 8, 9, 11, 15, 17, 18})
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")


def _iban(text: str, start: int) -> tuple[int, int] | None:
    """An IBAN: two letters and two check digits, then up to 30 letters and digits in groups;
    the run of digits found is somewhere in it."""
    for head in _IBAN_HEAD.finditer(text, max(0, start - 16), start + 2):
        lead = head.start()
        end, count, stops = lead, 0, []
        while end < len(text) and count < 34:
            c = text[end]
            if c.isascii() and c.isalnum():
                count += 1
                end += 1
                stops.append(end)
            elif c == " " and end + 1 < len(text) and text[end + 1].isalnum():
                end += 1
            else:
                break
        for stop in reversed(stops):  # the longest valid one
            if stop <= start or count < 15:
                break
            if stdnum_iban.is_valid(text[lead:stop]):
                return lead, stop
    return None


def _national_id(text: str, start: int, end: int) -> tuple[str, int, int] | None:
    raw = text[start:end]
    digits = _digits(raw)
    after = text[end : end + 2]
    before = _before(text, start)
    if _SSN_SHAPE.fullmatch(raw) and ssn.is_valid(raw):
        return "us_ssn", start, end
    if len(digits) == 9 and raw.isdigit() and _SSN_WORDS.search(before) and ssn.is_valid(digits):
        return "us_ssn", start, end
    if len(digits) == 15 and digits[0] in "12" and nir.is_valid(digits):
        return "fr_nir", start, end
    if len(digits) == 11 and _TAX_ID_WORDS.search(before) and idnr.is_valid(digits):
        return "de_steuer_id", start, end
    if len(digits) == 17 and after[:1] in ("X", "x") and ric.is_valid(digits + "X"):
        return "cn_resident_id", start, end + 1
    if len(digits) == 18 and ric.is_valid(digits):
        return "cn_resident_id", start, end
    if len(digits) == 8 and raw.isdigit():
        suffix = after[1:2] if after[:1] == "-" else after[:1]
        if suffix.isalpha() and dni.is_valid(digits + suffix) and not after[1:2].isalpha():
            return "es_dni", start, end + len(after[: 2 if after[:1] == "-" else 1])
    if len(digits) == 7 and raw.isdigit() and start > 0 and text[start - 1] in "XYZxyz":
        letter = text[end : end + 1]
        if letter.isalpha() and nie.is_valid(text[start - 1] + digits + letter):
            return "es_nie", start - 1, end + 1
    return None


def _ip(text: str, start: int, end: int) -> tuple[int, int] | None:
    raw = text[start:end]
    if _IPV4.fullmatch(raw) is None:
        return None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if not address.is_global:  # private, loopback, documentation ranges: nobody's address
        return None
    before = _before(text, start)
    if _VERSION_WORDS.search(before):
        return None
    line_start = text.rfind("\n", 0, start) + 1
    if line_start == start or _IP_WORDS.search(before):
        return start, end
    return None


# Postal addresses: a street with a house number near a postal code.
_STREET = re.compile(
    r"(?i)(?:\b\d{1,5}[a-z]?,?\s+(?:[\w'.-]+\s+){0,3}(?:street|st\.|avenue|ave\.?|road|rd\.|"
    r"boulevard|blvd\.?|lane|drive|dr\.|way|court|place|square)\b"
    r"|\b[\w'.-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm)\s+\d{1,4}\s?[a-z]?\b"
    r"|\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai)\b"
    r"|\b(?:calle|c/|avenida|avda\.?|plaza|paseo|camino)\s+[\w'. -]{2,40}?,?\s+"
    r"(?:n[º°o]\.?\s*)?\d{1,4}\b)"
)
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
_CN_ADDRESS = re.compile(r"[\u4e00-\u9fff]{2,12}(?:路|街|道|巷|大道)\d{1,5}号")


# Words that name a street: with one of them in the text, postal codes are looked at.
STREET_MARKERS = frozenset(
    {
        "Street",
        "street",
        " St ",
        " St.",
        "Avenue",
        "avenue",
        " Ave",
        "Road",
        "road",
        " Rd",
        "Boulevard",
        "boulevard",
        "Blvd",
        "Lane",
        "Drive",
        "Court",
        "Place",
        "Square",
        "straße",
        "Straße",
        "strasse",
        "Strasse",
        "str.",
        "Str.",
        "weg ",
        "Weg ",
        "allee",
        "Allee",
        "platz",
        "Platz",
        "gasse",
        "Gasse",
        "ring ",
        "damm ",
        "rue ",
        "Rue ",
        "chemin",
        "Chemin",
        "allée",
        "Allée",
        "impasse",
        "Impasse",
        "quai ",
        "Quai ",
        "calle",
        "Calle",
        "C/",
        "Avenida",
        "avenida",
        "Avda",
        "Plaza",
        "plaza",
        "Paseo",
        "paseo",
        "Camino",
        "camino",
    }
)
CN_ADDRESS_MARKER = "号"


def find_addresses(text: str, postcodes: list[tuple[int, int]], street: bool) -> Iterator[Hit]:
    """A street with a house number within a line or two of a postal code."""
    if street:
        codes = list(postcodes)
        codes.extend(m.span() for m in _UK_POSTCODE.finditer(text))
        for start, end in codes:
            streets = [
                found
                for found in _STREET.finditer(text, max(0, start - 80), min(len(text), end + 60))
                if found.end() <= start or found.start() >= end
            ]
            if streets:  # the street nearest to the postal code
                found = min(streets, key=lambda m: min(abs(m.end() - start), abs(m.start() - end)))
                yield (
                    POSTAL_ADDRESS,
                    "street_and_postcode",
                    min(found.start(), start),
                    max(found.end(), end),
                )
    if CN_ADDRESS_MARKER in text:
        for match in _CN_ADDRESS.finditer(text):
            yield POSTAL_ADDRESS, "cn_street", match.start(), match.end()


# Runs of digits are found on a translated copy of the text's bytes: digits become 0x00,
# separators 0x02, everything else 0x01. A regex starting with a literal byte lets the engine
# skip to the next digit with a tight loop, several times faster than a `[0-9]` search on the
# text, and short numbers (a year, a count) never leave C.
_BYTE_CLASSES = bytes(
    0 if chr(i).isdigit() and i < 128 else 2 if chr(i) in " -./()" else 1 for i in range(256)
)
_LONG_RUN = re.compile(rb"\x00(?:\x02{0,2}\x00){3,}")


def number_runs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every run of at least four digits, with separators between them."""
    encoded = text.encode("utf-8", "surrogatepass")
    classes = encoded.translate(_BYTE_CLASSES)
    if text.isascii():
        for match in _LONG_RUN.finditer(classes):
            start, end = match.span()
            while classes[end - 1] != 0:
                end -= 1
            yield start, end
        return
    # Byte offsets to character offsets, counted once as the matches move forward.
    byte_at, char_at = 0, 0
    for match in _LONG_RUN.finditer(classes):
        start, end = match.span()
        while classes[end - 1] != 0:
            end -= 1
        char_at += len(encoded[byte_at:start].decode("utf-8", "surrogatepass"))
        byte_at = start
        yield char_at, char_at + (end - start)  # digits and separators are one byte each


def find_numbers(text: str, street: bool = False) -> Iterator[Hit]:
    """Phones, cards, IBANs, national ids, IP addresses and postal addresses among the
    text's runs of digits. Each validator runs only on runs of the lengths it can accept:
    most runs (dates, amounts, counts) leave after a length test or two."""
    postcodes: list[tuple[int, int]] = []
    context = Context(text)
    for start, end in number_runs(text):
        raw = text[start:end]
        digits = _digits(raw)
        count = len(digits)
        if "." in raw and (found := _ip(text, start, end)):
            yield IP_ADDRESS, "ipv4", *found
            continue
        if count == 5 and raw.isdigit():
            postcodes.append((start, end))
            continue
        if count < 6 or count > 34:
            continue
        # IBANs and NI numbers: capitals right before the digits ("DE89 …", "WEST 1234 …",
        # "AB 12 …"). Six digits can be nothing else.
        capitals = _CAPITAL_BEFORE.search(text, max(0, start - 2), start) is not None
        if (count == 6 and not capitals) or _DATE.fullmatch(raw):
            continue
        if count in (10, 13) and (
            _ISBN_WORDS.search(_before(text, start, 12)) or ("-" in raw and isbn.is_valid(raw))
        ):
            continue
        if capitals:
            if (found := _iban(text, start)) is not None:
                yield IBAN, "iban", *found
                continue
            nino = _NINO.match(text, max(0, start - 3)) or _NINO.match(text, max(0, start - 2))
            if nino is not None:
                yield NATIONAL_ID, "uk_nino", nino.start(), nino.end()
                continue
        if 13 <= count <= 19 and _card(raw) and not _IMEI_WORDS.search(_before(text, start, 12)):
            yield PAYMENT_CARD, "luhn", start, end
            continue
        if count in _NATIONAL_ID_LENGTHS and (national := _national_id(text, start, end)):
            yield NATIONAL_ID, *national
            continue
        if 7 <= count <= 15 and (phone := _phone(text, start, end, context)) is not None:
            yield PHONE, "phone", *phone
    if street or CN_ADDRESS_MARKER in text:
        yield from find_addresses(text, postcodes, street)
