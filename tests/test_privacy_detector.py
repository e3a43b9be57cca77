"""The privacy detector on a labelled set of realistic prompts (tests/data/privacy/), its
hard negatives, and redaction with restoring, streamed answers included."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.privacy import KINDS, scan
from router.privacy.detect import MANY
from router.privacy.findings import Finding, Findings
from router.privacy.redact import Redaction

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "privacy" / "labelled.yaml").read_text(encoding="utf-8")
)
MIN_RECALL = 0.95
MAX_FALSE_POSITIVE_RATE = 0.05  # of hard-negative prompts with any finding at all


def score(cases: list[dict[str, Any]]) -> dict[str, float]:
    """Recall over expected findings (by kind and count), the share of negative prompts
    with any finding, and findings beyond what a prompt carries."""
    expected = found = extra = 0
    negatives = flagged = 0
    for case in cases:
        got = scan([case["text"]]).counts()
        want: dict[str, int] = case["expect"]
        expected += sum(want.values())
        found += sum(min(n, got.get(kind, 0)) for kind, n in want.items())
        extra += sum(max(0, n - want.get(kind, 0)) for kind, n in got.items())
        if not want:
            negatives += 1
            flagged += bool(got)
    return {
        "recall": found / expected,
        "false_positive_rate": flagged / negatives,
        "extra_findings": extra,
        "positives": len(cases) - negatives,
        "negatives": negatives,
    }


def test_the_labelled_set_is_varied() -> None:
    languages = Counter(case["lang"] for case in CASES)
    sources = Counter(case["source"] for case in CASES)
    assert set(languages) >= {"en", "de", "fr", "es", "zh"}
    assert set(sources) >= {"support_ticket", "code", "crm", "log", "json", "csv"}
    kinds = {kind for case in CASES for kind in case["expect"]}
    assert kinds == set(KINDS)
    assert sum(1 for case in CASES if not case["expect"]) >= 20


def test_recall_and_false_positive_rate_on_the_labelled_set() -> None:
    result = score(CASES)
    print(f"privacy detector on {len(CASES)} labelled prompts: {result}")
    assert result["recall"] >= MIN_RECALL
    assert result["false_positive_rate"] <= MAX_FALSE_POSITIVE_RATE


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_each_labelled_prompt(case: dict[str, Any]) -> None:
    findings = scan([case["text"]])
    if not case["expect"]:
        # A hard negative names what was wrongly found, for whoever breaks it.
        assert not findings, [(f.kind, case["text"][f.start : f.end]) for f in findings]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("mail me: jane.roe@proton.me", "email", "jane.roe@proton.me"),
        ("Rufnummer +49 30 901820 (Büro)", "phone", "+49 30 901820"),
        ("card 4242 4242 4242 4242 exp 12/29", "payment_card", "4242 4242 4242 4242"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("SSN 536-22-1234", "national_id", "536-22-1234"),
        ("NIE X1234567L", "national_id", "X1234567L"),
        ("login from 91.198.174.192 failed", "ip_address", "91.198.174.192"),
        (
            "token ghp_R8f3kLm2Qp9Vx7Zt4Wb6Nc1Yd5Hs0Je2Gu3A end",
            "credential",
            "ghp_R8f3kLm2Qp9Vx7Zt4Wb6Nc1Yd5Hs0Je2Gu3A",
        ),
        ("mysql://root:Xy9!pQ2z@10.1.2.3/db", "credential", "Xy9!pQ2z"),
        # Spans stay right after characters of several bytes.
        ("请致电客服\uff0c手机 13812345678\uff0c谢谢", "phone", "13812345678"),
        ("Käse \u2013 Karte 5105 1051 0510 5100", "payment_card", "5105 1051 0510 5100"),
    ],
)
def test_spans_cover_exactly_the_value(text: str, kind: str, value: str) -> None:
    (finding,) = scan([text])
    assert finding.kind == kind
    assert text[finding.start : finding.end] == value


def test_every_text_is_scanned_and_numbered() -> None:
    texts = ["nothing here", "", "write to ana.silva@sapo.pt", "call +33 6 12 34 56 78"]
    findings = scan(texts)
    assert [(f.text, f.kind) for f in findings] == [(2, "email"), (3, "phone")]
    assert findings.counts() == {"email": 1, "phone": 1}
    assert findings.summary() == "email=1, phone=1"
    assert not scan(["Summarise the meeting notes in three bullet points."])


def test_many_texts_at_once_give_exactly_what_each_alone_gives() -> None:
    # Past MANY texts the scan first looks at them all joined: it must skip only texts that
    # hold nothing, whatever sits at their edges (runs and markers split across two texts).
    texts = [case["text"] for case in CASES]
    texts += ["", "x", "call +33 6 12", "34 56 78 now", "4539 5787", "6362 1486", "a\ud800b 1234"]
    texts += ["ana.silva", "@sapo.pt", "AKIA", "\x00 12 34 \x00", "Main", "Street 12"]
    assert len(texts) >= MANY
    for order in (texts, texts[::-1], texts[1::2] + texts[::2]):
        alone = [
            Finding(f.kind, f.label, i, f.start, f.end)
            for i, text in enumerate(order)
            for f in scan([text])
        ]
        assert list(scan(order)) == alone


def test_luhn_failing_and_documentation_values_are_not_findings() -> None:
    assert not scan(["4111 1111 1111 1112", "user@example.com", "(555) 555-0199"])
    assert not scan(["AKIAIOSFODNN7EXAMPLE", "password: ${DB_PASSWORD}", "192.168.0.12"])


def redaction_of(*texts: str) -> Redaction:
    return Redaction(list(texts), scan(texts))


def test_redaction_replaces_each_value_with_one_typed_placeholder() -> None:
    redaction = redaction_of(
        "Email ana.silva@sapo.pt, card 4539 5787 6362 1486.",
        "Again: ana.silva@sapo.pt",
    )
    assert redaction.texts == ["Email <EMAIL_1>, card <PAYMENT_CARD_1>.", "Again: <EMAIL_1>"]
    assert redaction.count == 2
    answer = "I wrote to <EMAIL_1> about card <PAYMENT_CARD_1>; <PHONE_9> is unknown."
    assert redaction.restore(answer) == (
        "I wrote to ana.silva@sapo.pt about card 4539 5787 6362 1486; <PHONE_9> is unknown."
    )


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_streamed_placeholders_are_restored_whatever_the_split(size: int) -> None:
    redaction = redaction_of("Email ana.silva@sapo.pt, card 4539 5787 6362 1486.")
    answer = "Sure: <EMAIL_1> and <PAYMENT_CARD_1>, then a < sign and <b>bold</b> <EMAIL_"
    restorer = redaction.stream()
    pieces = [restorer.feed(answer[i : i + size]) for i in range(0, len(answer), size)]
    pieces.append(restorer.flush())
    assert "".join(pieces) == (
        "Sure: ana.silva@sapo.pt and 4539 5787 6362 1486, then a < sign and <b>bold</b> <EMAIL_"
    )


def test_findings_never_carry_the_text() -> None:
    findings = scan(["card 4539 5787 6362 1486"])
    assert isinstance(findings, Findings)
    assert "4539" not in repr(findings) and "4539" not in findings.summary()
