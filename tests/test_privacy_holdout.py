"""The held-out labelled set (tests/data/privacy/holdout_2026_12.yaml): prompts written from
docs/privacy.md alone, without reading the detector or the sets it was tuned on, so its
figures say how the scan generalises. The tuned sets score 100% recall; this one is the
honest measurement.

Measured on 2026-12-07 against router/privacy as of commit 13cf153 (111 sensitive prompts in
scope, 6 out of scope, 85 clean; 133 expected values):
    prompt recall        0.955  (106/111 sensitive prompts with any finding)
    kind recall          0.932  (124/133 expected values found as their kind)
    false-positive rate  0.035  (3/85 clean prompts with any finding)
The misses: a Polish street (ul. Piotrkowska 104), an address split over JSON fields, an IBAN
written with dashes, a Brazilian mobile in parentheses without a phone word, a Spanish mobile
written without spaces in a "móvil" CSV column, a Finnish HETU and a dashed Spanish NIE in CSV
columns, a codice fiscale in an HTML input named "cf", an HTTP Basic authorization header.
The false positives: `password = getpass.getpass(...)`, a version "upgrade from 1.2.3.4 to
1.2.4.0", a French SIRET (Luhn, in Maestro's range).

Those figures are the hold-out's. The detector was then changed for the general gaps they
showed (a CSV column naming phones now counts for an unspaced number, HETUs with a digit as
check character, dashed NIEs and IBANs, Brazilian mobiles by their shape, HTTP Basic headers,
Polish streets, values that are function calls, SIRET/SIREN next to a Luhn-valid number;
each with its own test in tests/test_privacy_gaps.py), after which this set scores
prompt recall 0.991, kind recall 0.985 and false positives 0.012. Left as they were: an
address split over JSON fields, a codice fiscale named only after it, and a dotted quad
after "upgrade from". From then on this set is tuned against too; `test_figures` holds it
at issue 28's targets (recall >= 0.98, false positives <= 0.05).

`test_figures` prints the figures and every miss and false positive
(`pytest -n0 -s tests/test_privacy_holdout.py`).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from importlib import import_module
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import yaml
from stdnum import iban, luhn

from router.privacy import KINDS, scan

SET = Path(__file__).parent / "data" / "privacy" / "holdout_2026_12.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(SET.read_text(encoding="utf-8"))
SENSITIVE = [case for case in CASES if case["expect"] or case.get("scope") == "out"]
IN_SCOPE = [case for case in SENSITIVE if case.get("scope") != "out"]
OUT_OF_SCOPE = [case for case in SENSITIVE if case.get("scope") == "out"]
CLEAN = [case for case in CASES if case not in SENSITIVE]
MIN_RECALL = 0.98
MAX_FALSE_POSITIVE_RATE = 0.05
FIELDS = {"id", "lang", "source", "text", "expect", "scope", "checks"}


def is_valid(scheme: str, value: str) -> bool:
    """The value passes its scheme's check: a python-stdnum module, the Luhn sum of a card,
    an IBAN's check digits, Google's numbering plan, or a global IP address."""
    if scheme == "luhn":
        digits = re.sub(r"[\s-]", "", value)
        return 13 <= len(digits) <= 19 and luhn.is_valid(digits)
    if scheme == "iban":
        return bool(iban.is_valid(value))
    if scheme == "ip":
        return ipaddress.ip_address(value).is_global
    if scheme == "phone" or scheme.startswith("phone:"):
        region = scheme.partition(":")[2] or None
        number = phonenumbers.parse(value, region)
        national = phonenumbers.national_significant_number(number)
        fictional = number.country_code == 1 and national[3:6] == "555"
        return phonenumbers.is_valid_number(number) and not fictional
    module = import_module(f"stdnum.{scheme}")
    # stdnum's compact() strips the separators each scheme allows; people also write spaces
    # and dots where the scheme's own separator is a dash.
    return bool(module.is_valid(value) or module.is_valid(re.sub(r"[\s.]", "", value)))


def measure() -> dict[str, Any]:
    caught = wanted = found = 0
    missed: list[str] = []
    by_kind: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}
    for case in IN_SCOPE:
        findings = scan([case["text"]])
        got = findings.counts()
        caught += bool(got)
        for kind, count in case["expect"].items():
            hit = min(count, got.get(kind, 0))
            wanted += count
            found += hit
            by_kind[kind][0] += hit
            by_kind[kind][1] += count
            if hit < count:
                spans = [case["text"][f.start : f.end] for f in findings if f.kind == kind]
                missed.append(f"{case['id']}: {kind} {hit}/{count}, found {spans}")
    flagged = []
    for case in CLEAN:
        findings = scan([case["text"]])
        if findings:
            spans = [case["text"][f.start : f.end] for f in findings]
            flagged.append(f"{case['id']}: {findings.labels()} on {spans}")
    seen = [case["id"] for case in OUT_OF_SCOPE if scan([case["text"]])]
    return {
        "prompt_recall": caught / len(IN_SCOPE),
        "kind_recall": found / wanted,
        "false_positive_rate": len(flagged) / len(CLEAN),
        "by_kind": {kind: f"{hit}/{total}" for kind, (hit, total) in by_kind.items()},
        "missed": missed,
        "flagged": flagged,
        "out_of_scope_seen": seen,
    }


def test_the_set_is_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for case in CASES:
        assert {"id", "lang", "source", "text", "expect"} <= set(case) <= FIELDS, case["id"]
        assert set(case["expect"]) <= set(KINDS), case["id"]
        assert all(isinstance(n, int) and n > 0 for n in case["expect"].values()), case["id"]
        assert case.get("scope") in (None, "out"), case["id"]
        # YAML reads a bare `no` (Norwegian) as False: languages must be quoted strings.
        assert isinstance(case["lang"], str) and isinstance(case["source"], str), case["id"]
    assert not any(case["expect"] for case in OUT_OF_SCOPE)
    assert not any(case.get("checks") for case in CLEAN + OUT_OF_SCOPE)
    assert len(IN_SCOPE) >= 70 and len(CLEAN) >= 70
    assert {kind for case in IN_SCOPE for kind in case["expect"]} == set(KINDS)
    for cases in (IN_SCOPE, CLEAN):
        assert len({case["lang"] for case in cases}) >= 10
        assert {"csv", "html", "log", "config", "json", "code", "stack_trace"} <= {
            case["source"] for case in cases
        }


@pytest.mark.parametrize("case", IN_SCOPE, ids=[case["id"] for case in IN_SCOPE])
def test_every_checked_value_is_in_the_text_and_valid(case: dict[str, Any]) -> None:
    checks = case.get("checks", [])
    # Every phone, card, IBAN and IP carries a check, and every national id wherever
    # python-stdnum has its scheme (all but the UK National Insurance number).
    schemes = {scheme.partition(":")[0] for scheme, _ in checks}
    for kind, scheme in (("phone", "phone"), ("payment_card", "luhn"), ("iban", "iban")):
        assert kind not in case["expect"] or scheme in schemes, (case["id"], kind)
    assert "ip_address" not in case["expect"] or "ip" in schemes, case["id"]
    if "national_id" in case["expect"] and "gb-nino" not in case["id"]:
        assert schemes - {"phone", "luhn", "iban", "ip"}, case["id"]
    for scheme, value in checks:
        assert value in case["text"], (case["id"], value)
        assert is_valid(scheme, value), (case["id"], scheme, value)


def test_figures() -> None:
    result = measure()
    kinds = Counter(kind for case in IN_SCOPE for kind in case["expect"])
    print(
        f"\nheld-out set: {len(IN_SCOPE)} sensitive in scope ({len(OUT_OF_SCOPE)} out), "
        f"{len(CLEAN)} clean; prompts per kind {dict(kinds)}"
        f"\nprompt recall {result['prompt_recall']:.3f}, kind recall {result['kind_recall']:.3f}"
        f" {result['by_kind']}, false positives {result['false_positive_rate']:.3f}"
        f", out of scope seen {result['out_of_scope_seen']}"
    )
    for line in result["missed"]:
        print("  missed", line)
    for line in result["flagged"]:
        print("  false positive", line)
    assert result["prompt_recall"] >= MIN_RECALL, result["missed"]
    assert result["kind_recall"] >= MIN_RECALL, result["missed"]
    assert result["false_positive_rate"] <= MAX_FALSE_POSITIVE_RATE, result["flagged"]
