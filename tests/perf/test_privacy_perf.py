"""What privacy auto adds to a request, printed for the closing note (`make bench`); nothing
here asserts a time. The same routing decision is timed with and without the scan, the two
interleaved so that load on the machine falls on both alike; the added time is the median
of the paired differences, in wall time and in this thread's CPU time (which a busy
machine does not inflate). Targets (issue 28): about 11 µs on a typical 500-character prompt,
≤ 2 ms on 20 KB of digit-dense logs and CSV. Four prompts: a typical 500-character question,
20 KB of prose and code, 20 KB of the first labelled set's hard negatives (logs, CSV, amounts,
versions: a run of digits every 40 characters, the worst case for the number validators) and
20 KB of issue 28's clean set (logs, CSV, configs, JSON)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from catalog.snapshot import CatalogSnapshot
from router.core.requests import RouteControls
from router.privacy import scan
from router.privacy.check import check
from router.quality.estimators import CatalogQualityEstimator
from router.routing.decision import RouteRequest, decide

pytestmark = pytest.mark.slow

TYPICAL = (
    "Hi! We're migrating our billing service from Python 3.9 to 3.12 and the test suite now "
    "takes 14 minutes instead of 6. We run 2,400 tests on 8 workers with pytest-xdist 3.5.0; "
    "the slowest 20 are integration tests against PostgreSQL 16 in Docker. Could you suggest "
    "how to find out what got slower, which profiler to use, and whether the new "
    "garbage-collector thresholds in 3.12 could be the cause? Our CI runners have 4 vCPUs and "
    "16 GB of RAM; build 1182 was the first slow one, on 2026-11-02. Thanks a lot for any tips."
)


CODE = '''
def load_orders(session, since):
    """Orders placed since `since`, newest first, with their lines."""
    query = select(Order).where(Order.created_at >= since).order_by(Order.created_at.desc())
    for order in session.scalars(query.options(selectinload(Order.lines))):
        total = sum(line.quantity * line.unit_price for line in order.lines)
        if total > 10_000:
            log.warning("large order %s: %.2f", order.id, total)
        yield order
'''


def _prose_and_code(size: int = 20_000) -> str:
    return ((TYPICAL + "\n" + CODE) * (size // len(TYPICAL) + 1))[:size]


def _digit_dense_text(size: int = 20_000, name: str = "labelled.yaml") -> str:
    """Mixed prose, code, logs, CSV and JSON with nothing personal in them (a labelled
    set's hard negatives), repeated to `size` characters and cut at a line's end (a cut
    inside a line can leave something that looks like a value: `a@b.c` of `a@b.com.au`)."""
    cases = yaml.safe_load(
        (Path(__file__).parents[1] / "data" / "privacy" / name).read_text("utf-8")
    )
    clean = "\n".join(case["text"] for case in cases if not case["expect"])
    text = (clean * (size // len(clean) + 2))[:size]
    return text[: text.rfind("\n") + 1]


def _issue28_logs_and_csv(size: int = 20_000) -> str:
    """Issue 28's clean logs, CSV, configs and JSON only: the densest in digits."""
    return _digit_dense_text(size, "issue28_clean.yaml")


def _paired_added_us(
    with_scan: Callable[[], object],
    without: Callable[[], object],
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float, float]:
    """Median time without, median with, and median of the paired differences (µs)."""
    plain, scanned, added = [], [], []
    for i in range(repeat):
        # Alternate which runs first, so that neither always meets warm (or cold) caches.
        first, second = (without, with_scan) if i % 2 else (with_scan, without)
        start = clock()
        first()
        middle = clock()
        second()
        end = clock()
        one, two = (middle - start) * 1e6, (end - middle) * 1e6
        plain.append(one if i % 2 else two)
        scanned.append(two if i % 2 else one)
        added.append(scanned[-1] - plain[-1])
    return statistics.median(plain), statistics.median(scanned), statistics.median(added)


PROMPTS = {
    "typical 500 characters": lambda: TYPICAL[:500],
    "prose and code, 20 KB": _prose_and_code,
    "digit-dense logs and CSV, 20 KB": _digit_dense_text,
    "issue 28's clean logs, CSV and configs, 20 KB": _issue28_logs_and_csv,
}


@pytest.mark.parametrize("size", list(PROMPTS))
def test_privacy_auto_added_latency(snapshot: CatalogSnapshot, size: str) -> None:
    text = PROMPTS[size]()
    assert not scan([text]), "the benchmark prompt must carry nothing to find"
    estimator = CatalogQualityEstimator()
    repeat = 3000 if len(text) <= 500 else 300 if "prose" in size else 100

    def route(privacy: str) -> Callable[[], object]:
        controls = RouteControls(privacy=privacy)  # type: ignore[arg-type]

        def run() -> object:
            request = RouteRequest(
                model="auto",
                prompt=text,
                messages=1,
                max_tokens=64,
                needs=frozenset(),
                controls=controls,
                privacy=check(controls.privacy, [text]),
            )
            return decide(request, snapshot, estimator)

        return run

    for _ in range(50):  # warm caches (licence verdicts, the deployment table)
        route("auto")()
    without, with_scan, added = _paired_added_us(route("auto"), route("any"), repeat)
    _, _, added_cpu = _paired_added_us(route("auto"), route("any"), repeat, time.thread_time)
    scan_only = statistics.median(_time_us(lambda: scan([text])) for _ in range(repeat))
    scan_cpu = statistics.median(
        _time_us(lambda: scan([text]), time.thread_time) for _ in range(repeat)
    )
    print(
        f"\nprivacy auto, {size} ({len(text)} chars): decision {without:.1f} µs without the "
        f"scan, {with_scan:.1f} µs with it; added (median of paired differences) {added:.1f} µs "
        f"wall, {added_cpu:.1f} µs CPU; scan alone {scan_only:.1f} µs wall, {scan_cpu:.1f} µs "
        f"CPU; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


def _time_us(action: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    action()
    return (clock() - start) * 1e6
