"""Vocabulary shared by the database, the seed files, the API and the licence engine.

Each enum value is stored as text, so the words here are the words in YAML, JSON and SQL.
"""

from enum import StrEnum


class CommercialUse(StrEnum):
    ALLOWED = "allowed"
    CONDITIONAL = "conditional"  # allowed only under a stated condition (royalty, membership…)
    FORBIDDEN = "forbidden"
    UNKNOWN = "unknown"


class UserThresholdMeasure(StrEnum):
    NONE = "none"
    # Llama / DBRX: users in the calendar month before that version's release, a one-time test.
    AT_RELEASE = "at_release"
    # Qwen: users at any time.
    AT_ANY_TIME = "at_any_time"


class ThresholdConsequence(StrEnum):
    """What crossing a licence's user or revenue threshold costs you."""

    SEPARATE_LICENSE = "separate_license"  # Llama, Qwen: request a licence from the licensor
    DISPLAY = "display"  # Kimi K2: show a name in the product's user interface


class OutputsUse(StrEnum):
    """May outputs of the model be used to train or improve another model?"""

    ALLOWED = "allowed"
    ALLOWED_WITH_CONDITIONS = "allowed_with_conditions"
    FORBIDDEN = "forbidden"
    UNKNOWN = "unknown"


class ParentRelation(StrEnum):
    FINETUNE = "finetune"
    QUANTIZED = "quantized"
    MERGE = "merge"
    ADAPTER = "adapter"


class DeploymentKind(StrEnum):
    EMBEDDED = "embedded"  # runs inside the modelyard process (llama.cpp)
    LOCAL = "local"  # an OpenAI-compatible server the user runs (vLLM, llama.cpp, Ollama, TGI)
    HOSTED = "hosted"  # a provider reached through litellm


class Privacy(StrEnum):
    LOCAL = "local"  # prompts stay on our machines
    EXTERNAL = "external"  # prompts leave them


class DeploymentStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class PriceSource(StrEnum):
    LITELLM = "litellm"  # litellm's bundled cost map
    MANUAL = "manual"  # typed by whoever registered the deployment
    HARDWARE = "hardware"  # derived from cost per hour and measured tokens per second
    FREE = "free"  # embedded: no marginal cost


class DatePrecision(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class Verdict(StrEnum):
    """A compliance answer, from most to least permissive."""

    ALLOWED = "allowed"
    ALLOWED_WITH_OBLIGATIONS = "allowed_with_obligations"
    NEEDS_REVIEW = "needs_review"
    FORBIDDEN = "forbidden"

    @property
    def severity(self) -> int:
        return list(Verdict).index(self)
