"""Issue 28's labelled set (tests/data/privacy/issue28_*.yaml), written before the detector
was tuned: recall on the prompts that carry personal data or secrets, the false-positive
rate on the clean ones, and what `auto` says it does not see staying unseen."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.privacy import KINDS, scan
from router.privacy.detect import MANY
from router.privacy.findings import Finding

DATA = Path(__file__).parent / "data" / "privacy"
SENSITIVE: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "issue28_sensitive.yaml").read_text(encoding="utf-8")
)
CLEAN: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "issue28_clean.yaml").read_text(encoding="utf-8")
)
IN_SCOPE = [case for case in SENSITIVE if case.get("scope") != "out"]
OUT_OF_SCOPE = [case for case in SENSITIVE if case.get("scope") == "out"]
MIN_RECALL = 0.98
MAX_FALSE_POSITIVE_RATE = 0.05


def measure() -> dict[str, Any]:
    """Prompt recall (a sensitive prompt with any finding stays local under `auto`), kind
    recall (each expected value found as its kind), the false-positive rate (clean prompts
    with any finding), and the misses by name."""
    caught = wanted = found = 0
    missed: list[str] = []
    for case in IN_SCOPE:
        got = scan([case["text"]]).counts()
        caught += bool(got)
        for kind, count in case["expect"].items():
            wanted += count
            found += min(count, got.get(kind, 0))
            if got.get(kind, 0) < count:
                missed.append(f"{case['id']}: {kind}")
    flagged = [case["id"] for case in CLEAN if scan([case["text"]])]
    return {
        "prompt_recall": caught / len(IN_SCOPE),
        "kind_recall": found / wanted,
        "false_positive_rate": len(flagged) / len(CLEAN),
        "missed": missed,
        "flagged": flagged,
    }


def test_the_set_is_large_and_varied() -> None:
    assert len(IN_SCOPE) >= 100 and len(CLEAN) >= 100
    ids = [case["id"] for case in SENSITIVE + CLEAN]
    assert len(ids) == len(set(ids))
    for cases in (IN_SCOPE, CLEAN):
        assert len(Counter(case["lang"] for case in cases)) >= 8
        assert {"csv", "html", "log", "config", "json", "code"} <= {c["source"] for c in cases}
    assert {kind for case in IN_SCOPE for kind in case["expect"]} == set(KINDS)
    assert all(case["expect"] for case in IN_SCOPE)
    assert not any(case["expect"] for case in CLEAN + OUT_OF_SCOPE)


def test_recall_and_false_positive_rate() -> None:
    result = measure()
    print(f"\nissue 28 set, {len(IN_SCOPE)} sensitive and {len(CLEAN)} clean prompts: {result}")
    assert result["prompt_recall"] >= MIN_RECALL, result["missed"]
    assert result["kind_recall"] >= MIN_RECALL, result["missed"]
    assert result["false_positive_rate"] <= MAX_FALSE_POSITIVE_RATE, result["flagged"]


@pytest.mark.parametrize("case", OUT_OF_SCOPE, ids=[case["id"] for case in OUT_OF_SCOPE])
def test_what_auto_says_it_does_not_see_stays_unseen(case: dict[str, Any]) -> None:
    # docs/privacy.md says names, health and free text are out of reach; if a detector
    # starts finding them, the page must say so too.
    assert not scan([case["text"]])


@pytest.mark.parametrize(
    ("text", "kind", "label", "value"),
    [
        ("Mijn BSN: 0533 06 971, graag snel.", "national_id", "nl_bsn", "0533 06 971"),
        ("personnummer 19631127-6387", "national_id", "se_personnummer", "19631127-6387"),
        ("CPF 861.729.385-33 ok", "national_id", "br_cpf", "861.729.385-33"),
        ("SIN: 308 896 810.", "national_id", "ca_sin", "308 896 810"),
        ("Social Security Number 678 36 8365", "national_id", "us_ssn", "678 36 8365"),
        ("AHV 756.3115.2329.86", "national_id", "ch_ssn", "756.3115.2329.86"),
        ("code: 010581-659U (HETU)", "national_id", "fi_hetu", "010581-659U"),
        ("codice fiscale RSSMRA85T10A562S.", "national_id", "it_codicefiscale", "RSSMRA85T10A562S"),
        ("from 2605:a601:aa1f:8e00::4b port 22", "ip_address", "ipv6", "2605:a601:aa1f:8e00::4b"),
        ('<a href="mailto:h.visser@ziggo.nl">', "email", "address", "h.visser@ziggo.nl"),
        (
            "redis://:q7Lk2vR9mWz4@cache:6379/0",
            "credential",
            "connection_string_password",
            "q7Lk2vR9mWz4",
        ),
        (
            "//npm.acme.io/:_authToken=7c1e4b2a-93f0-4d6e-8a5b-2f7c9e1d3a60",
            "credential",
            "npm_token",
            "7c1e4b2a-93f0-4d6e-8a5b-2f7c9e1d3a60",
        ),
        (
            "VAULT_TOKEN=hvs.CAESIJq7Lm2Kp9Rz4Tw8Vb1Nc6Yd3H",
            "credential",
            "vault_token",
            "hvs.CAESIJq7Lm2Kp9Rz4Tw8Vb1Nc6Yd3H",
        ),
        (
            '<add key="ClearTextPassword" value="fQ7$zK2!pW9m" />',
            "credential",
            "assigned_secret",
            "fQ7$zK2!pW9m",
        ),
        (
            "Leveransen till Karin Holm, Drottninggatan 58.",
            "postal_address",
            "street_after_name",
            "Drottninggatan 58",
        ),
        (
            "Anschrift: Bergmannstraße 23 in Berlin",
            "postal_address",
            "street_after_cue",
            "Bergmannstraße 23",
        ),
    ],
)
def test_spans_and_detectors(text: str, kind: str, label: str, value: str) -> None:
    (finding,) = scan([text])
    assert (finding.kind, finding.label) == (kind, label)
    assert text[finding.start : finding.end] == value


def test_a_csv_column_is_read_with_its_header() -> None:
    rows = "name;bsn;city\nA. Jansen;575514747;Utrecht\nB. Bakker;186782147;Zwolle\n"
    assert [f.label for f in scan([rows])] == ["nl_bsn", "nl_bsn"]
    # The same numbers under a column that names something else are nobody's BSN.
    assert not scan([rows.replace("bsn", "order")])
    # And a number must be the whole field, not part of a sentence in a delimited line.
    assert not scan(["name;note\nA. Jansen;ticket 575514747 closed\n"])


def test_a_checksum_alone_is_not_enough() -> None:
    # Valid BSN, SIN and personnummer, with nothing saying what they are: order numbers.
    assert not scan(["Orders 575514747, 308896810 and 5502062226 shipped today."])
    # A word naming them, an order label nearer to the number: still an order number.
    assert not scan(["BSN check for order 575514747 failed"])


def test_ipv6_that_is_nobodys_is_not_found() -> None:
    assert not scan(["fe80::1c2b:3ff:fe4a:9e01 2001:db8::1 ::1 fd12:3456:789a:1::12"])
    assert not scan(["std::vector<int>, 12:30:45, 3c:22:fb:9a:10:4e, a::b::c"])


def test_many_texts_at_once_give_exactly_what_each_alone_gives() -> None:
    texts = [case["text"] for case in SENSITIVE + CLEAN]
    texts += ["2a02:8108:1bc0:4e2f", "::19 client", "Keizersgracht", "412, Amsterdam"]
    assert len(texts) >= MANY
    for order in (texts, texts[::-1]):
        alone = [
            Finding(f.kind, f.label, i, f.start, f.end)
            for i, text in enumerate(order)
            for f in scan([text])
        ]
        assert list(scan(order)) == alone
