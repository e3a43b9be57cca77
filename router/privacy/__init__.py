"""Personal data and secrets in what a request carries.

`scan(texts)` is the one entry point: every API surface (chat, Responses, Messages,
embeddings) passes the texts its request carries, in a stable order, and gets `Findings`
back: each finding's kind, the detector that fired, which text and where. Pure and
in memory; on a 500-character prompt with nothing in it, a few microseconds.
"""

from router.privacy.detect import scan
from router.privacy.findings import KINDS, NOTHING, Finding, Findings

__all__ = ["KINDS", "NOTHING", "Finding", "Findings", "scan"]
