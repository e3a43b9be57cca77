"""A request's privacy rule applied to what its texts carry: whether it must stay on our
machines, what to tell the caller (headers, dry run, playground) and what the ledger keeps.
The kinds found and their count only: never the text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from router.privacy.detect import scan
from router.privacy.findings import NOTHING, Findings
from router.privacy.redact import Redaction

SCANNING_RULES = ("auto", "redact")


@dataclass(frozen=True)
class PrivacyCheck:
    rule: str  # "auto" or "redact"
    findings: Findings
    texts: Sequence[str]

    @property
    def keeps_local(self) -> bool:
        """Under `auto`, anything found keeps the request on local and embedded deployments."""
        return self.rule == "auto" and bool(self.findings)

    @property
    def redacts(self) -> bool:
        return self.rule == "redact" and bool(self.findings)

    def redaction(self) -> Redaction:
        return Redaction(self.texts, self.findings)

    def summary(self) -> str:
        return self.findings.summary() or "none"

    def explanation(self) -> str:
        if not self.findings:
            return (
                "Nothing personal or secret found: any deployment may serve it "
                f"(privacy: {self.rule})."
            )
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.findings.counts().items())
        if self.rule == "redact":
            return (
                f"The request carries {kinds}. Hosted deployments get typed placeholders "
                "instead, and the answer gets the originals back (privacy: redact)."
            )
        return (
            f"The request carries {kinds}: only deployments on our machines (local or "
            "embedded) may serve it, so nothing leaves them (privacy: auto)."
        )

    def exclusion_detail(self) -> str:
        found = self.findings.summary()
        return f"the request carries {found}: it stays on our machines (privacy: auto)"

    def headers(self) -> dict[str, str]:
        return {"x-modelyard-privacy": self.rule, "x-modelyard-privacy-findings": self.summary()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "findings": self.findings.counts(),
            "detectors": self.findings.labels(),
            "stays_local": self.keeps_local,
            "redacted": self.redacts,
            "explanation": self.explanation(),
        }


def check(rule: str | None, texts: Sequence[str]) -> PrivacyCheck | None:
    """Scan `texts` when the rule asks for it (`auto`, `redact`); otherwise None."""
    if rule not in SCANNING_RULES:
        return None
    findings = scan(texts)
    return PrivacyCheck(rule, findings if findings else NOTHING, texts)
