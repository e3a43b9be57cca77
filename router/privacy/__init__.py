"""Personal data and secrets in what a request carries.

`scan(texts)` is the one entry point: every API surface (chat, Responses, Messages,
embeddings) passes the texts its request carries, in a stable order, and gets `Findings`
back: each finding's kind, the detector that fired, which text and where. Pure and
in memory; on a 500-character prompt with nothing in it, a few microseconds.

`check.check` applies a request's privacy rule (any, local_only, auto, redact) to what the scan
found; `redact` turns findings into placeholders and puts the originals back into answers.
Which request goes where is not decided here: the decision (router/routing/) reads a
`PrivacyCheck`, the chat path (router/pipeline/chat_privacy.py) applies redaction.

May import: `catalog` and `adapters` only; nothing else of the router, so the detector can be
used and tested on its own.
"""

from router.privacy.check import SCANNING_RULES, PrivacyCheck
from router.privacy.detect import scan
from router.privacy.findings import KINDS, NOTHING, Finding, Findings
from router.privacy.redact import Redaction, StreamRestorer

__all__ = [
    "KINDS",
    "NOTHING",
    "SCANNING_RULES",
    "Finding",
    "Findings",
    "PrivacyCheck",
    "Redaction",
    "StreamRestorer",
    "scan",
]
