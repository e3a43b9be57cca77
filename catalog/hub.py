"""What the Hugging Face Hub says of a model, read with huggingface-hub and mapped to the
catalog's terms. Reading only: catalog/hub_import.py writes.

`HfApi.model_info` gives the card data (licence tag, `license_name`/`license_link` for
`other`, `base_model` and its relation, `model-index` results), the gated flag, the
safetensors parameter count, the config, the pipeline tag, the last-modified date and the
revision. Hub errors become one of HubError's subclasses, so a batch can report them per
model and go on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from catalog.errors import CatalogError
from catalog.terms import ParentRelation

# Hub licence tags the catalog holds terms for. Any other tag, `other` included, becomes a
# licence record marked unverified: terms nobody has read are never guessed.
HF_LICENSES = {
    "apache-2.0": "apache-2.0",
    "mit": "mit",
    "llama2": "llama2",
    "llama3": "llama3",
    "llama3.1": "llama3.1",
    "llama3.2": "llama3.2",
    "llama3.3": "llama3.3",
    "llama4": "llama4",
    "gemma": "gemma",  # the version in force on the import day: see licence_tag_id
    "mrl": "mrl",
    "falcon-llm-license": "falcon-2.0",  # the tag of Falcon 2 and 3 repos (TII Falcon License 2.0)
    "cc-by-nc-4.0": "cc-by-nc-4.0",
    "bigscience-bloom-rail-1.0": "bigscience-rail-1.0",
}
# The Gemma Terms of Use are one document with dated versions; a `gemma` tag means the
# version in force when the card is read.
GEMMA_VERSIONS = (
    (dt.date(2026, 4, 1), "gemma-2026-04-01"),
    (dt.date(2025, 3, 24), "gemma-2025-03-24"),
    (dt.date.min, "gemma"),
)
# `other` cards name their licence in `license_name`: the names whose terms the catalog holds.
# Each maps to the licence and the words that must appear in the repo id or licence link,
# because a name such as "modified-mit" alone does not say whose modification it is.
OTHER_LICENSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "modified-mit": ("kimi-k2-modified-mit", ("kimi", "moonshot")),
    "modified mit license": ("kimi-k2-modified-mit", ("kimi", "moonshot")),
    "kimi-k2-modified-mit": ("kimi-k2-modified-mit", ()),
    "mrl": ("mrl", ()),
    "mnpl": ("mnpl", ()),
    "qwen": ("qwen", ()),
    "qwen-research": ("qwen-research", ()),
    "deepseek": ("deepseek", ()),
    "yi-license": ("yi-community-2.1", ()),
    "falcon-llm-license": ("falcon-2.0", ()),
}


def licence_tag_id(
    tag: str | None, name: str | None, repo_id: str, link: str | None, day: dt.date
) -> str | None:
    """The catalog licence a card's tag (and, for `other`, its licence name) stands for."""
    tag = (tag or "").lower()
    if tag == "gemma":
        return next(lic for start, lic in GEMMA_VERSIONS if day >= start)
    if tag in HF_LICENSES:
        return HF_LICENSES[tag]
    if tag == "other" and name:
        known = OTHER_LICENSES.get(name.strip().lower())
        if known is not None:
            licence, needs = known
            where = f"{repo_id} {link or ''}".lower()
            if not needs or any(word in where for word in needs):
                return licence
    return None


# model-index dataset names and types → the catalog's benchmark names.
BENCHMARKS = {
    "mmlu": "MMLU",
    "cais/mmlu": "MMLU",
    "hellaswag": "HellaSwag",
    "rowan/hellaswag": "HellaSwag",
    "ai2_arc": "ARC-Challenge",
    "arc-challenge": "ARC-Challenge",
    "arc (25-shot)": "ARC-Challenge",
    "allenai/ai2_arc": "ARC-Challenge",
    "winogrande": "Winogrande",
    "gsm8k": "GSM8K",
    "openai/gsm8k": "GSM8K",
    "truthfulqa": "TruthfulQA",
    "truthful_qa": "TruthfulQA",
    "openai_humaneval": "HumanEval",
    "humaneval": "HumanEval",
    "mbpp": "MBPP",
    "piqa": "PIQA",
    "mmlu-pro": "MMLU-Pro",
    "tiger-lab/mmlu-pro": "MMLU-Pro",
    "gpqa diamond": "GPQA-Diamond",
    "math-500": "MATH-500",
    "huggingfaceh4/math-500": "MATH-500",
    "ifeval": "IFEval",
    "google/ifeval": "IFEval",
    "livecodebench": "LiveCodeBench",
    "arena-hard": "Arena-Hard",
    "bfcl": "BFCL",
}
_RELATIONS = {r.value: r for r in ParentRelation}
Parents = tuple[tuple[str, ParentRelation], ...]
_BASE_MODEL_TAG = re.compile(r"^base_model:(finetune|quantized|merge|adapter):(.+)$")


class HubError(CatalogError):
    code = "hub_error"


class HubNotFound(HubError):
    code = "not_found"


class HubGated(HubError):
    code = "gated"


class HubRateLimited(HubError):
    code = "rate_limited"


class HubMalformed(HubError):
    code = "malformed_card"


@dataclass(frozen=True)
class HubScore:
    benchmark: str
    score: float  # percent
    setting: str


@dataclass(frozen=True)
class HubCard:
    repo_id: str
    revision: str | None
    last_modified: dt.datetime | None
    created: dt.date | None
    license_tag: str | None
    license_name: str | None
    license_link: str | None
    parents: Parents
    gated: bool
    parameters: int | None
    context_window: int | None
    model_type: str | None
    pipeline_tag: str | None
    conversational: bool
    scores: tuple[HubScore, ...] = field(default=())


def _text(value: Any, what: str, repo_id: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise HubMalformed(f"{repo_id}: the card's {what} is not text ({type(value).__name__})")


def _parents(
    card: dict[str, Any], tags: list[str], repo_id: str
) -> tuple[tuple[str, ParentRelation], ...]:
    declared = card.get("base_model")
    names: list[str]
    if declared is None:
        names = []
    elif isinstance(declared, str):
        names = [declared]
    elif isinstance(declared, list) and all(isinstance(n, str) for n in declared):
        names = list(declared)
    else:
        raise HubMalformed(
            f"{repo_id}: the card's base_model is neither a name nor a list of names"
        )
    # The Hub tags each parent with the relation it inferred: base_model:quantized:<id>.
    from_tags = {}
    for tag in tags:
        found = _BASE_MODEL_TAG.match(tag)
        if found:
            from_tags[found.group(2)] = _RELATIONS[found.group(1)]
    stated = card.get("base_model_relation")
    if stated is not None and stated not in _RELATIONS:
        raise HubMalformed(f"{repo_id}: unknown base_model_relation '{stated}'")
    default = _RELATIONS[stated] if stated else ParentRelation.FINETUNE
    if not names:
        names = list(from_tags)
    return tuple((n.strip(), from_tags.get(n.strip(), default)) for n in names if n.strip())


_BENCHMARK_NAME = re.compile(r"[^\w .+()\-/]")


def _benchmark(result: Any) -> str | None:
    """The catalog's name for a result's dataset, or else the card's own dataset name, so
    that no reported score is dropped (a score on Spider stays "Spider")."""
    keys = [str(getattr(result, a, "") or "").lower() for a in ("dataset_type", "dataset_name")]
    known = next((BENCHMARKS[k] for k in keys if k in BENCHMARKS), None)
    if known is not None:
        return known
    for attribute in ("dataset_name", "dataset_type"):
        raw = str(getattr(result, attribute, "") or "")
        name = " ".join(_BENCHMARK_NAME.sub(" ", raw).split())[:64].strip()
        if name:
            return name
    return None


def _scores(card_data: Any) -> tuple[HubScore, ...]:
    results = getattr(card_data, "eval_results", None) or []
    found: dict[tuple[str, str], HubScore] = {}
    for result in results:
        benchmark = _benchmark(result)
        value = getattr(result, "metric_value", None)
        if benchmark is None or not isinstance(value, int | float):
            continue
        score = float(value) * 100 if 0 <= value <= 1 else float(value)
        if not 0 <= score <= 100:
            continue
        setting = str(getattr(result, "metric_type", "") or "")
        found.setdefault((benchmark, setting), HubScore(benchmark, round(score, 2), setting))
    return tuple(found.values())


def card_from_info(info: Any) -> HubCard:
    """A HubCard from huggingface-hub's ModelInfo; HubMalformed when the card cannot be read."""
    repo_id = str(info.id)
    card_data = info.card_data
    card = card_data.to_dict() if card_data is not None else {}
    tags = [t for t in (info.tags or []) if isinstance(t, str)]
    licence = card.get("license")
    if isinstance(licence, list):  # a few cards list one licence in a list
        licence = licence[0] if len(licence) == 1 else None
    safetensors = getattr(info, "safetensors", None)
    config = info.config if isinstance(info.config, dict) else {}
    window = config.get("max_position_embeddings")
    return HubCard(
        repo_id=repo_id,
        revision=info.sha,
        last_modified=info.last_modified,
        created=info.created_at.date() if info.created_at else None,
        license_tag=_text(licence, "license", repo_id),
        license_name=_text(card.get("license_name"), "license_name", repo_id),
        license_link=_text(card.get("license_link"), "license_link", repo_id),
        parents=_parents(card, tags, repo_id),
        gated=bool(info.gated),
        parameters=int(safetensors.total) if safetensors and safetensors.total else None,
        context_window=window if isinstance(window, int) and window > 0 else None,
        model_type=_text(config.get("model_type"), "config model_type", repo_id),
        pipeline_tag=info.pipeline_tag,
        conversational="conversational" in tags,
        scores=_scores(card_data),
    )


class HubClient:
    """huggingface-hub's HfApi against the Hub, or whatever `endpoint` names."""

    def __init__(self, endpoint: str | None = None, token: str | None = None) -> None:
        from huggingface_hub import HfApi

        self.api = HfApi(endpoint=endpoint, token=token or False)
        self.endpoint = self.api.endpoint
        self.has_token = bool(token)

    def card(self, repo_id: str) -> HubCard:
        from huggingface_hub import errors as hub_errors
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            RepositoryNotFoundError,
        )

        # The client's own transport errors (httpx2's in huggingface-hub 2) are not OSErrors.
        unreachable = (getattr(hub_errors, "HTTPError", OSError), OSError)

        try:
            info = self.api.model_info(repo_id, timeout=30)
        except GatedRepoError as exc:
            hint = "the token cannot read it" if self.has_token else "set MODELYARD_HF_TOKEN"
            raise HubGated(f"{repo_id} is gated: {hint}") from exc
        except RepositoryNotFoundError as exc:
            raise HubNotFound(f"{repo_id} is not on the Hub (or is private)") from exc
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 429:
                raise HubRateLimited(f"{repo_id}: the Hub is rate-limiting us; try later") from exc
            raise HubError(f"{repo_id}: the Hub answered {status}") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise HubMalformed(f"{repo_id}: the Hub's answer cannot be read ({exc})") from exc
        except unreachable as exc:
            raise HubError(f"{repo_id}: cannot reach the Hub ({exc})") from exc
        try:
            return card_from_info(info)
        except HubError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise HubMalformed(f"{repo_id}: the card cannot be read ({exc})") from exc

    def link(self, repo_id: str, target: str | None = None) -> str:
        """An absolute link to the repo, or to a file in it (cards give `LICENSE`)."""
        base = f"{self.endpoint.rstrip('/')}/{repo_id}"
        if not target:
            return base
        if re.match(r"^https?://", target):
            return target
        return f"{base}/blob/main/{target.lstrip('/')}"
