"""Who calls, and what they spent: API keys with their policies, teams and their budgets, the
admin audit log, the usage ledger (in process or shared through Redis), spend summaries, and
each key's pinned embedding model. Their HTTP handlers (admin_http.py: /api/keys, /api/teams,
/api/audit; usage_http.py: /api/usage) and commands (admin_cli.py: `modelyard keys`, `teams`,
`audit`) live here too; `web` mounts them.

May import: router.core and router.state (and `catalog`, `adapters`)."""

from router.accounts.embedding_pins import EmbeddingPins
from router.accounts.keys import KeyCache, KeyView
from router.accounts.ledger import Ledger, UsageEntry
from router.accounts.orm import ApiKey, AuditEntry, EmbeddingPin, Team, UsageRecord
from router.accounts.policy import KeyPolicy, TeamBudget
from router.accounts.shared_ledger import SharedLedger
from router.accounts.usage import summarise_usage

__all__ = [
    "ApiKey",
    "AuditEntry",
    "EmbeddingPin",
    "EmbeddingPins",
    "KeyCache",
    "KeyPolicy",
    "KeyView",
    "Ledger",
    "SharedLedger",
    "Team",
    "TeamBudget",
    "UsageEntry",
    "UsageRecord",
    "summarise_usage",
]
