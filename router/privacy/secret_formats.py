"""Credentials: key formats of AI providers, clouds and developer platforms, JWTs,
private-key blocks and passwords inside connection strings.

The patterns are detect-secrets' own plugin patterns wherever it has one (every regex-based
plugin it ships: AWS, Azure, Artifactory, Cloudant, Discord, GitHub, GitLab, IBM Cloud, JWT,
Mailchimp, npm, OpenAI, private keys, PyPI, SendGrid, Slack, SoftLayer, Square, Stripe,
Telegram, Twilio); the formats it lacks (Anthropic, Google, Hugging Face, OpenAI's newer
project keys, cloud and registry tokens with a documented prefix, key=value passwords) are
added here, and secrets assigned to a key that says so are in assignments.py. Each pattern
runs only around its literal markers; detect.py finds the markers of all detectors in one
Aho-Corasick pass, so a text without any costs that one pass.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from router.privacy import assignments


@dataclass(frozen=True)
class KeyFormat:
    label: str
    markers: tuple[str, ...]  # literal text every match contains; the pattern runs only then
    patterns: tuple[re.Pattern[str], ...]
    # How far a match may start before a marker and end after it: the patterns run only in
    # that window around each marker, never over the whole text.
    reach: tuple[int, int] = (48, 512)


def _plugin(detector: type) -> tuple[re.Pattern[str], ...]:
    return tuple(detector.denylist)  # type: ignore[attr-defined]


# A private key's whole block, so redaction hides the body and not only the marker line.
_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)", re.S
)


def _cases(
    label: str, words: tuple[str, ...], patterns: tuple[re.Pattern[str], ...], reach: int
) -> KeyFormat:
    markers = tuple({s for w in words for s in (w, w.upper(), w.capitalize())})
    return KeyFormat(label, markers, patterns, (reach, 512))


# detect-secrets plugins whose patterns carry no literal of their own: they run near the
# service's name (or the literal their pattern holds), each within `reach` before it.
_NAMED: tuple[tuple[str, tuple[str, ...], type, int], ...] = (
    ("npm_token", ("_authToken",), NpmDetector, 200),
    ("artifactory_token", ("artifactory", "jfrog", "AKC"), ArtifactoryDetector, 48),
    ("discord_token", ("discord",), DiscordBotTokenDetector, 48),
    ("telegram_token", ("telegram",), TelegramBotTokenDetector, 48),
    ("twilio_key", ("twilio",), TwilioKeyDetector, 48),
    ("mailchimp_key", ("-us",), MailchimpDetector, 40),
    ("ibm_cloud_key", ("ibm", "cloud_iam", "cloud-iam"), IbmCloudIamDetector, 48),
    ("ibm_cos_hmac", ("cos_hmac", "cos-hmac", "ibm"), IbmCosHmacDetector, 48),
    ("softlayer_key", ("softlayer", "sl_api", "sl-api"), SoftlayerDetector, 48),
    ("cloudant_key", ("cloudant",), CloudantDetector, 48),
)
# Cloud and registry tokens with a documented prefix that detect-secrets has no plugin for.
_PREFIXED: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("digitalocean_token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"do[opr]_v1_[a-f0-9]{64}"),
    ("vault_token", ("hvs.", "hvb.", "hvr."), r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("google_oauth_token", ("ya29.",), r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("google_client_secret", ("GOCSPX-",), r"GOCSPX-[A-Za-z0-9_-]{28}"),
    ("npm_token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("rubygems_key", ("rubygems_",), r"\brubygems_[a-f0-9]{48}\b"),
    ("docker_hub_token", ("dckr_pat_",), r"dckr_pat_[A-Za-z0-9_-]{27,}"),
    (
        "shopify_token",
        ("shpat_", "shpss_", "shpca_", "shppa_"),
        r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
    ),
    ("databricks_token", ("dapi",), r"\bdapi[a-f0-9]{32}\b"),
    ("grafana_token", ("glsa_",), r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("pulumi_token", ("pul-",), r"\bpul-[a-f0-9]{40}\b"),
    ("sentry_token", ("sntrys_",), r"sntrys_[A-Za-z0-9+/=_-]{40,}"),
    ("linear_key", ("lin_api_",), r"lin_api_[A-Za-z0-9]{40}"),
    ("postman_key", ("PMAK-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("newrelic_key", ("NRAK-",), r"NRAK-[A-Z0-9]{27}"),
    ("atlassian_token", ("ATATT3",), r"ATATT3[A-Za-z0-9_\-=]{100,}"),
    ("alibaba_key", ("LTAI",), r"\bLTAI[A-Za-z0-9]{12,20}\b"),
    ("azure_sas_signature", ("sig=",), r"[?&]sig=(?P<secret>[A-Za-z0-9%+/=]{20,})"),
    ("azure_shared_access_key", ("SharedAccessKey=",), r"SharedAccessKey=[A-Za-z0-9+/=]{40,}"),
    ("xai_key", ("xai-",), r"\bxai-[A-Za-z0-9]{60,}"),
    ("groq_key", ("gsk_",), r"\bgsk_[A-Za-z0-9]{48,}"),
    ("replicate_token", ("r8_",), r"\br8_[A-Za-z0-9]{37}\b"),
    ("perplexity_key", ("pplx-",), r"\bpplx-[A-Za-z0-9]{48}\b"),
)

FORMATS: tuple[KeyFormat, ...] = (
    KeyFormat(
        "private_key",
        ("PRIVATE KEY", "PuTTY-User-Key-File-2"),
        (_KEY_BLOCK, *_plugin(PrivateKeyDetector)),
        reach=(64, 1 << 20),  # a key block runs to its END line, kilobytes later
    ),
    KeyFormat("aws_access_key", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"), _plugin(AWSKeyDetector)),
    KeyFormat("openai_key", ("T3BlbkFJ",), _plugin(OpenAIDetector)),
    KeyFormat(
        "openai_key",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        (re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}"),),
    ),
    KeyFormat(
        "anthropic_key", ("sk-ant-",), (re.compile(r"sk-ant-[a-z]+\d{2}-[A-Za-z0-9_\-]{80,}"),)
    ),
    KeyFormat("google_api_key", ("AIza",), (re.compile(r"AIza[0-9A-Za-z_\-]{35}"),)),
    KeyFormat("huggingface_token", ("hf_",), (re.compile(r"\bhf_[A-Za-z0-9]{34,40}\b"),)),
    KeyFormat(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        (*_plugin(GitHubTokenDetector), re.compile(r"github_pat_[A-Za-z0-9_]{70,}")),
    ),
    KeyFormat(
        "gitlab_token",
        ("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "GR1348941"),
        _plugin(GitLabTokenDetector),
    ),
    KeyFormat("slack_token", ("xox", "hooks.slack.com"), _plugin(SlackDetector)),
    KeyFormat("stripe_key", ("_live_",), _plugin(StripeDetector)),
    KeyFormat("sendgrid_key", ("SG.",), _plugin(SendGridDetector)),
    KeyFormat("pypi_token", ("pypi-",), _plugin(PypiTokenDetector)),
    KeyFormat("square_token", ("sq0csp-",), _plugin(SquareOAuthDetector)),
    KeyFormat("azure_storage_key", ("AccountKey=",), _plugin(AzureStorageKeyDetector)),
    KeyFormat("jwt", ("eyJ",), _plugin(JwtTokenDetector)),
    # detect-secrets' pattern leaves out passwords with reserved characters (`!`, `$`, …),
    # which URLs carry unescaped in practice; the second pattern takes them too.
    KeyFormat(
        "connection_string_password",
        ("://",),
        # An empty user name is common too: redis://:password@host.
        (*_plugin(BasicAuthDetector), re.compile(r"://[^\s:/@]{0,64}:([^\s@/]{1,128})@")),
        reach=(2, 320),  # every match starts at the "://"
    ),
    *(_cases(label, words, _plugin(plugin), reach) for label, words, plugin, reach in _NAMED),
    # These start at their prefix (or a character before it): a short window suffices.
    *(KeyFormat(label, markers, (re.compile(p),), (8, 320)) for label, markers, p in _PREFIXED),
    KeyFormat(
        "bearer_token",
        ("Bearer ", "bearer ", "BEARER "),
        (re.compile(r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{20,}=*)"),),
        (2, 600),
    ),
    # HTTP Basic credentials: base64 of "user:password" after an Authorization header.
    KeyFormat(
        "basic_auth_header",
        ("Basic ", "basic ", "BASIC "),
        (
            re.compile(
                r"(?i)\bauthorization\s*[:=]\s*[\"']?basic\s+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})"
            ),
        ),
        (48, 320),
    ),
    KeyFormat("assigned_secret", tuple(sorted(assignments.MARKERS)), (), reach=(80, 480)),
    KeyFormat(
        "password",
        (
            "assword",
            "ASSWORD",
            "passwd",
            "pwd",
            "PWD",
            "Passwort",
            "passwort",
            "mot de passe",
            "contraseña",
            "密码",
        ),
        (
            re.compile(
                r"(?i)(?:password|passwd|pwd|passwort|mot de passe|contraseña|密码)"
                r"[\"']?\s*(?:[:=]|:=|=>|\bis\b|ist|est|es|是|\uff1a)\s*[\"']?"
                r"(?P<secret>[^\s\"',;<>{}]{6,})"
            ),
        ),
        reach=(16, 240),  # the key word starts at most a letter before its marker
    ),
)

# Values that stand for a password in documentation and templates: not a secret.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<[^>]*>|\$\{?\w+\}?|\{\{.*\}\}|%\(?\w+\)?s?|changeme|password\d*|"
    r"secret|your[_-]?\w*|example\w*|placeholder|redacted|\[redacted\]|null|none|true|false|"
    r"required|optional|env|os\.environ.*|getenv.*)$"
)


# A value that is code calling a function (`password = getpass.getpass("Password: ")`).
_CALL = re.compile(r"[A-Za-z_][\w.]*\(")


def _user_and_password(encoded: str) -> bool:
    """Whether base64 `encoded` holds "user:password", as Basic credentials do."""
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in text and text.isprintable()


MARKERS = frozenset(marker for key_format in FORMATS for marker in key_format.markers)


def _windows(positions: list[int], reach: tuple[int, int], size: int) -> list[tuple[int, int]]:
    """Windows around the marker positions, merged where they overlap."""
    merged: list[tuple[int, int]] = []
    for position in sorted(positions):
        start, end = max(0, position - reach[0]), min(size, position + reach[1])
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def find_credentials(text: str, present: Mapping[str, list[int]]) -> Iterator[tuple[str, int, int]]:
    """(label, start, end) of every credential in `text`; `present` maps the MARKERS found
    in it to where they start."""
    for key_format in FORMATS:
        positions = [p for marker in key_format.markers for p in present.get(marker, ())]
        if not positions:
            continue
        if key_format.label == "assigned_secret":
            for start, end in assignments.find_assignments(text, positions):
                yield key_format.label, start, end
            continue
        seen: set[tuple[int, int]] = set()
        for window_start, window_end in _windows(positions, key_format.reach, len(text)):
            for label, start, end in _matches(key_format, text, window_start, window_end):
                if (start, end) not in seen:
                    seen.add((start, end))
                    yield label, start, end


def _matches(
    key_format: KeyFormat, text: str, window_start: int, window_end: int
) -> Iterator[tuple[str, int, int]]:
    for pattern in key_format.patterns:
        for match in pattern.finditer(text, window_start, window_end):
            start, end = match.span()
            if key_format.label == "jwt" and not JwtTokenDetector.is_formally_valid(match.group()):
                continue
            if key_format.label == "connection_string_password":
                start, end = match.span(1)  # the password, not the scheme or the user
                if _PLACEHOLDER.match(match.group(1)):
                    continue
            if "secret" in pattern.groupindex:
                start, end = match.span("secret")
                secret = match.group("secret")
                if _PLACEHOLDER.match(secret) or secret.startswith("$") or _CALL.match(secret):
                    continue
                if key_format.label == "basic_auth_header" and not _user_and_password(secret):
                    continue
            elif key_format.label in ("npm_token", "ibm_cloud_key", "ibm_cos_hmac") or (
                key_format.label in ("softlayer_key", "cloudant_key") and match.groups()
            ):
                group = next((i for i, g in enumerate(match.groups(), 1) if g), 0)
                start, end = match.span(group)
            if match.group().endswith("EXAMPLE"):
                continue  # AWS documents its formats with keys ending in EXAMPLE
            yield key_format.label, start, end
