"""What the detector reports: typed spans in the request's texts, never the text itself
outside the request path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

# The kinds a finding can have; `label` says which detector inside a kind fired.
EMAIL = "email"
PHONE = "phone"
PAYMENT_CARD = "payment_card"
IBAN = "iban"
NATIONAL_ID = "national_id"
IP_ADDRESS = "ip_address"
CREDENTIAL = "credential"
POSTAL_ADDRESS = "postal_address"
KINDS = (EMAIL, PHONE, PAYMENT_CARD, IBAN, NATIONAL_ID, IP_ADDRESS, CREDENTIAL, POSTAL_ADDRESS)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # one of KINDS
    label: str  # the detector that fired: "us_ssn", "aws_access_key", "luhn", …
    text: int  # which of the scanned texts (their position in the input)
    start: int
    end: int


class Findings(tuple[Finding, ...]):
    """Every finding of one scan, in text order. Empty means nothing was found."""

    def counts(self) -> dict[str, int]:
        """How many of each kind, in KINDS order: what headers and the ledger carry."""
        counted = Counter(f.kind for f in self)
        return {kind: counted[kind] for kind in KINDS if counted[kind]}

    def summary(self) -> str:
        """`email=2, payment_card=1`: the kinds and their count, never the text."""
        return ", ".join(f"{kind}={count}" for kind, count in self.counts().items())

    def labels(self) -> dict[str, int]:
        return dict(Counter(f"{f.kind}/{f.label}" for f in self))

    def in_text(self, index: int) -> Iterator[Finding]:
        return (f for f in self if f.text == index)


NOTHING = Findings()
