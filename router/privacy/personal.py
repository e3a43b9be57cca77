"""Personal data: e-mail addresses, phone numbers, payment cards, IBANs, national ids and IP
addresses (postal addresses are in addresses.py, national ids' schemes in national_ids.py).

One cheap pass finds the candidates (every `@`, every run of digits); only candidates go to
the validators (phonenumbers, python-stdnum, ipaddress), which decide with checksums and
numbering plans. A number is a finding only when its checksum, numbering plan or context
says what it is: order numbers, versions, ISBNs, UUIDs and hashes fail those tests.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import isbn

from router.privacy.context import Words
from router.privacy.findings import EMAIL, IBAN, IP_ADDRESS, NATIONAL_ID, PAYMENT_CARD, PHONE
from router.privacy.national_ids import LENGTHS as NATIONAL_ID_LENGTHS
from router.privacy.national_ids import SHAPED, national_id
from router.privacy.runs import ASK, NEVER, triaged_runs

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
            # user:password@host in a URL is a connection string, not an address; a
            # mailto: link holds one.
            word = text[max(0, start - 200) : start].rsplit(None, 1)[-1:]
            mailto = text[max(0, start - 7) : start].lower() == "mailto:"
            in_url = not mailto and (
                text[start - 1 : start] == ":" or bool(word and "://" in word[0])
            )
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
# A Brazilian mobile number: its area code in brackets, then 9 and eight digits, 4-4.
_BR_MOBILE_SHAPE = re.compile(r"\(\d{2}\) ?9\d{4}-\d{4}")

# Words that say what a number is, within a few words before it (English, German, French,
# Spanish, Chinese).
_IP_WORDS = re.compile(
    r"(?i)(?:\bip\b|\bips\b|ip-adresse|adresse ip|dirección ip|ip地址|\baddr|\bhost|\bclient|"
    r"\bremote|\bsrc\b|\bdst\b|\bsource\b|\bfrom\b|\bvon\b|\bde\b|\bdesde\b|\bpeer|"
    r"\bserver|\bconnect|\blogin|\bsigned in|\bx-forwarded|\bforwarded|来自|\bnginx|\bsshd)"
)
_VERSION_WORDS = re.compile(r"(?i)(?:\bv|version|release|\bver\.?|build)\s*$")
_VERSION_WORD_ENDS = frozenset("vVnNeErR.dD")
# Numbers that pass Luhn without being cards: a phone's IMEI, a French company's SIRET/SIREN.
_NOT_CARD_WORDS = re.compile(r"(?i)\b(?:imei|siret|siren)\b")
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
_TRUNK_ZERO_REGIONS = ("GB", "DE", "FR", "NL", "SE", "CH", "AT", "BE", "IT", "BR", "CN")
_NO_ZERO_REGIONS = ("US", "ES", "IT", "PT", "DK", "NO", "PL", "BR", "CN")


# The fewest digits a valid international number has (a country code and its shortest
# national number, Austria's 43 and four digits), read off phonenumbers' metadata by
# tests/test_privacy_prefilter.py: "0012044" (a ticket's digits) cannot be a phone number.
SHORTEST_INTERNATIONAL = 6


def _phone_regions(digits: str) -> tuple[str, ...]:
    return _TRUNK_ZERO_REGIONS if digits.startswith("0") else _NO_ZERO_REGIONS


def _before(text: str, start: int, span: int = 40) -> str:
    return text[max(0, start - span) : start]


_SEPARATORS = b" -./()+"


def _digits(raw: str) -> str:
    """The digits of a run (runs hold only digits and these separators). Deleting ASCII
    bytes from UTF-8 leaves valid UTF-8; bytes.translate does it 3x faster than str's."""
    encoded = raw.encode("utf-8", "surrogatepass").translate(None, _SEPARATORS)
    return encoded.decode("utf-8", "surrogatepass")


_UK_DRAMA = ("7700900", "2079460", "1134960", "1632960")


def _fictional_phone(number: phonenumbers.PhoneNumber) -> bool:
    """Numbers set aside for films and documentation: 555-0100 to 555-0199 in North America,
    Ofcom's drama ranges in the UK."""
    national = str(number.national_number)
    if national[-7:-4] == "555" and national[-4:-2] == "01":  # (201) 555-0123 and 555-0142
        return True
    return number.country_code == 44 and national.startswith(_UK_DRAMA)


def _fictional_digits(digits: str) -> bool:
    """The same ranges read off the digits, before paying ~50 µs for a parse: 555-01xx
    with or without an area code and country code 1, 07700 900… and +44 7700 900…."""
    if digits[-7:-4] == "555" and digits[-4:-2] == "01":
        return len(digits) in (7, 10) or (len(digits) == 11 and digits[0] == "1")
    national = digits[1:] if digits[0] == "0" else digits[2:] if digits[:2] == "44" else ""
    return national.startswith(_UK_DRAMA)


def _phone(text: str, start: int, end: int, words: Words, digits: str) -> tuple[int, int] | None:
    """The phone number at this run of digits (`digits` without its separators), if it is
    one. The cheap questions first: most runs leave at the words before them."""
    lead = start
    before = text[start - 2 : start] if start > 1 else text[:start]
    if before[-1:] == "+":
        lead = start - 1
    elif before == "+(":
        lead = start - 2
    raw = text[lead:end]
    if _fictional_digits(digits):
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
    if before[-1:] == "(":
        lead = start - 1
        raw = text[lead:end]
    shaped = (
        (digits[0] == "0" and len(digits) >= 9 and not raw.isdigit())
        or _US_PHONE_SHAPE.fullmatch(raw) is not None
        or _BR_MOBILE_SHAPE.fullmatch(raw) is not None
    )
    # A Chinese mobile number (1[3-9] and nine digits) is recognisable by itself.
    chinese_mobile = len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"
    if not shaped and not chinese_mobile and not words.called_phone(lead, end):
        return None
    if _DATE_SHAPE.fullmatch(raw):
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
        and (len(digits) != 13 or digits[0] == "4")  # 13 digits: Visa; else an EAN-13
        and len(set(digits)) > 1  # 0000 0000 0000 0000 passes Luhn
        and luhn_valid(digits)
    )


# Each digit's contribution when it is doubled (Luhn): 7 → 14 → 1 + 4 = 5.
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def luhn_valid(digits: str) -> bool:
    """python-stdnum's luhn.is_valid for a string of ASCII digits, in C string operations
    (~1 µs instead of ~10)."""
    if not digits:
        return False
    backwards = digits[::-1].encode("ascii")
    kept, doubled = backwards[::2], backwards[1::2].translate(_DOUBLED)
    return (sum(kept) - 48 * len(kept) + sum(doubled)) % 10 == 0


_CAPITAL_BEFORE = re.compile(r"[A-Z]")
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
            elif c in " -" and end + 1 < len(text) and text[end + 1].isalnum():
                end += 1
            else:
                break
        if count < 15:
            continue
        checks = _mod97(text[lead:end].replace(" ", "").replace("-", ""))
        for stop, check in zip(
            reversed(stops), reversed(checks), strict=True
        ):  # the longest valid one
            if stop <= start:
                break
            # Only a number whose check digits hold is worth stdnum's full reading (~30 µs:
            # the country's length and format, its own checks).
            if check == 1 and stdnum_iban.is_valid(text[lead:stop]):
                return lead, stop
    return None


def _mod97(chars: str) -> list[int]:
    """ISO 7064 mod 97-10 of each prefix of an IBAN's letters and digits (four at least), as
    the IBAN check reads them: the first four moved to the end, letters as 10 to 35."""
    head = "".join(str(int(c, 36)) for c in chars[:4])
    shift, tail = 10 ** len(head), int(head)
    checks, body = [0, 0, 0, 0], 0
    for c in chars[4:]:
        value = int(c, 36)
        body = (body * (10 if value < 10 else 100) + value) % 97
        checks.append((body * shift + tail) % 97)
    return checks


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
    # The search costs ~8 µs (it is tried at every position); it can only match where the
    # text before ends (spaces aside) in the last letter of one of its words.
    if before.rstrip()[-1:] in _VERSION_WORD_ENDS and _VERSION_WORDS.search(before):
        return None
    line_start = text.rfind("\n", 0, start) + 1
    if line_start == start or _IP_WORDS.search(before):
        return start, end
    return None


# IPv6: three colons with at most four hex digits between them ("::" counts), found by a
# regex that starts with a literal colon, so the engine skips to each colon in C; the
# address is then read out to both sides and parsed.
IPV6_CORE = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:")
_IPV6_TAIL = re.compile(r"[0-9A-Fa-f:]*")
_HEX = frozenset("0123456789abcdefABCDEF:")


def find_ipv6(text: str) -> Iterator[Hit]:
    """Global IPv6 addresses (2000::/3 less the documentation range): private, link-local
    and loopback ones are nobody's."""
    position = 0
    while (core := IPV6_CORE.search(text, position)) is not None:
        start = core.start()
        while start > 0 and text[start - 1] in _HEX:
            start -= 1
        end = _IPV6_TAIL.match(text, start).end()  # type: ignore[union-attr]
        position = end
        if text[start : start + 1] not in ("2", "3") or (start > 0 and text[start - 1].isalnum()):
            continue
        candidate = text[start:end]
        if candidate.endswith(":") and not candidate.endswith("::"):
            candidate = candidate[:-1]  # "from 2a02:…:3b70: denied"
        if "::" not in candidate and candidate.count(":") != 7:
            continue
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if address.is_global and not text[end : end + 1].isalnum():
            yield IP_ADDRESS, "ipv6", start, start + len(candidate)


def _hyphenated_isbn(raw: str, count: int) -> bool:
    return count in (10, 13) and "-" in raw and isbn.is_valid(raw)


# Bit n set: a national id of n digits has a written form of its own (runs.triaged_runs).
_SHAPED_LENGTHS = sum(
    1 << count for count, schemes in SHAPED.items() if any(s.shape is not None for s in schemes)
)


def find_numbers(text: str, prefilter: bool = True) -> Iterator[Hit]:
    """Phones, cards, IBANs, national ids and IPv4 addresses among the text's runs of digits.
    Each run first meets its triage (runs.py) and `_may_hold`, a few cheap questions whose
    answer "no" means `number_at` would find nothing there; only the others are read in
    full. `prefilter=False` reads every run in full (the tests compare the two)."""
    words = Words(text)
    named: tuple[list[int], list[int]] | None = None
    for start, end, triage in triaged_runs(text, _SHAPED_LENGTHS, SHORTEST_INTERNATIONAL):
        if prefilter:
            if triage == NEVER:
                continue
            if named is None:  # asked once a text has a run
                named = words.named_word_ends(), words.named_blocks()
            if triage == ASK:
                if not _may_hold(text, start, end, *named):
                    continue
            elif not _named_near(start, end, *named):
                continue
        if (hit := number_at(text, start, end, words)) is not None:
            yield hit


def _may_hold(
    text: str, start: int, end: int, named_ends: list[int], named_blocks: list[int]
) -> bool:
    """Whether `number_at` may find something at the run [start, end): False only where every
    way it has of finding something is ruled out. Most runs of a log or a CSV (counts, ids,
    timestamps) have no plus, bracket or capitals before them, none of the written forms of
    a card, a phone or an identifier, and no word naming one near them or in their column's
    header: they leave here after a few questions (~2 µs) instead of the validators' (~10)."""
    raw = text[start:end]
    before = text[start - 2 : start] if start > 1 else text[:start]
    last = before[-1:]
    if last == "+" or last == "(":
        return True  # an international number, a bracketed area code
    plain = raw.isdigit()
    if plain:
        digits = raw
    elif "." in raw and _IPV4.fullmatch(raw) is not None and _ip(text, start, end) is not None:
        return True
    else:
        digits = _digits(raw)
    count = len(digits)
    if count < 6 or count > 34:
        return False
    if ("A" <= last <= "Z" or "A" <= before[:1] <= "Z") and (  # an IBAN, an NI number
        _iban(text, start) is not None
        or _NINO.match(text, max(0, start - 3)) is not None
        or _NINO.match(text, max(0, start - 2)) is not None
    ):
        return True
    if count == 6:
        return False  # six digits are only ever an NI number's
    first = digits[0]
    # 00 and a country code (no valid international number has fewer digits than
    # SHORTEST_INTERNATIONAL); a national number written in groups
    if (
        count <= 15
        and first == "0"
        and (
            (digits[1] == "0" and count - 2 >= SHORTEST_INTERNATIONAL) or (count >= 9 and not plain)
        )
    ):
        return True
    if count >= 13:
        if (
            (count <= 19 and _card(raw))
            or (count == 17 and text[end : end + 1] in ("X", "x"))  # a Chinese id ending in X
            or any(s.shape is not None and s.shape.fullmatch(raw) for s in SHAPED.get(count, ()))
        ):
            return True
    elif count == 11 and first == "1" and digits[1] in "3456789":
        return True  # a Chinese mobile number
    elif not plain and 9 <= count <= 11:
        if _US_PHONE_SHAPE.fullmatch(raw) is not None or any(
            s.shape is not None and s.shape.fullmatch(raw) for s in SHAPED.get(count, ())
        ):
            return True  # (201) 555-0123, an SSN's or a CPF's groups
    elif count == 8 and plain:
        after = text[end : end + 1]
        if after.isalpha() or after == "-":
            return True  # a Spanish DNI
    elif count == 7 and (
        last in ("X", "Y", "Z", "x", "y", "z")
        or (last == "-" and before[:1] in ("X", "Y", "Z", "x", "y", "z"))
    ):
        return True  # a Spanish NIE (X1234567L, X-1234567-L)
    return _named_near(start, end, named_ends, named_blocks)


def _named_near(start: int, end: int, named_ends: list[int], named_blocks: list[int]) -> bool:
    """A word naming a phone number or an identifier (Words.named_word_ends) near the run:
    phone words count up to 40 characters before the number, identifier words 60 before
    and 16 after. Or a header naming one above it (Words.named_blocks)."""
    near = bisect_left(named_ends, start - 60)
    if near < len(named_ends) and named_ends[near] <= end + 16:
        return True
    block = bisect_right(named_blocks, start) - 1
    return block >= 0 and block % 2 == 0 and start <= named_blocks[block + 1]


def number_at(text: str, start: int, end: int, words: Words) -> Hit | None:
    """What the run of digits [start, end) is, if anything (each question asked in full)."""
    raw = text[start:end]
    if "." in raw and (found := _ip(text, start, end)):
        return IP_ADDRESS, "ipv4", *found
    digits = _digits(raw)
    count = len(digits)
    if count < 6 or count > 34:
        return None
    # IBANs and NI numbers: capitals right before the digits ("DE89 …", "WEST 1234 …",
    # "AB 12 …"). Six digits can be nothing else.
    capitals = _CAPITAL_BEFORE.search(text, max(0, start - 2), start) is not None
    if (count == 6 and not capitals) or _DATE.fullmatch(raw):
        return None
    if count in (10, 13) and _ISBN_WORDS.search(_before(text, start, 12)):
        return None
    if capitals:
        if (found := _iban(text, start)) is not None:
            return IBAN, "iban", *found
        nino = _NINO.match(text, max(0, start - 3)) or _NINO.match(text, max(0, start - 2))
        if nino is not None:
            return NATIONAL_ID, "uk_nino", nino.start(), nino.end()
    # An ISBN-10 or -13 with its hyphens is a book, whatever else its digits pass; asked
    # only of a number about to be reported (the check costs ~0.1 ms).
    if count in NATIONAL_ID_LENGTHS and (national := national_id(text, start, end, count, words)):
        return None if _hyphenated_isbn(raw, count) else (NATIONAL_ID, *national)
    if 13 <= count <= 19 and _card(raw) and not _NOT_CARD_WORDS.search(_before(text, start, 12)):
        return None if _hyphenated_isbn(raw, count) else (PAYMENT_CARD, "luhn", start, end)
    phone = _phone(text, start, end, words, digits) if 7 <= count <= 15 else None
    if phone is not None and not _hyphenated_isbn(raw, count):
        return PHONE, "phone", *phone
    return None
