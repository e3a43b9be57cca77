"""Words that say what a number is ("Tel.", "Telefon", "电话"; "order", "Rechnung"), looked
for with an Aho-Corasick automaton in the few words before a number, and only for numbers
whose own shape does not settle it."""

from __future__ import annotations

from typing import ClassVar

from ahocorasick_rs import AhoCorasick, Implementation

# Within a few words before a number (English, German, French, Spanish, Chinese).
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
    "téléphone",
    "portable",
    "appel",
    "appeler",
    "joindre",
    "teléfono",
    "telefono",
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
    "ph",
    "mob",
    "电话",
    "手机",
    "联系",
    "致电",
    "拨打",
)
# Labels of numbers that are not phone numbers: nearer to the number than a phone word,
# they win ("Telephone hours 9-17, ticket 20261129-0042").
OTHER_LABELS = (
    "ticket",
    "order",
    "invoice",
    "ref",
    "id",
    "no.",
    "#",
    "build",
    "version",
    "serial",
    "sku",
    "account",
    "bestell",
    "rechnung",
    "auftrag",
    "kunden",
    "commande",
    "facture",
    "pedido",
    "factura",
    "订单",
    "编号",
    "发票",
)
# Words matched anywhere (inside longer words too); the rest only as whole words.
_INSIDE_WORDS = {"phone", "telefon", "bestell", "rechnung", "auftrag", "kunden", "#", "no."}
PHONE, OTHER = "phone", "other"


def _variants(word: str) -> set[str]:
    return {word, word.capitalize(), word.upper()}


def markers() -> dict[str, tuple[str, bool]]:
    """Each marker (in its cases) → (PHONE or OTHER, whether it must be a whole word)."""
    found: dict[str, tuple[str, bool]] = {}
    for category, words in ((PHONE, PHONE_WORDS), (OTHER, OTHER_LABELS)):
        for word in words:
            whole = word not in _INSIDE_WORDS and word.isascii()
            for variant in _variants(word):
                found[variant] = (category, whole)
    return found


class Context:
    """Asks, for one text, whether the words before a position call a number a phone
    number. The words are found only around the numbers that need asking, with one small
    automaton, so a text whose numbers are all dates and amounts never pays for them."""

    _automaton: ClassVar[AhoCorasick | None] = None
    _roles: ClassVar[list[tuple[str, bool]]] = []

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def automaton(cls) -> tuple[AhoCorasick, list[tuple[str, bool]]]:
        if cls._automaton is None:
            found = markers()
            words = sorted(found)
            cls._roles = [found[w] for w in words]
            cls._automaton = AhoCorasick(words, implementation=Implementation.DFA)
        return cls._automaton, cls._roles

    def called_phone(self, position: int, reach: int = 40) -> bool:
        """A phone word ends within `reach` characters before `position`, and no other
        label stands between it and the number."""
        automaton, roles = self.automaton()
        start = max(0, position - reach)
        window = self.text[start:position]
        last_phone, last_other = -1, -1
        for index, begin, end in automaton.find_matches_as_indexes(window, overlapping=True):
            category, whole = roles[index]
            if whole and not whole_word(self.text, start + begin, start + end):
                continue
            if category == PHONE:
                last_phone = max(last_phone, end)
            else:
                last_other = max(last_other, end)
        return last_phone != -1 and last_other <= last_phone


def whole_word(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (
        end == len(text) or not text[end].isalnum()
    )
