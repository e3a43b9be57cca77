"""Credentials written as a setting: a key whose name says secret (`…_TOKEN`, `api_key`,
`_authToken`, `aws_secret_access_key`, `ClearTextPassword`, `"auth"`) given a value, in the
forms config files use: `KEY=value`, `key: value`, `"key": "value"`, `key = "value"`,
`<add key="…" value="…"/>` and `<password>…</password>`.

This is what package-manager configs (.npmrc, .yarnrc.yml, .pypirc, pip.conf, Cargo, NuGet,
Maven, RubyGems, Docker's config.json) and cloud credential files hold, whatever the token's
own format. Like detect-secrets' keyword plugin, the key's name decides; unlike it, a value
must also look like a secret: long enough, letters and digits mixed, not a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The words a secret's key name ends with, and the markers that start a search: each
# spelling as keys are written.
_KEY_WORDS = (
    "token",
    "secret",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "secretkey",
    "secret_key",
    "auth",
    "password",
    "passwd",
    "pwd",
    "credential",
)
MARKERS = frozenset(
    spelling
    for word in ("token", "secret", "api_key", "apikey", "api-key", "_auth", '"auth"', "'auth'")
    for spelling in (word, word.upper(), word.capitalize(), word[:-3] + word[-3:].capitalize())
) | {"Token", "Secret", "ApiKey", "apiKey", "AuthToken", "assword", "ASSWORD", "passwd", "pwd"}

_KEY = (
    r"[A-Za-z_@./-]?[\w.-]*?"
    r"(?i:token|secret|api[_-]?key|access[_-]?key|secret[_-]?key|auth|password|passwd|pwd|"
    r"credentials?)s?"
)
_ASSIGNMENT = re.compile(
    rf"""(?P<key>{_KEY})["']?\s*(?::=|=>|=|:)\s*["']?(?P<value>[^\s"'`,;<>{{}}()\[\]]{{6,400}})"""
)
_XML_ADD = re.compile(
    r"""key\s*=\s*["'](?P<key>[^"']{1,80})["']\s+value\s*=\s*["'](?P<value>[^"'\s]{6,400})["']"""
)
_XML_ELEMENT = re.compile(rf"<(?P<key>{_KEY})>(?P<value>[^<\s]{{6,400}})</")

_PASSWORD_KEYS = re.compile(r"(?i)(?:password|passwd|pwd)s?$")
_SECRET_KEYS = re.compile(
    r"(?i)(?:token|secret|api[_-]?key|access[_-]?key|secret[_-]?key|auth|password|passwd|pwd|"
    r"credentials?)s?$"
)
# Values that stand for a secret in documentation and templates.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<[^>]*>|\$\{?\w+\}?|\$\(.*|\{\{.*\}\}|%\(?\w+\)?s?|%\w+%|changeme|"
    r"change_?me|password\d*|secret|your[_-]?\w*|example\w*|placeholder|redacted|\[redacted\]|"
    r"null|none|nil|true|false|required|optional|env|os\.environ.*|getenv.*|process\.env.*|"
    r"dummy\w*|test\w*|fake\w*|sample\w*|todo|tbd|xxx\w*)$"
)


def _looks_secret(key: str, value: str) -> bool:
    if _PLACEHOLDER.match(value) or "EXAMPLE" in value or value.startswith(("http", "/")):
        return False
    if _PASSWORD_KEYS.search(key):
        return len(value) >= 6
    if len(value) < 16:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_letter = any(c.isalpha() for c in value)
    return has_digit and has_letter


def find_assignments(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each secret value assigned in text[start:end]."""
    for pattern in (_ASSIGNMENT, _XML_ADD, _XML_ELEMENT):
        for match in pattern.finditer(text, start, end):
            key, value = match.group("key"), match.group("value").rstrip(".")
            if pattern is not _ASSIGNMENT and not _SECRET_KEYS.search(key):
                continue
            if _looks_secret(key, value):
                yield match.start("value"), match.start("value") + len(value)
