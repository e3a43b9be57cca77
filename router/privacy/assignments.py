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

# Markers: the words a secret's key name holds, as keys spell them. The key is read out
# around each marker, so the patterns run once per marker, never over a window.
MARKERS = frozenset(
    {
        *(
            spelling
            for word in ("token", "secret", "api_key", "apikey", "api-key", "passwd", "pwd")
            for spelling in (word, word.upper(), word.capitalize())
        ),
        *("apiKey", "ApiKey", "_auth", '"auth"', "'auth'", "auth:", "auth=", "assword", "ASSWORD"),
    }
)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")
# The key must end with one of these words (`AZURE_CLIENT_SECRET`, `npmAuthToken`,
# `aws_secret_access_key`, `ClearTextPassword`); `secretKeyRef`, `token_count` do not.
_SECRET_KEYS = re.compile(
    r"(?i)(?:token|secret|api[_-]?key|access[_-]?key|secret[_-]?key|auth|password|passwd|pwd|"
    r"credentials?)s?$"
)
_PASSWORD_KEYS = re.compile(r"(?i)(?:password|passwd|pwd)s?$")
_ASSIGNED = re.compile(
    r"""["']?[ \t]*(?::=|=>|=|:)[ \t]*["']?(?P<value>[^\s"'`,;<>{}()\[\]]{6,400})"""
)
_XML_ELEMENT = re.compile(r">(?P<value>[^<\s]{6,400})</")
_XML_ADD = re.compile(r"""["']\s+value\s*=\s*["'](?P<value>[^"'\s]{6,400})["']""")
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
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def find_assignments(text: str, positions: list[int]) -> Iterator[tuple[int, int]]:
    """(start, end) of each secret value assigned to a key holding a marker at `positions`."""
    seen: set[int] = set()
    for position in sorted(positions):
        if text[position] in "\"'":
            position += 1
        start = position
        while start > 0 and text[start - 1] in _KEY_CHARS and position - start < 80:
            start -= 1
        end = position
        while end < len(text) and text[end] in _KEY_CHARS and end - position < 80:
            end += 1
        if end in seen:
            continue
        seen.add(end)
        key = text[start:end].rstrip(".")
        if not _SECRET_KEYS.search(key):
            continue
        before = text[start - 1 : start]
        if before == "<":
            match = _XML_ELEMENT.match(text, end)  # <password>…</password>
        elif before in "\"'" and text[max(0, start - 8) : start - 1].rstrip().endswith("key="):
            match = _XML_ADD.match(text, end)  # <add key="ClearTextPassword" value="…"/>
        else:
            match = _ASSIGNED.match(text, end)
        if match is None:
            continue
        value = match.group("value").rstrip(".")
        if text[match.end("value") : match.end("value") + 1] == "(":
            continue  # code calling a function: `password = getpass.getpass("Password: ")`
        if _looks_secret(key, value):
            yield match.start("value"), match.start("value") + len(value)
