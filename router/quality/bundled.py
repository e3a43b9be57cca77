"""The quality estimator that ships with the project: the `task` method fitted on the
outcome data in router/quality/data/routing/ (RouterBench's ARC-Challenge, MBPP and Winogrande
samples, gzipped, 0.3 MB). Fitted at first start-up, which takes seconds, then kept as a
file named after the data's hash, so later starts load it. Nothing is downloaded."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from router.quality.ability import FEATURE_VERSION
from router.quality.learned import FORMAT, EstimatorFileError, LearnedQuality, Method, fit
from router.quality.outcomes import load_outcomes

DATA = Path(__file__).resolve().parent / "data" / "routing"
# `task` (each model's success rate per task), not `ability`: on `router eval --repeats 3`
# `ability` needed 35.9% [33.4%, 38.4%] of GPT-4's cost for 95% of its accuracy on the
# balanced sweep against the task prior's 32.9%, and tied it on AIQ (docs/quality.md).
METHOD: Method = "task"
log = logging.getLogger("modelyard")


def bundled_files() -> list[Path]:
    return sorted(DATA.glob("*.csv.gz"))


def fingerprint(files: list[Path]) -> str:
    """The data and the file format: a change to either means a new fit."""
    digest = hashlib.sha256(f"{FORMAT} features {FEATURE_VERSION} {METHOD}".encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_or_fit(cache_dir: Path) -> LearnedQuality:
    """The fitted bundled estimator from `cache_dir`, fitting and saving it there first if
    it is not there yet (a folder we cannot write to just means fitting every start)."""
    files = bundled_files()
    path = cache_dir / f"quality-estimator-{fingerprint(files)}.npz"
    if path.exists():
        try:
            return LearnedQuality.load(path)
        except EstimatorFileError:
            log.warning("%s is unreadable: fitting the bundled quality estimator again", path)
    log.info("fitting the bundled quality estimator on %s (once; seconds)", DATA)
    learned = fit(load_outcomes(files), METHOD, sources=[f.name for f in files])
    try:
        partial = path.with_suffix(f".{os.getpid()}.partial")
        learned.save(partial)
        partial.replace(path)  # whole or absent, even with several processes starting
    except OSError as exc:
        log.warning("cannot keep the fitted quality estimator in %s: %s", cache_dir, exc)
    return learned
