"""Pydantic shapes of what enters the catalog (seed files, API bodies, CLI) and what leaves it."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    model_validator,
)

from catalog.benchmarks import near_miss
from catalog.capabilities import DeploymentCapability
from catalog.terms import (
    CommercialUse,
    DatePrecision,
    DeploymentKind,
    DeploymentStatus,
    OutputsUse,
    ParentRelation,
    PriceSource,
    Privacy,
    ThresholdConsequence,
    UserThresholdMeasure,
    Verdict,
)

_SUFFIXES = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000, "T": 1_000_000_000_000}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)


def parse_count(value: Any) -> Any:
    """'2.7B' → 2_700_000_000, '135M' → 135_000_000; plain numbers pass through."""
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a count such as 7B, 135M or 7000000000")
        number, suffix = match.groups()
        return round(float(number) * _SUFFIXES.get(suffix.upper(), 1))
    return value


def parse_tokens(value: Any) -> Any:
    """Context sizes: '4K' → 4096 tokens (model cards mean binary K), '32000' → 32000."""
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match or match.group(2).upper() not in ("", "K"):
            raise ValueError(f"'{value}' is not a token count such as 4K, 128K or 32000")
        number, suffix = match.groups()
        return round(float(number) * (1024 if suffix else 1))
    return value


# Text from URLs and forms: no control characters (PostgreSQL rejects NUL in text outright).
CleanText = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
Count = Annotated[int, BeforeValidator(parse_count), Field(gt=0)]
Tokens = Annotated[int, BeforeValidator(parse_tokens), Field(gt=0)]
HfId = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[\w.\-]+/[\w.\-]+$")]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9.\-]*$")]
PerToken = Annotated[float, Field(ge=0, lt=1)]  # USD; no model costs a dollar a token
RegionCode = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    Field(pattern=r"^[A-Z]{2}$", description="EU or an ISO 3166-1 alpha-2 country code"),
]
Capability = Literal["chat", "code", "tools", "json_mode", "vision", "embeddings"]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _reject_control_characters(value: Any, where: str = "") -> None:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError(f"{where or 'text'} contains control characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_control_characters(item, str(key))
    elif isinstance(value, list):
        for item in value:
            _reject_control_characters(item, where)


class _Strict(BaseModel):
    """Inputs: unknown fields and control characters are errors, not silently dropped data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        _reject_control_characters(data)
        return data


class ReleaseDate(BaseModel):
    day: dt.date
    precision: DatePrecision


def parse_release_date(value: Any) -> Any:
    """Seed files give '2023-12-12', '2023-06' or '2022'; keep the precision that was given."""
    if isinstance(value, ReleaseDate) or value is None:
        return value
    if isinstance(value, dt.date):
        return ReleaseDate(day=value, precision=DatePrecision.DAY)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        parts = value.strip().split("-")
        try:
            numbers = [int(p) for p in parts]
            if len(numbers) == 1:
                return ReleaseDate(day=dt.date(numbers[0], 1, 1), precision=DatePrecision.YEAR)
            if len(numbers) == 2:
                return ReleaseDate(
                    day=dt.date(numbers[0], numbers[1], 1), precision=DatePrecision.MONTH
                )
            if len(numbers) == 3:
                return ReleaseDate(
                    day=dt.date(numbers[0], numbers[1], numbers[2]), precision=DatePrecision.DAY
                )
        except ValueError:
            pass
    raise ValueError(f"'{value}' is not a date such as 2023-12-12, 2023-06 or 2023")


# --- what enters --------------------------------------------------------------------------------

LICENSE_TERMS = (
    "commercial_use",
    "user_threshold",
    "research_only",
    "hosting_condition",
    "attribution_text",
    "notice_text",
    "ship_license_copy",
    "redistribution_conditions",
    "derivative_terms",
    "outputs_to_improve_models",
    "acceptable_use_policy",
    "naming_rule",
    # Terms of the 2025-2026 licences (Llama 3.3/4, Gemma 2025, MRL, Kimi K2).
    "revenue_threshold",
    "threshold_end_user_exemption",
    "excluded_regions",
    "hosted_is_distribution",
    "notice_exempt_hosted",
    "outputs_derivative_if_imitating",
    "outputs_research_only",
    "use_latest_version",
)


def _known_terms(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(LICENSE_TERMS))
    if unknown:
        raise ValueError(f"unknown licence terms {unknown}; terms are {list(LICENSE_TERMS)}")
    return names


class LicenseIn(_Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    version: str | None = None
    released: dt.date | None = None
    spdx_id: str | None = None
    commercial_use: CommercialUse
    commercial_condition: str | None = None
    user_threshold: int | None = Field(default=None, gt=0)
    user_threshold_measure: UserThresholdMeasure = UserThresholdMeasure.NONE
    revenue_threshold_usd: int | None = Field(
        default=None, gt=0, description="Monthly revenue of one product, in USD"
    )
    threshold_consequence: ThresholdConsequence = ThresholdConsequence.SEPARATE_LICENSE
    threshold_display_text: str | None = None
    threshold_counts_affiliates: bool = False
    threshold_end_user_exemption: bool = False
    excluded_regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list
    )
    region_exclusion_multimodal_only: bool = False
    region_exclusion_end_user_exempt: bool = False
    hosted_is_distribution: bool = False
    notice_exempt_hosted: bool = False
    outputs_derivative_if_imitating: bool = False
    outputs_research_only: bool = False
    use_latest_version: bool = False
    research_only: bool
    permitted_use_note: str | None = None
    hosting_condition: str | None = None
    attribution_text: str | None = None
    notice_text: str | None = None
    ship_license_copy: bool = False
    redistribution_conditions: list[str] = Field(default_factory=list)
    derivative_terms: str | None = None
    outputs_to_improve_models: OutputsUse = OutputsUse.UNKNOWN
    outputs_condition: str | None = None
    outputs_same_family_exception: bool = False
    acceptable_use_policy: bool | None = None
    acceptable_use_policy_url: HttpUrl | None = None
    naming_rule: str | None = None
    naming_prefix: str | None = None
    source: str | None = None
    source_url: HttpUrl | None = None
    verified: bool
    unverified_terms: Annotated[list[str], AfterValidator(_known_terms)] = Field(
        default_factory=list
    )
    clauses: dict[str, str] = Field(default_factory=dict)
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LicenseIn:
        if self.verified and self.unverified_terms:
            raise ValueError("a licence with unverified_terms cannot be verified: true")
        if (self.user_threshold is None) != (self.user_threshold_measure == "none"):
            raise ValueError("user_threshold and user_threshold_measure must be given together")
        if self.user_threshold_measure == "at_release" and self.released is None:
            raise ValueError(
                "a user threshold measured at release needs the licence's released date"
            )
        if self.commercial_use == CommercialUse.CONDITIONAL and not self.commercial_condition:
            raise ValueError("conditional commercial use needs a commercial_condition")
        if self.revenue_threshold_usd is not None and self.user_threshold is None:
            raise ValueError("a revenue threshold sits beside a user threshold (either crosses)")
        if (self.threshold_consequence == ThresholdConsequence.DISPLAY) != bool(
            self.threshold_display_text
        ):
            raise ValueError("threshold_consequence: display needs threshold_display_text")
        if self.notice_exempt_hosted and not self.hosted_is_distribution:
            raise ValueError("notice_exempt_hosted only means something if hosting distributes")
        _known_terms(list(self.clauses))
        return self


class LicensePeriodIn(_Strict):
    license: Slug
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None
    verified: bool = True
    # Where a change date is uncertain, `from`/`to` bound the period at its widest and these
    # bound where it certainly applied: outside them (but inside from/to) needs review.
    certain_from: dt.date | None = None
    certain_to: dt.date | None = None
    source: str | None = None
    note: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> LicensePeriodIn:
        if self.from_ and self.to and self.to <= self.from_:
            raise ValueError(f"period ends ({self.to}) before it starts ({self.from_})")
        if (self.certain_from or self.certain_to) and self.verified:
            raise ValueError("certain_from/certain_to mark uncertain dates: use verified: false")
        start, end = self.certain_from or self.from_, self.certain_to or self.to
        if self.certain_from and self.from_ and self.certain_from < self.from_:
            raise ValueError("certain_from lies before from")
        if self.certain_to and self.to and self.certain_to > self.to:
            raise ValueError("certain_to lies after to")
        if start and end and end <= start:
            raise ValueError(f"the certain part ends ({end}) before it starts ({start})")
        return self


# A date (2025-05-14, 2025-05) or a commit (7-40 hex digits) somewhere in it: "commit 5960b7f",
# "card copy read 2026-12-06 (stored file id …)".
AS_OF_PATTERN = r"^.*(\d{4}-\d{2}|\b[0-9a-f]{7,40}\b).*$"


class ParentIn(_Strict):
    model: HfId
    relation: ParentRelation = ParentRelation.FINETUNE


class ScoreIn(_Strict):
    benchmark: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=0, le=100)  # as published, a percentage
    setting: str = Field(default="", max_length=400)
    source: str = Field(min_length=1)
    source_url: HttpUrl | None = None
    # The source's date (YYYY-MM-DD) or "commit <sha>" of the repository read.
    as_of: Annotated[str, Field(max_length=200, pattern=AS_OF_PATTERN)] | None = None
    verified: bool = True  # False: shown, never used for routing


class ScoreEntryIn(ScoreIn):
    """One entry of a scores file (catalog/seed/scores-*.yaml, `catalog scores import`): a
    score of the catalog model `model` names."""

    model: HfId

    @model_validator(mode="after")
    def _canonical_benchmark(self) -> ScoreEntryIn:
        spelling = near_miss(self.benchmark)
        if spelling is not None:
            raise ValueError(f"benchmark '{self.benchmark}' is spelt '{spelling}' in the catalog")
        return self


MODEL_FIELDS = ("parameters", "context_window", "release_date", "gated")


class ModelIn(_Strict):
    hf_id: HfId
    name: str = Field(min_length=1, max_length=200)
    family: Slug
    parameters: Count | None = None
    active_parameters: Count | None = None
    context_window: Tokens | None = None
    release_date: Annotated[ReleaseDate | None, BeforeValidator(parse_release_date)] = None
    gated: bool | None = None
    capabilities: list[Capability] = Field(default_factory=list)
    # Embedding models: the vector sizes the model returns, its own size first (smaller ones
    # only where it was trained for them, Matryoshka-style).
    embedding_dimensions: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(
        default_factory=list, max_length=32
    )
    aliases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    licenses: list[LicensePeriodIn] = Field(min_length=1)
    parents: list[ParentIn] = Field(default_factory=list)
    scores: list[ScoreIn] = Field(default_factory=list)
    unverified: list[Literal["parameters", "context_window", "release_date", "gated"]] = Field(
        default_factory=list
    )
    source: str | None = None
    notes: str | None = None


class DeploymentIn(_Strict):
    """A deployment to register. Hosted prices default to litellm's cost map."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.\-/:@]+$")] | None = (
        None
    )
    model: str = Field(min_length=1, max_length=200)
    kind: DeploymentKind
    provider: str | None = Field(default=None, max_length=64)
    served_name: str = Field(min_length=1, max_length=300)
    base_url: HttpUrl | None = None
    price: Literal["litellm"] | None = None
    input_cost_per_token: PerToken | None = None
    output_cost_per_token: PerToken | None = None
    cost_per_hour: float | None = Field(default=None, ge=0, le=100_000)
    tokens_per_second: float | None = Field(default=None, gt=0, le=1_000_000)
    region: str | None = Field(default=None, max_length=64)
    privacy: Privacy | None = None
    max_context: Tokens | None = None
    status: DeploymentStatus = DeploymentStatus.ACTIVE
    # What the server does with tools, response_format, images… (local deployments declare
    # them; hosted ones take litellm's model map, the embedded model's are known).
    capabilities: list[DeploymentCapability] | None = None

    @model_validator(mode="after")
    def _kind_fits(self) -> DeploymentIn:
        if self.kind == DeploymentKind.LOCAL and self.base_url is None:
            raise ValueError("a local deployment needs base_url (its OpenAI-compatible /v1 URL)")
        if self.kind != DeploymentKind.LOCAL and self.base_url is not None:
            raise ValueError(f"base_url is only for local deployments, not {self.kind.value}")
        if (self.cost_per_hour is None) != (self.tokens_per_second is None):
            raise ValueError("cost_per_hour and tokens_per_second must be given together")
        if self.cost_per_hour is not None and self.kind == DeploymentKind.HOSTED:
            raise ValueError("hosted deployments are priced per token, not per hour")
        explicit = (self.input_cost_per_token, self.output_cost_per_token)
        if (explicit[0] is None) != (explicit[1] is None):
            raise ValueError("give both input_cost_per_token and output_cost_per_token, or neither")
        if self.price == "litellm" and explicit[0] is not None:
            raise ValueError("price: litellm and explicit per-token prices exclude each other")
        if self.capabilities is not None and self.kind != DeploymentKind.LOCAL:
            raise ValueError(
                "capabilities are declared for local deployments only; hosted ones come from "
                "litellm's model map and the embedded model's are known"
            )
        return self


class DeploymentPatch(_Strict):
    served_name: str | None = Field(default=None, min_length=1, max_length=300)
    base_url: HttpUrl | None = None
    input_cost_per_token: PerToken | None = None
    output_cost_per_token: PerToken | None = None
    cost_per_hour: float | None = Field(default=None, ge=0, le=100_000)
    tokens_per_second: float | None = Field(default=None, gt=0, le=1_000_000)
    region: str | None = Field(default=None, max_length=64)
    privacy: Privacy | None = None
    max_context: Tokens | None = None
    status: DeploymentStatus | None = None
    capabilities: list[DeploymentCapability] | None = None


# --- what leaves --------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LicenseOut(_Out):
    id: str
    name: str
    version: str | None
    released: dt.date | None
    spdx_id: str | None
    commercial_use: CommercialUse
    commercial_condition: str | None
    user_threshold: int | None
    user_threshold_measure: UserThresholdMeasure
    revenue_threshold_usd: int | None
    threshold_consequence: ThresholdConsequence
    threshold_display_text: str | None
    threshold_counts_affiliates: bool
    threshold_end_user_exemption: bool
    excluded_regions: list[str]
    region_exclusion_multimodal_only: bool
    region_exclusion_end_user_exempt: bool
    hosted_is_distribution: bool
    notice_exempt_hosted: bool
    outputs_derivative_if_imitating: bool
    outputs_research_only: bool
    use_latest_version: bool
    research_only: bool
    permitted_use_note: str | None
    hosting_condition: str | None
    attribution_text: str | None
    notice_text: str | None
    ship_license_copy: bool
    redistribution_conditions: list[str]
    derivative_terms: str | None
    outputs_to_improve_models: OutputsUse
    outputs_condition: str | None
    outputs_same_family_exception: bool
    acceptable_use_policy: bool | None
    acceptable_use_policy_url: str | None
    naming_rule: str | None
    naming_prefix: str | None
    source: str | None
    source_url: str | None
    verified: bool
    unverified_terms: list[str]
    clauses: dict[str, str]
    notes: str | None


class LicensePeriodOut(BaseModel):
    license_id: str
    license_name: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    verified: bool
    certain_from: dt.date | None = None
    certain_to: dt.date | None = None
    in_force_today: bool
    source: str | None
    note: str | None


class ScoreOut(_Out):
    benchmark: str
    score: float
    setting: str
    source: str
    source_url: str | None
    as_of: str | None = None
    verified: bool = True
    origin: str = "seed"


class RelativeOut(BaseModel):
    id: str
    name: str
    relation: ParentRelation


class DeploymentOut(BaseModel):
    id: int
    name: str
    model: str
    kind: DeploymentKind
    provider: str
    served_name: str
    base_url: str | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    price_source: PriceSource
    cost_per_hour: float | None
    tokens_per_second: float | None
    usd_per_million_tokens: float | None = Field(
        description="Blended price: the mean of input and output prices per million tokens."
    )
    region: str | None
    privacy: Privacy
    max_context: int | None
    status: DeploymentStatus
    capabilities: list[str] = Field(
        default_factory=list, description="What the deployment does with a chat request."
    )


class ModelSummary(BaseModel):
    id: str
    name: str
    family: str
    parameters: int | None
    active_parameters: int | None
    context_window: int | None
    release_date: dt.date | None
    release_date_precision: DatePrecision
    gated: bool | None
    capabilities: list[str]
    embedding_dimensions: list[int] = Field(
        default_factory=list, description="Embedding models: vector sizes, the model's own first"
    )
    aliases: list[str]
    licenses_in_force: list[str]
    commercial_use: Verdict = Field(
        description="The licence engine's verdict for plain commercial use today, across the "
        "model's licences and its ancestors'"
    )
    license_conflict: bool = Field(
        description="The model declares a licence more permissive than an ancestor's"
    )
    compliance: Verdict | None = Field(
        default=None, description="Verdict for the usage profile in the query, when one is given"
    )
    has_local: bool
    has_hosted: bool
    cheapest_usd_per_million_tokens: float | None
    unverified_fields: list[str]


class ModelDetail(ModelSummary):
    license_history: list[LicensePeriodOut]
    parents: list[RelativeOut]
    children: list[RelativeOut]
    scores: list[ScoreOut]
    deployments: list[DeploymentOut]
    source: str | None
    notes: str | None


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    page: int
    per_page: int


SortKey = Literal["name", "params", "context", "release", "price", "score"]


# --- licence compliance -------------------------------------------------------------------------


class UsageProfile(_Strict):
    """What the caller will do with a model. Hashable, so answers can be cached by it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    commercial: bool = False
    monthly_active_users: int | None = Field(
        default=None, ge=0, le=100_000_000_000, description="Users of your product now"
    )
    monthly_active_users_at_release: int | None = Field(
        default=None,
        ge=0,
        le=100_000_000_000,
        description="Users in the calendar month before the licence's release "
        "(Llama and DBRX measure the threshold then)",
    )
    date: dt.date | None = Field(default=None, description="Date of use; default: today")
    hosted_service: bool = Field(
        default=False, description="Serve the model to others as a service"
    )
    fine_tune: bool = False
    redistribute_weights: bool = False
    train_on_outputs: bool = Field(
        default=False, description="Use outputs to train or improve another model"
    )
    outputs_target_same_family: bool = Field(
        default=False, description="That other model is a derivative of the same family"
    )
    derivative_name: CleanText | None = Field(default=None, max_length=200)
    monthly_revenue_usd: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000_000_000,
        description="Monthly revenue of the product that uses the model, in USD (Kimi K2)",
    )
    affiliates_monthly_active_users_at_release: int | None = Field(
        default=None,
        ge=0,
        le=100_000_000_000,
        description="Your affiliates' users in that same month (Llama 3.3 and 4 add them)",
    )
    licensee_region: RegionCode | None = Field(
        default=None,
        description="Where you (the licensee) are: 'EU' or an ISO 3166 country code such as DE "
        "(a company's principal place of business, a person's domicile)",
    )
    end_user_of_product: bool = Field(
        default=False,
        description="You only use the model inside another company's product or service that "
        "incorporates it",
    )
    imitate_source_model: bool = Field(
        default=False,
        description="The model trained on outputs is meant to perform like the source model "
        "(distillation)",
    )

    @model_validator(mode="after")
    def _coherent(self) -> UsageProfile:
        if self.outputs_target_same_family and not self.train_on_outputs:
            raise ValueError("outputs_target_same_family only applies with train_on_outputs")
        if self.imitate_source_model and not self.train_on_outputs:
            raise ValueError("imitate_source_model only applies with train_on_outputs")
        if self.derivative_name and not (self.fine_tune or self.train_on_outputs):
            raise ValueError("derivative_name needs fine_tune or train_on_outputs")
        return self


PROFILE_FIELDS = tuple(UsageProfile.model_fields)


class HubImportIn(_Strict):
    repos: list[HfId] = Field(min_length=1, max_length=100, description="Hub repo ids")
    depth: int = Field(default=3, ge=0, le=10, description="Generations of base models")


class ComplianceCheckIn(_Strict):
    use: UsageProfile = Field(default_factory=UsageProfile)
    models: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=1000, description="Model ids or aliases; default: every model"
    )


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    term: str = Field(description="The licence term that decided this, e.g. commercial_use")
    verdict: Verdict
    message: str
    license: str
    clause: str | None = None
    imposed_by: str | None = Field(default=None, description="The model in the lineage")


class Obligation(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="attribution, notice_file, license_copy, naming_rule, …")
    text: str
    license: str
    clause: str | None = None
    imposed_by: str | None = None


class LicenseInForce(BaseModel):
    license: str
    name: str
    imposed_by: str
    verified: bool


class LicenseConflict(BaseModel):
    kind: Literal["permissiveness", "naming"] = Field(
        default="permissiveness",
        description="permissiveness: the model declares a looser licence than an ancestor's; "
        "naming: its name breaks an ancestor licence's naming rule",
    )
    declared_license: str
    ancestor: str
    ancestor_license: str
    message: str


class ModelCompliance(BaseModel):
    model: str
    name: str
    date: dt.date
    verdict: Verdict
    licenses: list[LicenseInForce]
    obligations: list[Obligation]
    reasons: list[Reason]
    conflicts: list[LicenseConflict]

    @functools.cached_property
    def license_ids(self) -> tuple[str, ...]:
        """The licences in force, sorted and once each: what a routed answer names."""
        return tuple(sorted({lic.license for lic in self.licenses}))


class ComplianceReport(BaseModel):
    use: UsageProfile
    date: dt.date
    summary: dict[Verdict, int]
    results: list[ModelCompliance]


class ModelFilters(UsageProfile):
    """Query of GET /api/models and `modelyard catalog list`. The usage-profile fields it
    inherits, when any is given, keep only models the licence engine allows for that use."""

    q: CleanText | None = Field(
        default=None, max_length=200, description="Text in id, name or alias"
    )
    family: CleanText | None = Field(default=None, max_length=64)
    license: CleanText | None = Field(
        default=None, max_length=64, description="Licence in force today"
    )
    min_params: Annotated[int, BeforeValidator(parse_count), Field(ge=0)] | None = None
    max_params: Annotated[int, BeforeValidator(parse_count), Field(ge=0)] | None = None
    min_context: Annotated[int, BeforeValidator(parse_tokens), Field(ge=0)] | None = None
    has_local: bool | None = None
    has_hosted: bool | None = None
    max_price: float | None = Field(
        default=None, ge=0, description="Cheapest blended price, USD per million tokens"
    )
    benchmark: CleanText | None = Field(default=None, max_length=64)
    min_score: float | None = Field(default=None, ge=0, le=100)
    sort: str = Field(
        default="name", max_length=16, pattern=r"^-?(name|params|context|release|price|score)$"
    )
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _coherent_filters(self) -> ModelFilters:
        if self.min_score is not None and not self.benchmark:
            raise ValueError("min_score needs a benchmark")
        if self.sort.lstrip("-") == "score" and not self.benchmark:
            raise ValueError("sorting by score needs a benchmark")
        if self.min_params and self.max_params and self.min_params > self.max_params:
            raise ValueError("min_params is above max_params")
        return self

    def usage_profile(self) -> UsageProfile | None:
        given = self.model_fields_set & set(PROFILE_FIELDS)
        return UsageProfile.model_validate(self.model_dump(include=given)) if given else None
